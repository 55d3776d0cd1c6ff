"""Fixtures of the TUI tests: French messages, a private state and spool directory per test, the
helpers module, and a real central server."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def _load_helpers() -> ModuleType:
    """tests/tui/tui_helpers.py as `tiebreak_test_tui_helpers` (tests/conftest.py's loader)."""
    return sys.modules["tiebreak_test_loader"].load_helper(  # type: ignore[no-any-return]
        Path(__file__).with_name("tui_helpers.py"), "tiebreak_test_tui_helpers"
    )


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
