"""The history screen on scans recorded in a private state directory: the list, newest first, and
what appeared and disappeared between the selected scan and the previous one, or a chosen one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest
from rich.text import Text
from textual.widgets import DataTable, Static

from agent.history import record_scan
from agent.tui.app import TiebreakApp

SIZE = (80, 24)


def shown(app: TiebreakApp, selector: str) -> str:
    content = app.screen.query_one(selector, Static).content
    return content.plain if isinstance(content, Text) else str(content)


def record_three_scans(helpers: ModuleType, tmp_path: Path) -> None:
    """May, June (saved to a file) and July (Zoom gone) of the same organisation."""
    may, june = helpers.read_inventory(helpers.MAY), helpers.read_inventory(helpers.JUNE)
    july = june.model_copy(
        update={
            "id": uuid.UUID("0f0e0d0c-0b0a-4908-8706-050403020100"),
            "started_at": datetime(2025, 7, 1, 9, 30, tzinfo=UTC),
            "finished_at": datetime(2025, 7, 1, 9, 31, tzinfo=UTC),
            "findings": [f for f in june.findings if f.product != "zoom"],
        }
    )
    record_scan(may, None)
    record_scan(june, tmp_path / "juin.json")
    record_scan(july, None)


@pytest.mark.asyncio
async def test_the_selected_scan_is_compared_with_the_previous_one_or_a_chosen_one(
    tmp_path: Path, helpers: ModuleType
) -> None:
    record_three_scans(helpers, tmp_path)
    app = TiebreakApp(tmp_path / "absent.toml")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("f5")
        await app.workers.wait_for_complete()
        await pilot.pause()
        table: DataTable[Text | str] = app.screen.query_one("#scans", DataTable)
        dates = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert dates == ["2025-07-01 09:30", "2025-06-02 09:30", "2025-05-05 09:30"]
        assert str(tmp_path / "juin.json") in str(table.get_row_at(1)[4])

        # July against June: Zoom disappeared.
        assert shown(app, "#compare-title") == "Du 2025-06-02 09:30 au 2025-07-01 09:30 : +0 −1 =6"
        comparison = shown(app, "#comparison")
        assert "Disparus (1)\n− ● Zoom Workplace (Meetings) — Zoom, Logiciels" in comparison

        # June against May: Zoom and LibreOffice appeared, Teams disappeared.
        await pilot.press("down")
        await pilot.pause()
        assert shown(app, "#compare-title").endswith(": +2 −3 =5")
        comparison = shown(app, "#comparison")
        appeared = comparison.split("Disparus")[0]
        assert "Zoom Workplace" in appeared and "LibreOffice" in appeared
        disappeared = comparison.split("Disparus")[1].split("Inchangés")[0]
        assert "Microsoft Teams" in disappeared and "Zoom" not in disappeared

        # May is the first scan; then choose it as the reference and go back to July.
        await pilot.press("down")
        await pilot.pause()
        assert "premier scan, rien à comparer" in shown(app, "#compare-title")
        await pilot.press("c", "up", "up")
        await pilot.pause()
        assert str(table.get_row_at(2)[0]).startswith("★ ")
        assert shown(app, "#compare-title") == "Du 2025-05-05 09:30 au 2025-07-01 09:30 : +1 −3 =5"
        await pilot.press("p")  # back to comparing with the previous scan
        await pilot.pause()
        assert shown(app, "#compare-title").endswith(": +0 −1 =6")


@pytest.mark.asyncio
async def test_no_history_yet(tmp_path: Path) -> None:
    app = TiebreakApp(tmp_path / "absent.toml")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("f5")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert shown(app, "#compare-title") == "Aucun scan enregistré sur cette machine."
