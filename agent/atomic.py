"""Write files atomically: a temporary file beside the target, synced, then renamed over it.

A reader (or a crash) never sees half a file, and a previous version stays whole until the new
one is complete. `write_atomically_at` also syncs the directory, so that the new name itself
survives a power cut, and never follows a symbolic link.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Sequence
from pathlib import Path


def write_atomically(path: Path, data: bytes | Sequence[bytes], mode: int = 0o644) -> None:
    """Replace `path` with `data` (bytes, or chunks written one after the other, never joined
    in memory) in one step; `mode` is the new file's permissions."""
    directory = path.parent if str(path.parent) else Path()
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in [data] if isinstance(data, bytes) else data:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temporary).chmod(mode)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_atomically_at(directory: int, name: str, data: bytes, mode: int = 0o600) -> None:
    """Replace `name` in the directory open as the descriptor `directory`, durably.

    Temporary file created exclusively (never through a link), written and synced, renamed over
    `name`, then the directory synced: after a crash, `name` is the old or the new file, whole.
    """
    temporary = f".{name}.{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(temporary, flags, 0o600, dir_fd=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=directory)
        raise
    os.fsync(directory)
