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

from agent import views
from agent.i18n import t
from inventory import Inventory, ProbeRun


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
                state = views.probe_state(run, name in self._started)
                label = f"[{views.probe_state_style(state)}]{views.probe_state_label(state)}[/]"
                if run is not None:
                    table.add_row(
                        escape(name), label, views.duration(run.duration_s), str(run.observations)
                    )
                elif name in self._started:
                    elapsed = time.monotonic() - self._started[name]
                    table.add_row(escape(name), label, views.duration(elapsed), "")
                else:
                    table.add_row(escape(name), label, "", "")
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
        state = views.probe_state(run)
        probes.add_row(
            escape(run.name),
            f"[{views.probe_state_style(state)}]{views.probe_state_label(state)}[/]",
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
    counts = views.jurisdiction_counts(summary.findings_by_jurisdiction)
    if counts:
        classes = ", ".join(
            f"[{views.jurisdiction_style(j)}]{label}[/] {count}" for j, label, count in counts
        )
        console.print(t(f"Par juridiction : {classes}", f"By jurisdiction: {classes}"))
    for group in views.group_findings(inventory.findings):
        shown, more = views.products_of(group, limit=8)
        products = ", ".join(
            f"[{views.jurisdiction_style(jurisdiction)}]{escape(name)}[/]"
            for name, jurisdiction in shown
        )
        if more:
            products += t(f" et {more} autres", f" and {more} more")
        console.print(f"  {group.label} ({len(group.findings)}){t(' : ', ': ')}{products}")
    if summary.dependency_index:
        console.print(views.dependency_line(summary.dependency_index))
    console.print(
        t(
            f"Inventaire écrit dans {escape(str(output))}",
            f"Inventory written to {escape(str(output))}",
        )
    )
