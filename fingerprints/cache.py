"""A per-user cache of the validated catalog, so that each scan does not parse 250 TOML files.

Parsing and validating the catalog costs most of a short scan's start-up (about 0.2 s on an idle
machine, more under load); loading the cached result costs about 10 ms. The cache key covers
every catalog file's name, size and modification time, the code that validates them and the
interpreter, so any change to the catalog or to tiebreak rebuilds it.

The cache is a pickle, so it is only read from a directory and a file that belong to the current
user and that nobody else can write: `$TIEBREAK_CACHE_DIR`, else `$XDG_CACHE_HOME/tiebreak`, else
`~/.cache/tiebreak`. `TIEBREAK_NO_CACHE=1` turns it off. Any problem with the cache (unwritable
directory, corrupted file) falls back to loading the files: the cache can make a scan faster,
never make it fail.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pydantic

from fingerprints import catalog as catalog_module
from fingerprints import schema as schema_module
from fingerprints.catalog import Catalog
from inventory import channels as channels_module


def cache_dir() -> Path:
    """Where the current user's cache lives."""
    explicit = os.environ.get("TIEBREAK_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tiebreak"


def catalog_key(directory: Path) -> str:
    """Digest of everything the loaded catalog depends on."""
    digest = hashlib.sha256()
    digest.update(f"{sys.version}|{pydantic.VERSION}".encode())
    code = [Path(catalog_module.__file__), Path(schema_module.__file__)]
    # The catalog check uses the country → laws table of jurisdiction.py (redundant exposures)
    # and the contract's table of the attributes each channel carries (matcher conditions).
    code.append(code[0].with_name("jurisdiction.py"))
    code.append(Path(channels_module.__file__))
    for path in [*code, *sorted(directory.glob("*.toml"))]:
        info = path.stat()
        digest.update(f"{path.name}|{info.st_size}|{info.st_mtime_ns}\n".encode())
    digest.update(str(directory.resolve()).encode())
    return digest.hexdigest()[:32]


def _private(path: Path) -> bool:
    """True when `path` belongs to the current user and nobody else may write it."""
    info = path.lstat()
    return (
        info.st_uid == os.getuid()
        and not stat.S_ISLNK(info.st_mode)
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def cached_catalog(directory: Path, load: Callable[[Path], Catalog]) -> Catalog:
    """The catalog of `directory`, from the cache when it is fresh, else loaded and cached."""
    if os.environ.get("TIEBREAK_NO_CACHE"):
        return load(directory)
    folder = cache_dir()
    path = folder / f"catalog-{catalog_key(directory)}.pickle"
    try:
        if _private(folder) and _private(path):
            with path.open("rb") as handle:
                cached = pickle.load(handle)  # noqa: S301 - our own file, checked private above
            if isinstance(cached, Catalog):
                return cached
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
        pass
    catalog = load(directory)
    _store(folder, path, catalog)
    return catalog


def _store(folder: Path, path: Path, catalog: Catalog) -> None:
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(folder):
            return
        for stale in folder.glob("catalog-*.pickle"):
            stale.unlink(missing_ok=True)
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".catalog-", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(catalog, handle, protocol=pickle.HIGHEST_PROTOCOL)
        Path(temporary).replace(path)
    except OSError:
        return
