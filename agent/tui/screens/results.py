"""The results screen: findings grouped by TIE Break category, coloured by jurisdiction, with the
dependency index, a detail panel, a search and a jurisdiction filter.

Every value that came from the scanned systems is shown as plain text (never as markup), with its
control characters escaped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Input, Select, Static, Tree

from agent import views
from agent.i18n import t
from agent.tui.base import NavBar, TiebreakScreen, lines_text, plain, safe
from inventory import Jurisdiction

if TYPE_CHECKING:
    from inventory import Finding, Observation


class ResultsScreen(TiebreakScreen):
    """Browse the findings of the last scan."""

    MODE = "results"
    AUTO_FOCUS = "#findings"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "search", "search", key_display="/"),
        Binding("j", "cycle_jurisdiction", "filter"),
        Binding("escape", "clear", "clear"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.serial = -1
        self.observations: dict[str, Observation] = {}
        self.findings: dict[str, Finding] = {}
        self.jurisdiction: Jurisdiction | None = None

    def compose(self) -> ComposeResult:
        """Search and filter, the index, then the findings beside their detail."""
        yield NavBar(self.MODE)
        with Horizontal(id="results-bar"):
            yield Input(
                placeholder=t(
                    "rechercher produit, fournisseur, lieu…", "search product, vendor, place…"
                ),
                id="search",
                compact=True,
            )
            yield Select(
                [(views.jurisdiction_label(j), j.value) for j in views.JURISDICTION_ORDER],
                prompt=t("toutes juridictions", "all jurisdictions"),
                id="jurisdiction",
                compact=True,
            )
        yield Static("", id="index")
        with Horizontal(id="results-body"):
            tree: Tree[str] = Tree(t("Constats", "Findings"), id="findings")
            tree.show_root = False
            yield tree
            with VerticalScroll(id="detail-pane"):
                yield Static("", id="detail")
        yield Footer()

    def on_mount(self) -> None:
        """Show the inventory, if there is one yet."""
        self.rebuild()

    def on_screen_resume(self) -> None:
        """Redraw when a new inventory arrived meanwhile."""
        if self.serial != self.state.inventory_serial:
            self.rebuild()

    def rebuild(self) -> None:
        """Fill the tree with the findings that pass the search and the filter."""
        inventory = self.state.inventory
        self.serial = self.state.inventory_serial
        tree: Tree[str] = self.query_one("#findings", Tree)
        tree.clear()
        detail = self.query_one("#detail", Static)
        index = self.query_one("#index", Static)
        if inventory is None:
            index.update("")
            detail.update(
                plain(
                    t(
                        "Pas encore d'inventaire : lancez un scan (F3) ou ouvrez un fichier "
                        "(tiebreak tui --inventory FICHIER).",
                        "No inventory yet: run a scan (F3) or open a file "
                        "(tiebreak tui --inventory FILE).",
                    )
                )
            )
            return
        self.observations = views.observations_by_id(inventory)
        self.findings = {finding.id: finding for finding in inventory.findings}
        index.update(self._index_text())
        query = self.query_one("#search", Input).value
        shown = [f for f in inventory.findings if views.matches(f, query, self.jurisdiction)]
        for group in views.group_findings(shown):
            node = tree.root.add(
                Text(f"{group.label} ({len(group.findings)})", style="bold"), expand=True
            )
            for finding in group.findings:
                label = Text()
                label.append("● ", style=views.jurisdiction_style(finding.jurisdiction))
                label.append(safe(finding.product_name))
                label.append(" " + safe(finding.locus), style="dim")
                node.add_leaf(label, data=finding.id)
        if not shown:
            detail.update(
                plain(
                    t("Aucun constat ne correspond.", "No finding matches.")
                    if inventory.findings
                    else t("Aucun produit identifié.", "No product identified.")
                )
            )
        else:
            first = tree.root.children[0].children[0]
            if first.data is not None:
                self._show(first.data)
            # The cursor on the first finding: its detail is the one shown.
            self.call_after_refresh(tree.move_cursor_to_line, 1)

    def _index_text(self) -> Text:
        inventory = self.state.inventory
        if inventory is None:
            return Text()
        summary = inventory.summary
        text = Text(views.dependency_line(summary.dependency_index), style="bold")
        counts = views.jurisdiction_counts(summary.findings_by_jurisdiction)
        if counts:
            text.append("\n")
            for position, (jurisdiction, label, count) in enumerate(counts):
                if position:
                    text.append(" · ")
                text.append(f"{label} {count}", style=views.jurisdiction_style(jurisdiction))
        return text

    def _show(self, finding_id: str) -> None:
        finding = self.findings.get(finding_id)
        if finding is None:
            return
        detail = views.finding_detail(finding, self.observations, self.state.product_names)
        self.query_one("#detail", Static).update(lines_text(views.detail_text(detail)))
        self.query_one("#detail-pane", VerticalScroll).scroll_home(animate=False)

    @on(Tree.NodeHighlighted, "#findings")
    def _highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        """Show the highlighted finding's detail."""
        if event.node.data is not None:
            self._show(event.node.data)

    @on(Input.Changed, "#search")
    def _searched(self) -> None:
        """Filter as you type."""
        self.rebuild()

    @on(Input.Submitted, "#search")
    def _search_done(self) -> None:
        """Enter: back to the list."""
        self.query_one("#findings", Tree).focus()

    @on(Select.Changed, "#jurisdiction")
    def _filtered(self, event: Select.Changed) -> None:
        """Show one jurisdiction class, or all."""
        value = event.value
        self.jurisdiction = Jurisdiction(value) if isinstance(value, str) else None
        self.rebuild()

    def action_search(self) -> None:
        """Go to the search field."""
        self.query_one("#search", Input).focus()

    def action_cycle_jurisdiction(self) -> None:
        """Next jurisdiction filter: all, then each class, most dependent first."""
        order: list[Jurisdiction | None] = [None, *views.JURISDICTION_ORDER]
        following = order[(order.index(self.jurisdiction) + 1) % len(order)]
        select: Select[str] = self.query_one("#jurisdiction", Select)
        if following is None:
            select.clear()
        else:
            select.value = following.value

    def action_clear(self) -> None:
        """Clear the search and the filter, back to the list."""
        self.query_one("#search", Input).value = ""
        self.query_one("#jurisdiction", Select).clear()
        self.query_one("#findings", Tree).focus()
