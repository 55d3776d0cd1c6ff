"""Fixtures of the network tests: the network lab of tests/network/lab.py (root only).

`lab` is one lab per session: nginx, sshd, slapd, smbd, Exim and the emulated IIS, Exchange and
Cisco servers on their own 127.70.0.x addresses, plus decoys, in the namespace
`tiebreak-lab-<pid>`; do not stop it. `lab_factory` starts fresh labs (each in a namespace of its
own, so the same addresses do not clash) for tests that stop them; all are stopped after the test.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def _load_helper(filename: str, module_name: str) -> ModuleType:
    """Import a helper beside this file (tests are not a package; benchmarks share them)."""
    if module_name in sys.modules:
        return sys.modules[module_name]
    path = Path(__file__).with_name(filename)
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# Test modules reach it as sys.modules["tiebreak_test_network_lab"].
network_lab = _load_helper("lab.py", "tiebreak_test_network_lab")
Lab = network_lab.Lab
LabFactory = Callable[..., Any]  # (**start_lab keyword arguments) -> Lab


def lab_unavailable() -> str | None:
    """Why the lab cannot run here (not root, a tool missing and its package), or None."""
    if os.geteuid() != 0:
        return "the network lab needs root (network namespace, daemons on ports below 1024)"
    missing = network_lab.missing_tools()
    if missing:
        return f"the network lab needs: {', '.join(missing)}"
    return None


def _require_lab() -> None:
    reason = lab_unavailable()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The session's lab (network_lab.EXPECTED_SERVICES says what nmap finds in it)."""
    _require_lab()
    started = network_lab.start_lab(tmp_path_factory.mktemp("network-lab"))
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def lab_factory(tmp_path: Path) -> Iterator[LabFactory]:
    """Start labs of one's own: factory(**start_lab options) -> Lab; stopped after the test."""
    _require_lab()
    labs: list[Lab] = []

    def factory(**options: Any) -> Lab:
        started = network_lab.start_lab(tmp_path / f"lab-{len(labs)}", **options)
        labs.append(started)
        return started

    try:
        yield factory
    finally:
        for started in labs:
            started.stop()
