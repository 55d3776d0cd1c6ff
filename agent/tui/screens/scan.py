"""The scan screen: a progress bar and a live table of the probes, the scan in a worker thread.

The orchestrator's progress callback runs in the scan's thread and only posts messages (thread
safe); the table is updated on the UI thread, and a timer shows the running probes' elapsed time,
so the screen answers keys throughout. Cancelling sets an event the orchestrator watches: the
running probes are abandoned as at their deadline and what they found is kept. The finished
inventory is kept in memory and recorded in the history of this machine.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Footer, ProgressBar, Static

from agent import views
from agent.i18n import t
from agent.tui.base import NavBar, TiebreakScreen, lines_text, plain

if TYPE_CHECKING:
    from agent.config import Config
    from agent.orchestrator import PlannedProbe
    from agent.scan import ScanOutcome
    from inventory import ProbeRun

COLUMNS = ("probe", "state", "time", "observations", "detail")
WIDTHS = (10, 14, 9, 5, 30)
"""Column widths: with the cells' padding, the table fits in 80 columns."""
TICK_SECONDS = 0.25
"""How often the elapsed time of running probes is redrawn."""


class ProbeProgress(Message):
    """A probe started or ended (posted from the scan's thread)."""

    def __init__(self, name: str, event: str, run: ProbeRun | None, at: float) -> None:
        super().__init__()
        self.name = name
        self.event = event
        self.run = run
        self.at = at


class ScanFinished(Message):
    """The scan ended: its outcome, or why it could not run."""

    def __init__(
        self,
        outcome: ScanOutcome | None,
        error: str | None = None,
        names: dict[str, str] | None = None,
        history_error: str | None = None,
        cancelled: bool = False,
    ) -> None:
        super().__init__()
        self.outcome = outcome
        self.error = error
        self.names = names or {}
        self.history_error = history_error
        self.cancelled = cancelled


class ScanScreen(TiebreakScreen):
    """Run the planned probes and watch each one."""

    MODE = "scan"
    AUTO_FOCUS = "#probes"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "start", "start", priority=True),
        Binding("escape", "cancel", "cancel"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.plan: list[PlannedProbe] = []
        self.running = False
        self.started: dict[str, float] = {}
        self.runs: dict[str, ProbeRun] = {}
        self._cancel = threading.Event()
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        """Header, progress bar, the probes' table and a status line."""
        yield NavBar(self.MODE)
        yield Static("", id="scan-head")
        yield ProgressBar(total=None, show_eta=False, id="scan-progress")
        table: DataTable[Text | str] = DataTable(id="probes", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static("", id="probe-detail")
        yield Static("", id="scan-status")
        yield Footer()

    def on_mount(self) -> None:
        """Set up the table's columns and show the plan."""
        table: DataTable[Text | str] = self.query_one("#probes", DataTable)
        labels = (
            t("sonde", "probe"),
            t("état", "status"),
            t("durée", "time"),
            t("obs.", "obs."),
            t("détail", "detail"),
        )
        for key, label, width in zip(COLUMNS, labels, WIDTHS, strict=True):
            table.add_column(label, key=key, width=width)
        self.prepare()

    def on_screen_resume(self) -> None:
        """Show the plan of the configuration as it is now."""
        if not self.running:
            self.prepare()

    # -- planning --------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Plan the probes from the current configuration and list them as waiting."""
        config = self.state.config
        status = self.query_one("#scan-status", Static)
        head = self.query_one("#scan-head", Static)
        table: DataTable[Text | str] = self.query_one("#probes", DataTable)
        if config is None:
            self.plan = []
            table.clear()
            head.update("")
            status.update(
                plain(
                    t(
                        "La configuration n'est pas valide : corrigez-la (F2) avant de scanner.",
                        "The configuration is not valid: fix it (F2) before scanning.",
                    ),
                    "bold red",
                )
            )
            self.refresh_bindings()
            return
        from agent.config import ConfigError

        try:
            self.plan = self.state.plan_factory(config)
        except ConfigError as exc:
            self.plan = []
            table.clear()
            status.update(plain("; ".join(exc.problems), "bold red"))
            self.refresh_bindings()
            return
        head.update(self._head(config))
        self._fill([p.probe.name for p in self.plan])
        progress = self.query_one("#scan-progress", ProgressBar)
        progress.update(total=len(self.plan) or None, progress=0)
        if self.state.inventory is None or not self.runs:
            status.update(
                plain(
                    t(
                        f"{len(self.plan)} sonde(s) prête(s) : ctrl+r pour lancer le scan.",
                        f"{len(self.plan)} probe(s) ready: ctrl+r starts the scan.",
                    )
                )
            )
        self.refresh_bindings()

    @staticmethod
    def _head(config: Config) -> Text:
        scope = config.scope
        networks = ", ".join(scope.networks) or t("aucun", "none")
        domains = ", ".join(scope.domains) or t("aucun", "none")
        text = plain(config.organisation.name, "bold")
        text.append_text(plain(t(f"  réseaux : {networks}", f"  networks: {networks}")))
        text.append_text(plain(t(f"  domaines : {domains}", f"  domains: {domains}")))
        return text

    def _fill(self, names: list[str]) -> None:
        table: DataTable[Text | str] = self.query_one("#probes", DataTable)
        table.clear()
        for name in names:
            table.add_row(*self._cells(name), key=name)

    def _cells(self, name: str) -> tuple[Text | str, ...]:
        run = self.runs.get(name)
        state = views.probe_state(run, name in self.started)
        label = Text(views.probe_state_label(state), style=views.probe_state_style(state))
        if run is not None:
            elapsed = views.duration(run.duration_s)
            found = str(run.observations)
            detail = run.error or "; ".join(run.notes)
        elif name in self.started:
            elapsed = views.duration(time.monotonic() - self.started[name])
            found, detail = "", ""
        else:
            elapsed, found, detail = "", "", ""
        return (plain(name), label, elapsed, found, plain(detail))

    # -- running ---------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Start when ready and idle; cancel only while scanning."""
        if action == "start":
            return not self.running and bool(self.plan)
        if action == "cancel":
            return self.running
        return True

    def action_start(self) -> None:
        """Start the scan."""
        if self.running:
            return
        self.prepare()
        config = self.state.config
        if config is None or not self.plan:
            return
        self.running = True
        self.started, self.runs = {}, {}
        self._fill([p.probe.name for p in self.plan])
        self._cancel = threading.Event()
        self.query_one("#scan-progress", ProgressBar).update(total=len(self.plan), progress=0)
        self.query_one("#scan-status", Static).update(
            plain(t("Scan en cours… (Échap pour annuler)", "Scanning… (Escape cancels)"), "cyan")
        )
        self._timer = self.set_interval(TICK_SECONDS, self._tick)
        self.refresh_bindings()
        self._scan(config, list(self.plan), self._cancel)

    def action_cancel(self) -> None:
        """Cancel the scan: running probes stop as at their deadline, their findings are kept."""
        if self.running:
            self.cancel_scan()
            self.query_one("#scan-status", Static).update(
                plain(t("Annulation…", "Cancelling…"), "yellow")
            )

    def cancel_scan(self) -> None:
        """Ask the running scan to stop (also when the application quits)."""
        self._cancel.set()

    @work(thread=True, exclusive=True, group="scan")
    def _scan(self, config: Config, plan: list[PlannedProbe], cancel: threading.Event) -> None:
        from agent.scan import run_scan
        from fingerprints.catalog import CatalogError
        from fingerprints.engine import default_engine

        try:
            default_engine()
        except CatalogError as exc:
            message = t("catalogue invalide : ", "malformed catalog: ") + "; ".join(exc.problems)
            self.post_message(ScanFinished(None, error=message))
            return
        if config.directory is not None and any(p.probe.name == "directory" for p in plan):
            try:
                config.directory.password()
            except OSError as exc:
                key = "password_file" if config.directory.password_file else "password_env"
                self.post_message(ScanFinished(None, error=f"[directory] {key}: {exc}"))
                return

        def progress(name: str, event: str, run: ProbeRun | None) -> None:
            self.post_message(ProbeProgress(name, event, run, time.monotonic()))

        outcome = run_scan(config, plan, progress, cancel=cancel)
        history_error = None
        try:
            from agent.history import record_scan

            record_scan(outcome.inventory, None)
        except Exception as exc:  # noqa: BLE001 - the scan stands even if history cannot be kept
            history_error = f"{type(exc).__name__}: {exc}"
        names = self.state.catalog_names()
        self.post_message(
            ScanFinished(
                outcome, names=names, history_error=history_error, cancelled=cancel.is_set()
            )
        )

    def on_probe_progress(self, message: ProbeProgress) -> None:
        """A probe started or ended: update its row and the progress bar."""
        if message.event == "start":
            self.started[message.name] = message.at
        elif message.run is not None:
            self.runs[message.name] = message.run
            self.query_one("#scan-progress", ProgressBar).advance(1)
        self._update_row(message.name)
        table: DataTable[Text | str] = self.query_one("#probes", DataTable)
        if table.is_valid_row_index(table.cursor_row):
            highlighted = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            if highlighted == message.name:
                self._show_detail(message.name)

    def _update_row(self, name: str) -> None:
        table: DataTable[Text | str] = self.query_one("#probes", DataTable)
        for key, value in zip(COLUMNS, self._cells(name), strict=True):
            table.update_cell(name, key, value)

    @on(DataTable.RowHighlighted, "#probes")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Show the whole error, reason or notes of the highlighted probe."""
        self._show_detail(str(event.row_key.value))

    def _show_detail(self, name: str) -> None:
        run = self.runs.get(name)
        widget = self.query_one("#probe-detail", Static)
        lines = [run.error] if run is not None and run.error else []
        lines += run.notes if run is not None else []
        widget.update(lines_text((f"{name} : {line}", "") for line in lines))
        widget.display = bool(lines)

    def _tick(self) -> None:
        for name in self.started:
            if name not in self.runs:
                self._update_row(name)

    def on_scan_finished(self, message: ScanFinished) -> None:
        """Keep the inventory, say how the scan ended."""
        self.running = False
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        status = self.query_one("#scan-status", Static)
        self.refresh_bindings()
        if message.outcome is None:
            status.update(plain(message.error or "", "bold red"))
            return
        inventory = message.outcome.inventory
        self.state.set_inventory(inventory, message.outcome.complete, message.names)
        summary = inventory.summary
        if message.cancelled:
            first = t("Scan annulé", "Scan cancelled")
        elif message.outcome.complete:
            first = t("Scan terminé", "Scan complete")
        else:
            first = t("Scan partiel", "Partial scan")
        text = Text(
            t(
                f"{first} : {summary.observations} observations, {summary.findings} produits. "
                "F4 résultats, F6 enregistrer ou envoyer.",
                f"{first}: {summary.observations} observations, {summary.findings} products. "
                "F4 results, F6 save or send.",
            ),
            style="bold green" if message.outcome.complete else "bold yellow",
        )
        if message.history_error:
            text.append("\n")
            text.append_text(
                plain(
                    t(
                        f"historique non mis à jour : {message.history_error}",
                        f"history not updated: {message.history_error}",
                    ),
                    "yellow",
                )
            )
        status.update(text)
