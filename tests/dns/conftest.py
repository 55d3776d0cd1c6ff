"""Fixtures of the DNS tests: one real Knot DNS server per session on 127.53.x.y."""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest


def _load_knot_server() -> ModuleType:
    """Import knot_server.py beside this file (tests are not a package; the benchmark shares it)."""
    path = Path(__file__).with_name("knot_server.py")
    spec = importlib.util.spec_from_file_location("tiebreak_test_knot_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


knot_server = _load_knot_server()
KnotServer = knot_server.KnotServer


def _free_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((address, 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture(scope="session")
def knot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnotServer]:
    """Knot DNS serving tests/dns/zones (real provider patterns) and the hostile zones."""
    if shutil.which("knotd") is None and not os.path.exists("/usr/sbin/knotd"):
        pytest.fail("knotd missing: apt-get install knot (listed in scripts/debian-packages.txt)")
    workdir: Path = tmp_path_factory.mktemp("knot")
    address = f"127.53.{random.randint(1, 254)}.{random.randint(1, 254)}"
    (workdir / "zones").mkdir()
    extra = [knot_server.hostile_zone(workdir / "zones")]
    server = knot_server.start_knot(
        workdir, address, _free_port(address), extra_zones=extra, broken_zones=["broken.test"]
    )
    yield server
    server.stop()
