"""The wheel people install ships every data file the code reads, and asks only for the agent's
dependencies; the central server's are behind the `server` extra."""

from __future__ import annotations

import email
import fnmatch
import subprocess
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("inventory", "agent", "probes", "fingerprints", "server")
NOT_SHIPPED = {
    "fingerprints/ranges/update-snapshot.sh",  # maintainers' script, not read at run time
    # The whole Debian archive's names and their reviewed claims (300 kB): a check of the
    # catalog run from the source tree (python -m fingerprints.sweep), not needed by agents.
    "fingerprints/corpus/debian/bookworm-names.txt.gz",
    "fingerprints/corpus/debian/claims.csv",
}


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def _names(built: Any) -> set[str]:
    with zipfile.ZipFile(built.wheel) as wheel:
        return set(wheel.namelist())


def _metadata(built: Any) -> email.message.Message:
    with zipfile.ZipFile(built.wheel) as wheel:
        (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        return email.message_from_bytes(wheel.read(name))


def _source_files(before: float) -> set[str]:
    """Files of the packages that existed when the wheel was built (others edit the tree too)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", *PACKAGES],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {
        name
        for name in listed
        if (REPO / name).is_file() and (REPO / name).stat().st_mtime < before
    } - NOT_SHIPPED


def test_every_file_of_the_packages_is_in_the_wheel(built: Any) -> None:
    missing = sorted(_source_files(built.started) - _names(built))
    assert not missing, f"absent du wheel / missing from the wheel: {missing}"


def test_catalog_ranges_example_config_and_stylesheets_are_shipped(built: Any) -> None:
    names = _names(built)
    catalog = {n for n in names if fnmatch.fnmatch(n, "fingerprints/catalog/*.toml")}
    assert len(catalog) >= 250
    assert len(catalog) == len(list((REPO / "fingerprints/catalog").glob("*.toml")))
    assert "fingerprints/scoring.toml" in names
    ranges = {p.relative_to(REPO).as_posix() for p in (REPO / "fingerprints/ranges").glob("*.gz")}
    assert ranges and ranges <= names
    assert "agent/tiebreak.example.toml" in names
    stylesheets = {p.relative_to(REPO).as_posix() for p in (REPO / "agent").rglob("*.tcss")}
    assert stylesheets <= names
    # The TUI's stylesheet beside its app module is covered even before it exists.
    patterns = _pyproject()["tool"]["setuptools"]["package-data"]["agent"]
    assert any(fnmatch.fnmatch("tui/tiebreak.tcss", pattern) for pattern in patterns)


def test_the_agent_does_not_require_the_servers_dependencies(built: Any) -> None:
    metadata = _metadata(built)
    requirements = [Requirement(line) for line in metadata.get_all("Requires-Dist") or []]
    base = {canonicalize_name(r.name) for r in requirements if r.marker is None}
    server = {
        canonicalize_name(r.name)
        for r in requirements
        if r.marker is not None and r.marker.evaluate({"extra": "server"})
    }
    assert {"psutil", "textual", "pydantic", "dnspython", "ldap3"} <= base
    assert {"fastapi", "uvicorn", "sqlalchemy", "alembic", "jinja2"} <= server
    assert not base & server
    assert "server" in (metadata.get_all("Provides-Extra") or [])


def test_the_wheelhouse_holds_the_agent_and_nothing_of_the_server(built: Any) -> None:
    wheels = {canonicalize_name(p.name.split("-")[0]) for p in built.wheelhouse.glob("*.whl")}
    assert {"tiebreak", "psutil", "pydantic-core", "textual", "rich", "requests", "pip"} <= wheels
    server = {
        canonicalize_name(Requirement(r).name)
        for r in _pyproject()["project"]["optional-dependencies"]["server"]
    }
    assert not wheels & server, wheels & server


def test_console_script_is_the_agent_cli(built: Any) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
        entry_points = wheel.read(name).decode()
    assert "tiebreak = agent.cli:main" in entry_points
