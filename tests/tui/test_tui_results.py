"""The results screen on a fixed inventory: grouping by TIE Break category, the detail of a
finding (vendor, evidence, score factors, alternatives), search, the jurisdiction filter, and
hostile values shown literally."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from rich.text import Text
from textual.widgets import Static, Tree

from agent.tui.app import TiebreakApp

SIZE = (80, 24)


def labels(tree: Tree[str]) -> list[str]:
    """Every line of the tree, categories and findings, as plain text."""
    lines = []
    for group in tree.root.children:
        lines.append(str(group.label))
        lines.extend("  " + str(node.label) for node in group.children)
    return lines


def detail(app: TiebreakApp) -> str:
    content = app.screen.query_one("#detail", Static).content
    return content.plain if isinstance(content, Text) else str(content)


async def open_results(app: TiebreakApp, pilot: object) -> Tree[str]:
    await app.workers.wait_for_complete()
    await pilot.pause()  # type: ignore[attr-defined]
    await pilot.press("f4")  # type: ignore[attr-defined]
    await pilot.pause()  # type: ignore[attr-defined]
    tree: Tree[str] = app.screen.query_one("#findings", Tree)
    return tree


@pytest.mark.asyncio
async def test_findings_are_grouped_by_category_with_the_dependency_index(
    tmp_path: Path, helpers: ModuleType
) -> None:
    app = TiebreakApp(tmp_path / "absent.toml", inventory_path=helpers.JUNE)
    async with app.run_test(size=SIZE) as pilot:
        tree = await open_results(app, pilot)
        lines = labels(tree)
        assert lines[0] == "Infrastructure (2)"
        assert lines[3] == "Poste de travail (2)"
        assert lines[6] == "Logiciels (3)"
        assert lines[1].startswith("  ● Microsoft Entra ID")
        assert lines[2] == "  ● OpenSSH 127.0.0.1"
        index = app.screen.query_one("#index", Static).content
        assert isinstance(index, Text)
        assert index.plain.startswith("Indice de dépendance : Global 74/100")
        assert "hors Europe 5 · Union européenne 1 · communautaire 1" in index.plain
        # Colours follow the jurisdiction: red for non-EU, green for the EU.
        firefox, libreoffice = tree.root.children[1].children
        assert firefox.label.spans[0].style == "bold red"  # type: ignore[union-attr]
        assert libreoffice.label.spans[0].style == "green"  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_the_detail_shows_vendor_evidence_factors_and_alternatives(
    tmp_path: Path, helpers: ModuleType
) -> None:
    app = TiebreakApp(tmp_path / "absent.toml", inventory_path=helpers.JUNE)
    async with app.run_test(size=SIZE) as pilot:
        tree = await open_results(app, pilot)
        assert tree.cursor_line == 1  # the first finding
        for _ in range(6):  # down to Logiciels > Exchange Online
            await pilot.press("down")
        assert tree.cursor_node is not None and "Exchange Online" in str(tree.cursor_node.label)
        shown = detail(app)
        assert shown.startswith("Exchange Online — exemple.fr")
        assert "fournisseur : Microsoft\n  immatriculé en : États-Unis (US)" in shown
        assert "juridiction : hors Europe" in shown
        assert "exposition : us-cloud-act, us-fisa-702" in shown
        assert "contrôle 39 : contrôle non européen" in shown  # a factor with its reason
        assert "BlueMind" in shown and "Proton Mail" in shown  # alternatives by their name
        assert "dns · dns.mx : exemple-fr.mail.protection.outlook.com @ exemple.fr" in shown


@pytest.mark.asyncio
async def test_search_and_jurisdiction_filter(tmp_path: Path, helpers: ModuleType) -> None:
    app = TiebreakApp(tmp_path / "absent.toml", inventory_path=helpers.JUNE)
    async with app.run_test(size=SIZE) as pilot:
        tree = await open_results(app, pilot)
        await pilot.press("slash", *"mozilla")  # by vendor
        await pilot.pause()
        assert labels(tree) == ["Poste de travail (1)", "  ● Mozilla Firefox mairie-pc"]
        assert detail(app).startswith("Mozilla Firefox — mairie-pc")
        await pilot.press("escape")  # clears the search, back to the list
        await pilot.pause()
        assert len(labels(tree)) == 10
        await pilot.press("j")  # non-European only
        await pilot.pause()
        assert all("OpenSSH" not in line and "LibreOffice" not in line for line in labels(tree))
        assert len(labels(tree)) == 8
        await pilot.press("j")  # Europe outside the EU: nothing in this inventory
        await pilot.pause()
        assert labels(tree) == []
        assert detail(app) == "Aucun constat ne correspond."
        await pilot.press("slash", *"127.0.0")  # by place, whatever the filter was
        await pilot.press("escape")
        await pilot.pause()
        assert len(labels(tree)) == 10


@pytest.mark.asyncio
async def test_a_hostile_value_is_shown_literally(tmp_path: Path, helpers: ModuleType) -> None:
    app = TiebreakApp(tmp_path / "absent.toml", inventory_path=helpers.JUNE)
    async with app.run_test(size=SIZE) as pilot:
        tree = await open_results(app, pilot)
        zoom = tree.root.children[2].children[2]
        label = zoom.label
        assert isinstance(label, Text)
        assert label.plain == "● Zoom Workplace (Meetings) [bold red]poste[/]\\x1b[31m"
        assert "\x1b" not in label.plain
        # Only the jurisdiction dot and the dimmed place are styled: no markup was read.
        assert [(s.start, s.end) for s in label.spans] == [(0, 2), (27, len(label.plain))]
        await pilot.press("slash", *"zoom", "enter", "down")
        await pilot.pause()
        shown = detail(app)
        assert "où : [bold red]poste[/]\\x1b[31m" in shown
        assert "\x1b" not in shown
        screen = app.export_screenshot()
        assert "[bold&#160;red]poste[/]" in screen or "[bold red]poste[/]" in screen
