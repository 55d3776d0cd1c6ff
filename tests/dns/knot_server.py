"""Start a real Knot DNS server on a loopback address, serving the zone files of a directory.

Used by the DNS tests (tests/dns/conftest.py) and by benchmarks/bench_dns.py. The server answers
only on the address given (127.53.x.y); nothing here talks to any other resolver.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dns.message
import dns.query
import dns.rcode

ZONES = Path(__file__).with_name("zones")


def hostile_zone(directory: Path) -> str:
    """Write `hostile-a.test`: a 64 KB TXT at the apex and 1,000 A records at www."""
    big_txt = " ".join('"' + "x" * 255 + '"' for _ in range(255))  # 65,025 bytes of text
    lines = [
        "$ORIGIN hostile-a.test.",
        "$TTL 300",
        "@ SOA ns1 hostmaster 2026112801 3600 900 604800 300",
        "@ NS ns1",
        "ns1 A 192.0.2.53",
        f"@ TXT {big_txt}",
        "@ MX 10 mx.hostile-a.test.",
        "mx A 192.0.2.25",
        # 198.18.0.0/15 is the benchmarking range: never routed, only text in this zone.
        *(f"www A 198.18.{i // 250}.{i % 250 + 1}" for i in range(1000)),
    ]
    (directory / "hostile-a.test.zone").write_text("\n".join(lines) + "\n")
    return "hostile-a.test"


@dataclass(slots=True)
class KnotServer:
    """A running knotd: its address, port and process."""

    address: str
    port: int
    process: subprocess.Popen[bytes]
    workdir: Path

    def stop(self) -> None:
        """Stop knotd (terminate, then kill if it lingers)."""
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def write_config(
    workdir: Path, address: str, port: int, zones: Sequence[str], workers: int
) -> Path:
    """knot.conf serving `zones` from `workdir/zones`, listening on address@port only."""
    zone_lines = "\n".join(f"  - domain: {zone}" for zone in zones)
    config = workdir / "knot.conf"
    config.write_text(
        f"""server:
    rundir: "{workdir}"
    listen: {address}@{port}
    udp-workers: {workers}
    tcp-workers: {workers}
    background-workers: 1
database:
    storage: "{workdir}"
template:
  - id: default
    storage: "{workdir / "zones"}"
    file: "%s.zone"
    semantic-checks: off
    journal-content: none
zone:
{zone_lines}
log:
  - target: stderr
    any: error
"""
    )
    return config


def start_knot(
    workdir: Path,
    address: str,
    port: int,
    zone_dir: Path = ZONES,
    extra_zones: Sequence[str] = (),
    broken_zones: Sequence[str] = (),
    workers: int = 2,
    netns: str | None = None,
) -> KnotServer:
    """Copy the zones to `workdir`, start knotd and wait until it answers for every zone."""
    knotd = shutil.which("knotd") or "/usr/sbin/knotd"
    zones_dir = workdir / "zones"
    zones_dir.mkdir(parents=True, exist_ok=True)
    zones = []
    for path in sorted(zone_dir.glob("*.zone")):
        shutil.copy(path, zones_dir / path.name)
        zones.append(path.name.removesuffix(".zone"))
    zones.extend(extra_zones)
    # A configured zone without a file: knotd answers SERVFAIL for it.
    config = write_config(workdir, address, port, [*zones, *broken_zones], workers)
    command = [knotd, "-c", str(config)]
    if netns:
        command = ["ip", "netns", "exec", netns, *command]
    process = subprocess.Popen(command, stderr=subprocess.PIPE)
    server = KnotServer(address, port, process, workdir)
    if netns is None:
        wait_ready(server, zones)
    return server


def wait_ready(server: KnotServer, zones: Sequence[str], deadline_s: float = 10.0) -> None:
    """Wait until the server answers SOA for every zone, or raise naming what is missing."""
    deadline = time.monotonic() + deadline_s
    pending = list(zones)
    while pending:
        if server.process.poll() is not None:
            stderr = server.process.stderr.read().decode() if server.process.stderr else ""
            raise RuntimeError(f"knotd exited ({server.process.returncode}): {stderr}")
        try:
            response = dns.query.udp(
                dns.message.make_query(pending[0], "SOA"), server.address, 0.5, server.port
            )
            if response.rcode() == dns.rcode.NOERROR and response.answer:
                pending.pop(0)
                continue
        except (OSError, dns.exception.Timeout):
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"knotd did not serve {pending} in {deadline_s} s")
        time.sleep(0.05)
