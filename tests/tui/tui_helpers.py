"""Helpers of the TUI tests and benchmark: fast test probes, configuration files, the fixed
inventories, and a real `tiebreak server` subprocess with an organisation and its agent token.

Loaded by path as `tiebreak_test_tui_helpers` (tests are not a package).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import tiebreak_test_server

from agent.config import Config
from agent.orchestrator import PlannedProbe
from inventory import Inventory
from inventory.channels import Channel
from probes.base import Emitter, Probe, ProbeContext

DATA = Path(__file__).with_name("data")
REPO = Path(__file__).resolve().parents[2]
JUNE = DATA / "inventory-2025-06.json"
MAY = DATA / "inventory-2025-05.json"
HOSTILE = "[bold red]poste[/]\x1b[31m"
FIXED_NOW = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)


def fixed_clock() -> datetime:
    """The clock of the snapshots."""
    return FIXED_NOW


class _TestProbe(Probe):
    tags: ClassVar[frozenset[str]] = frozenset({"test"})
    channels: ClassVar[frozenset[Channel]] = frozenset(Channel)
    summary: ClassVar[str] = "test probe"


class CatalogProbe(_TestProbe):
    """Emits evidence of real catalog products: Exchange Online (MX) and Zoom at a hostile place."""

    name: ClassVar[str] = "catalogue"

    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        out.observe(Channel.DNS_MX, "exemple.fr", "exemple-fr.mail.protection.outlook.com")
        out.observe(Channel.PROCESS, HOSTILE, "zoom")


class FailingProbe(_TestProbe):
    """Finds one thing, then breaks."""

    name: ClassVar[str] = "cassee"

    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        out.observe(Channel.PACKAGE, ctx.hostname, "firefox-esr")
        raise RuntimeError("base de paquets corrompue")


class SleepingProbe(_TestProbe):
    """Finds one thing, then waits far beyond its timeout (abandoned at its deadline)."""

    name: ClassVar[str] = "lente"
    release: ClassVar[threading.Event] = threading.Event()

    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        out.observe(Channel.PACKAGE, ctx.hostname, "libreoffice-core")
        self.release.wait(120)


class SkippedProbe(_TestProbe):
    """Cannot run here."""

    name: ClassVar[str] = "absente"

    def unavailable(self, ctx: ProbeContext) -> str | None:
        return "outil introuvable sur cette machine"

    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        raise AssertionError("a skipped probe must not run")


class BusyProbe(_TestProbe):
    """Works the CPU in Python until its deadline (for the latency benchmark)."""

    name: ClassVar[str] = "busy"

    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        total = 0
        while not out.cancelled.is_set():
            total += sum(i * i for i in range(2000))


def busy_probe(index: int) -> Probe:
    """A BusyProbe with its own name."""
    kind = type(f"Busy{index}", (BusyProbe,), {"name": f"busy-{index}"})
    probe: Probe = kind()
    return probe


def fast_plan(timeout: float = 0.6) -> Callable[[Config], list[PlannedProbe]]:
    """The four test probes; the sleeping one gets `timeout` seconds."""

    def plan(_config: Config) -> list[PlannedProbe]:
        return [
            PlannedProbe(CatalogProbe(), 20.0),
            PlannedProbe(FailingProbe(), 20.0),
            PlannedProbe(SleepingProbe(), timeout),
            PlannedProbe(SkippedProbe(), 20.0),
        ]

    return plan


def write_config(path: Path, extra: str = "") -> Path:
    """A valid configuration on loopback, with a comment to keep, plus `extra` TOML."""
    path.write_text(
        "# Configuration de test : ce commentaire doit survivre aux enregistrements.\n"
        "[organisation]\n"
        'name = "Commune de Démonstration"\n'
        "# SIREN à 9 chiffres\n"
        'siren = "213105554"\n'
        'type = "commune"\n'
        "\n"
        "[scope]\n"
        'domains = ["exemple.fr"]\n'
        'networks = ["127.0.0.1/32"]  # la machine locale\n'
        "exclude = []\n" + extra,
        encoding="utf-8",
    )
    return path


def read_inventory(path: Path) -> Inventory:
    """One of the fixed inventories."""
    return Inventory.model_validate_json(path.read_bytes())


free_port = tiebreak_test_server.free_port


@dataclass
class CentralServer:
    """A real `tiebreak server run` on 127.0.0.1 with one organisation and its agent token."""

    url: str
    data: Path
    token: str
    process: subprocess.Popen[bytes] | None = None
    inventories: list[str] = field(default_factory=list)

    def stop(self) -> None:
        """Stop the server."""
        tiebreak_test_server.stop(self.process)

    def stored(self) -> set[str]:
        """Ids of the inventories the server keeps."""
        from sqlalchemy import select

        from server import db

        engine = db.make_engine(f"sqlite:///{self.data / 'tiebreak.sqlite3'}")
        try:
            with engine.connect() as connection:
                return {str(row) for row in connection.scalars(select(db.inventories.c.id))}
        finally:
            engine.dispose()


def start_server(directory: Path, name: str, siren: str) -> CentralServer:
    """Create the database with one organisation, start the server, wait until it answers."""

    from server import admin, db, migrations

    data = directory / "data"
    data.mkdir(parents=True)
    engine = db.make_engine(f"sqlite:///{data / 'tiebreak.sqlite3'}")
    migrations.migrate(engine)
    _org, token = admin.create_organisation(engine, name, siren)
    engine.dispose()
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO), TIEBREAK_LANG="fr")
    command = [sys.executable, "-m", "agent", "server", "run", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--data-dir", str(data)]
    log = directory / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    server = CentralServer(f"http://127.0.0.1:{port}", data, token, process)
    try:
        tiebreak_test_server.wait_until_up(
            process, server.url, lambda: log.read_text(errors="replace")
        )
    except RuntimeError:
        server.stop()
        raise
    return server
