"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


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


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for `tiebreak` subprocesses: the repository importable, French messages."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env["TIEBREAK_LANG"] = "fr"
    return env
