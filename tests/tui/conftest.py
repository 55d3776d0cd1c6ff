"""Fixtures of the TUI tests: French messages, a private state and spool directory per test, the
helpers module, and a real central server."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def _load_helpers() -> ModuleType:
    """tests/tui/tui_helpers.py as `tiebreak_test_tui_helpers` (tests are not a package)."""
    name = "tiebreak_test_tui_helpers"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("tui_helpers.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def helpers() -> ModuleType:
    """The helpers module (test probes, configuration files, fixed inventories, server)."""
    return _load_helpers()


@pytest.fixture(autouse=True)
def tui_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """French, history and spool in the test's directory, never the user's."""
    monkeypatch.setenv("TIEBREAK_LANG", "fr")
    monkeypatch.setenv("TIEBREAK_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("TIEBREAK_SPOOL", str(tmp_path / "spool"))
    return tmp_path


@pytest.fixture
def central_server(tmp_path: Path) -> Iterator[Any]:
    """A real `tiebreak server run` on 127.0.0.1 with the organisation of the test config."""
    server = _load_helpers().start_server(
        tmp_path / "server", "Commune de Démonstration", "213105554"
    )
    try:
        yield server
    finally:
        server.stop()
