"""Fixtures of the network tests: the network lab of tests/network/lab.py (root only).

`lab` is one lab per session: nginx, sshd, slapd, smbd, Exim and the emulated IIS, Exchange and
Cisco servers on their own 127.70.0.x addresses, plus decoys, in the namespace
`tiebreak-lab-<pid>`; do not stop it. `lab_factory` starts fresh labs (each in a namespace of its
own, so the same addresses do not clash) for tests that stop them; all are stopped after the test.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

load_helper = sys.modules["tiebreak_test_loader"].load_helper  # tests/conftest.py


# Test modules reach it as sys.modules["tiebreak_test_network_lab"].
network_lab = load_helper(Path(__file__).with_name("lab.py"), "tiebreak_test_network_lab")
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
