"""Fixtures shared by every test package."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def load_helper(path: Path, name: str) -> ModuleType:
    """Import the helper module at `path` as `name`, once (tests are not a package, and putting
    tests/ on sys.path would let tests/agent shadow the agent package). Test modules reach it as
    `sys.modules[name]`; the conftests of the test folders call this through
    `sys.modules["tiebreak_test_loader"].load_helper`, since they cannot import this file."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_loader = ModuleType("tiebreak_test_loader", "The tests' helper-module loader (tests/conftest.py).")
_loader.load_helper = load_helper  # type: ignore[attr-defined]
sys.modules["tiebreak_test_loader"] = _loader

load_helper(Path(__file__).with_name("tiebreak_server.py"), "tiebreak_test_server")


@pytest.fixture
def repo() -> Path:
    """The repository root."""
    return REPO


@pytest.fixture
def tiebreak_cmd() -> list[str]:
    """How to run the `tiebreak` command in a subprocess, with this interpreter."""
    return [sys.executable, "-m", "agent"]


@pytest.fixture
def french(monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages in French, whatever the machine's locale."""
    monkeypatch.setenv("TIEBREAK_LANG", "fr")


@pytest.fixture(autouse=True)
def private_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test keeps the agent's history and delivery state in its own directory, never in
    /var/lib/tiebreak or the home of the user running the tests; subprocesses inherit it."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("TIEBREAK_STATE", str(state))
    return state


@pytest.fixture
def subprocess_env(private_state: Path) -> dict[str, str]:
    """Environment for `tiebreak` subprocesses: the repository importable, French messages, the
    test's own state directory."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env["TIEBREAK_LANG"] = "fr"
    env["TIEBREAK_STATE"] = str(private_state)
    return env
