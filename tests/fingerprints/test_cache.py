"""The per-user catalog cache: fresh hits, invalidation on change, refusal of foreign files."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from fingerprints.cache import cached_catalog, catalog_key
from fingerprints.catalog import CATALOG_DIR, Catalog, load_catalog


@pytest.fixture
def catalog_copy(tmp_path: Path) -> Path:
    directory = tmp_path / "catalog"
    directory.mkdir()
    source = (CATALOG_DIR / "the-document-foundation.toml").read_text(encoding="utf-8")
    # The copy stands alone: drop its reference to a product of another vendor file.
    standalone = source.replace('alternatives = ["onlyoffice-desktop-editors"]\n', "")
    assert standalone != source
    (directory / "the-document-foundation.toml").write_text(standalone, encoding="utf-8")
    return directory


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("TIEBREAK_CACHE_DIR", str(folder))
    monkeypatch.delenv("TIEBREAK_NO_CACHE", raising=False)
    return folder


class CountingLoader:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, directory: Path) -> Catalog:
        self.calls += 1
        return load_catalog(directory)


def test_second_load_comes_from_the_cache(catalog_copy: Path, cache: Path) -> None:
    loader = CountingLoader()
    first = cached_catalog(catalog_copy, loader)
    second = cached_catalog(catalog_copy, loader)
    assert loader.calls == 1
    assert set(second.products) == set(first.products) == {"libreoffice"}
    assert second.products["libreoffice"] == first.products["libreoffice"]
    assert cache.stat().st_mode & 0o777 == 0o700


def test_a_changed_catalog_file_invalidates_the_cache(catalog_copy: Path, cache: Path) -> None:
    loader = CountingLoader()
    cached_catalog(catalog_copy, loader)
    key = catalog_key(catalog_copy)
    path = catalog_copy / "the-document-foundation.toml"
    path.write_text(path.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert catalog_key(catalog_copy) != key
    cached_catalog(catalog_copy, loader)
    assert loader.calls == 2
    assert len(list(cache.glob("catalog-*.pickle"))) == 1  # the stale entry was removed


def test_corrupted_or_foreign_cache_files_are_not_trusted(catalog_copy: Path, cache: Path) -> None:
    loader = CountingLoader()
    cached_catalog(catalog_copy, loader)
    (entry,) = cache.glob("catalog-*.pickle")
    entry.write_bytes(b"not a pickle")
    assert "libreoffice" in cached_catalog(catalog_copy, loader).products
    assert loader.calls == 2
    # A cache file others may write is ignored, even if its content is a valid catalog.
    (entry,) = cache.glob("catalog-*.pickle")
    entry.write_bytes(pickle.dumps("not a catalog"))
    entry.chmod(0o666)
    assert isinstance(cached_catalog(catalog_copy, loader), Catalog)
    assert loader.calls == 3


def test_no_cache_variable_and_unwritable_directory_fall_back_to_loading(
    catalog_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv("TIEBREAK_CACHE_DIR", str(blocker / "cache"))
    loader = CountingLoader()
    cached_catalog(catalog_copy, loader)
    cached_catalog(catalog_copy, loader)
    assert loader.calls == 2
    monkeypatch.setenv("TIEBREAK_NO_CACHE", "1")
    monkeypatch.setenv("TIEBREAK_CACHE_DIR", str(tmp_path / "unused"))
    cached_catalog(catalog_copy, loader)
    assert loader.calls == 3 and not (tmp_path / "unused").exists()
