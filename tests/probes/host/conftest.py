"""Fixtures of the host probe tests: run the probe on a fixture tree with captured exports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from probes.base import Emitter, ProbeContext
from probes.host.exports import CapturedExports
from probes.host.probe import HostProbe

RunHost = Callable[..., Emitter]


@pytest.fixture
def host_fixtures() -> Path:
    """tests/fixtures/host: the captured trees and exports (see its README)."""
    return Path(__file__).resolve().parents[2] / "fixtures" / "host"


@pytest.fixture
def run_host() -> RunHost:
    """Run the host probe on a root; `captured` (default root/captured) answers the commands."""

    def run(root: Path, captured: Path | None = None, hostname: str = "poste-1") -> Emitter:
        out = Emitter("host", HostProbe.channels)
        exports = CapturedExports(captured if captured is not None else root / "captured")
        HostProbe(exports).run(ProbeContext(root=root, hostname=hostname), out)
        return out

    return run
