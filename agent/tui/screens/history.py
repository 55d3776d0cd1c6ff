"""The history screen: the scans made on this machine, and what changed between two of them.

The selected scan is compared with the one before it, or with the scan marked as the reference
(`c`): the products that appeared, disappeared and stayed show the migration's progress.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Static

from agent import views
from agent.i18n import t
from agent.tui.base import NavBar, TiebreakScreen, plain, safe

if TYPE_CHECKING:
    from agent.history import FindingBrief, ScanRecord


def _when(record: ScanRecord) -> str:
    return record.started_at.strftime("%Y-%m-%d %H:%M")


class HistoryScreen(TiebreakScreen):
    """Compare the scans of this machine."""

    MODE = "history"
    AUTO_FOCUS = "#scans"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "set_base", "base"),
        Binding("p", "previous", "previous"),
        Binding("ctrl+r", "reload", "refresh", priority=True),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.records: list[ScanRecord] = []
        self.base: str | None = None
        """inventory_id of the scan chosen as the reference; None: the previous scan."""
        self.serial = -1

    def compose(self) -> ComposeResult:
        """The scans, then the comparison."""
        yield NavBar(self.MODE)
        table: DataTable[Text | str] = DataTable(id="scans", cursor_type="row")
        yield table
        yield Static("", id="compare-title")
        with VerticalScroll(id="compare-pane"):
            yield Static("", id="comparison")
        yield Footer()

    def on_mount(self) -> None:
        """Columns, then the history (read in a worker)."""
        table: DataTable[Text | str] = self.query_one("#scans", DataTable)
        table.add_column(t("date (UTC)", "date (UTC)"), key="date")
        table.add_column(t("organisation", "organisation"), key="organisation")
        table.add_column(t("produits", "products"), key="findings")
        table.add_column(t("état", "status"), key="complete")
        table.add_column(t("fichier", "file"), key="path")
        self.action_reload()

    def on_screen_resume(self) -> None:
        """A scan may have been recorded meanwhile."""
        if self.serial != self.state.inventory_serial:
            self.action_reload()

    def action_reload(self) -> None:
        """Read the history again."""
        self.serial = self.state.inventory_serial
        self._load()

    @work(thread=True, exclusive=True, group="history")
    def _load(self) -> None:
        try:
            from agent.history import load_history

            records = load_history()
        except Exception as exc:  # noqa: BLE001 - an unreadable history is shown, never fatal
            message = t(f"historique illisible : {exc}", f"unreadable history: {exc}")
            self.app.call_from_thread(self._failed, message)
            return
        self.app.call_from_thread(self.show_records, records)

    def _failed(self, message: str) -> None:
        self.query_one("#compare-title", Static).update(plain(message, "bold red"))

    def show_records(self, records: list[ScanRecord]) -> None:
        """List the scans, newest first."""
        self.records = records
        table: DataTable[Text | str] = self.query_one("#scans", DataTable)
        row = table.cursor_row
        table.clear()
        for record in records:
            marker = "★ " if record.inventory_id == self.base else ""
            state = (
                Text(t("complet", "complete"), style="green")
                if record.complete
                else Text(t("partiel", "partial"), style="yellow")
            )
            table.add_row(
                marker + _when(record),
                plain(record.organisation),
                str(len(record.findings)),
                state,
                plain(record.path or t("(non enregistré)", "(not saved)")),
                key=record.inventory_id,
            )
        if not records:
            self.query_one("#compare-title", Static).update(
                plain(
                    t(
                        "Aucun scan enregistré sur cette machine.",
                        "No scan recorded on this machine.",
                    )
                )
            )
            self.query_one("#comparison", Static).update("")
            return
        table.move_cursor(row=min(max(row, 0), len(records) - 1))
        self.compare_selected()

    @on(DataTable.RowHighlighted, "#scans")
    def _row_changed(self) -> None:
        """Compare the highlighted scan."""
        self.compare_selected()

    def _selected(self) -> int | None:
        table: DataTable[Text | str] = self.query_one("#scans", DataTable)
        if not self.records:
            return None
        return min(max(table.cursor_row, 0), len(self.records) - 1)

    def compare_selected(self) -> None:
        """Show what changed between the selected scan and the reference (or the one before)."""
        from agent.history import compare

        index = self._selected()
        if index is None:
            return
        new = self.records[index]
        old = None
        if self.base is not None and self.base != new.inventory_id:
            old = next((r for r in self.records if r.inventory_id == self.base), None)
        elif index + 1 < len(self.records):
            old = self.records[index + 1]
        title = self.query_one("#compare-title", Static)
        body = self.query_one("#comparison", Static)
        if old is None:
            title.update(
                plain(
                    t(
                        f"Scan du {_when(new)} : premier scan, rien à comparer.",
                        f"Scan of {_when(new)}: first scan, nothing to compare.",
                    ),
                    "bold",
                )
            )
            body.update(self._briefs(new.findings, "", ""))
            return
        comparison = compare(new, old)
        title.update(
            plain(
                t(
                    f"Du {_when(old)} au {_when(new)} : +{len(comparison.appeared)} "
                    f"−{len(comparison.disappeared)} ={len(comparison.kept)}",
                    f"From {_when(old)} to {_when(new)}: +{len(comparison.appeared)} "
                    f"−{len(comparison.disappeared)} ={len(comparison.kept)}",
                ),
                "bold",
            )
        )
        text = Text()
        sections = (
            (t("Apparus", "Appeared"), comparison.appeared, "+ ", "green"),
            (t("Disparus", "Disappeared"), comparison.disappeared, "− ", "red"),
            (t("Inchangés", "Unchanged"), comparison.kept, "= ", "dim"),
        )
        for heading, briefs, mark, style in sections:
            if text:
                text.append("\n")
            text.append(f"{heading} ({len(briefs)})", style="bold " + style)
            if briefs:
                text.append("\n")
                text.append_text(self._briefs(briefs, mark, style))
        body.update(text)

    @staticmethod
    def _briefs(briefs: tuple[FindingBrief, ...], mark: str, style: str) -> Text:
        text = Text()
        for position, brief in enumerate(briefs):
            if position:
                text.append("\n")
            text.append(mark, style=style)
            text.append("● ", style=views.jurisdiction_style(brief.jurisdiction))
            text.append(safe(brief.product_name))
            text.append(
                f" — {safe(brief.vendor_name)}, {views.category_label(brief.category)}, "
                f"{safe(brief.locus)}",
                style="dim",
            )
        return text

    def action_set_base(self) -> None:
        """Compare the other scans with the highlighted one."""
        index = self._selected()
        if index is None:
            return
        self.base = self.records[index].inventory_id
        self.show_records(self.records)

    def action_previous(self) -> None:
        """Compare each scan with the one before it again."""
        self.base = None
        self.show_records(self.records)
