"""Terminal output of `tiebreak scan`: live progress per probe, then a summary table.

Progress goes to standard error and only when it is a terminal; the summary goes to standard
output. Every value that came from the scanned systems is escaped before display.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from agent.i18n import t
from inventory import Inventory, ProbeRun

_STATUS_STYLE = {
    "ok": "green",
    "failed": "red",
    "timeout": "yellow",
    "skipped": "dim",
}


class ScanDisplay:
    """A live table of probes: waiting, running (with elapsed time), then their outcome."""

    def __init__(self, names: list[str]) -> None:
        self._console = Console(stderr=True)
        self._names = names
        self._started: dict[str, float] = {}
        self._runs: dict[str, ProbeRun] = {}
        self._lock = threading.Lock()
        self._live = Live(
            get_renderable=self._render,
            console=self._console,
            refresh_per_second=8,
            transient=True,
        )

    def __enter__(self) -> ScanDisplay:
        if self._console.is_terminal:
            self._live.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._console.is_terminal:
            self._live.__exit__(kind, value, trace)

    def update(self, name: str, event: str, run: ProbeRun | None) -> None:
        """Progress callback for the orchestrator."""
        with self._lock:
            if event == "start":
                self._started[name] = time.monotonic()
            elif run is not None:
                self._runs[name] = run

    def _render(self) -> Table:
        table = Table(title=t("Sondes", "Probes"), expand=False)
        table.add_column(t("sonde", "probe"))
        table.add_column(t("état", "status"))
        table.add_column(t("durée", "time"), justify="right")
        table.add_column(t("observations", "observations"), justify="right")
        with self._lock:
            for name in self._names:
                run = self._runs.get(name)
                if run is not None:
                    style = _STATUS_STYLE.get(run.status.value, "")
                    table.add_row(
                        name,
                        f"[{style}]{run.status.value}[/]",
                        f"{run.duration_s:.1f} s",
                        str(run.observations),
                    )
                elif name in self._started:
                    elapsed = time.monotonic() - self._started[name]
                    table.add_row(name, t("en cours…", "running…"), f"{elapsed:.1f} s", "")
                else:
                    table.add_row(name, t("en attente", "waiting"), "", "")
        return table


def print_summary(inventory: Inventory, output: Path) -> None:
    """Print the probes' outcome, counts per jurisdiction and where the inventory was written."""
    console = Console()
    probes = Table(title=t("Résultat du scan", "Scan result"))
    probes.add_column(t("sonde", "probe"))
    probes.add_column(t("état", "status"))
    probes.add_column(t("durée", "time"), justify="right")
    probes.add_column("observations", justify="right")
    probes.add_column(t("erreur", "error"))
    for run in inventory.probes:
        style = _STATUS_STYLE.get(run.status.value, "")
        probes.add_row(
            escape(run.name),
            f"[{style}]{run.status.value}[/]",
            f"{run.duration_s:.2f} s",
            str(run.observations),
            escape(run.error or ""),
        )
    console.print(probes)
    summary = inventory.summary
    console.print(
        t(
            f"{summary.observations} observations, {summary.findings} produits identifiés, "
            f"{summary.unidentified} observations non identifiées.",
            f"{summary.observations} observations, {summary.findings} products identified, "
            f"{summary.unidentified} unidentified observations.",
        )
    )
    if summary.findings_by_jurisdiction:
        classes = ", ".join(f"{k}: {v}" for k, v in summary.findings_by_jurisdiction.items())
        console.print(t(f"Par juridiction : {classes}", f"By jurisdiction: {classes}"))
    console.print(
        t(
            f"Inventaire écrit dans {escape(str(output))}",
            f"Inventory written to {escape(str(output))}",
        )
    )
