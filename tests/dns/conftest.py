"""Fixtures of the DNS tests: one real Knot DNS server per session on 127.53.x.y."""

from __future__ import annotations

import os
import random
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

load_helper = sys.modules["tiebreak_test_loader"].load_helper  # tests/conftest.py

knot_server = load_helper(Path(__file__).with_name("knot_server.py"), "tiebreak_test_knot_server")
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
