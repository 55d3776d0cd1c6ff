"""The scan screen with fast test probes: live statuses per probe, the progress bar, the inventory
kept and recorded in the history; cancelling keeps what the probes found."""

from __future__ import annotations

import time
from pathlib import Path
from types import ModuleType

import pytest
from rich.text import Text
from textual.widgets import DataTable, ProgressBar, Static

from agent.history import load_history
from agent.tui.app import TiebreakApp

SIZE = (80, 24)


def row(table: DataTable[Text | str], name: str) -> list[str]:
    """A probe's row as plain text."""
    return [cell.plain if isinstance(cell, Text) else str(cell) for cell in table.get_row(name)]


def status(app: TiebreakApp) -> str:
    content = app.screen.query_one("#scan-status", Static).content
    return content.plain if isinstance(content, Text) else str(content)


@pytest.mark.asyncio
async def test_each_probe_shows_how_it_ended_and_the_inventory_is_kept(
    tmp_path: Path, helpers: ModuleType
) -> None:
    config = helpers.write_config(tmp_path / "tiebreak.toml")
    app = TiebreakApp(config, plan=helpers.fast_plan(timeout=1.0))
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("f3")
        await pilot.pause()
        table: DataTable[Text | str] = app.screen.query_one("#probes", DataTable)
        assert [row(table, n)[1] for n in ("catalogue", "cassee", "lente", "absente")] == [
            "en attente"
        ] * 4
        started = time.monotonic()
        await pilot.press("ctrl+r")
        # While the slow probe runs, the screen shows it running with its elapsed time.
        while row(table, "lente")[1] != "en cours" and time.monotonic() - started < 5:
            await pilot.pause(0.05)
        assert row(table, "lente")[1] == "en cours"
        await pilot.pause(0.4)
        assert row(table, "lente")[2].endswith(" s") and row(table, "lente")[2] != "0.0 s"
        assert row(table, "absente")[1] == "ignorée"
        assert row(table, "absente")[4] == "outil introuvable sur cette machine"

        await app.workers.wait_for_complete()
        await pilot.pause()
        assert time.monotonic() - started < 5
        catalogue, cassee, lente = (row(table, n) for n in ("catalogue", "cassee", "lente"))
        assert catalogue[1] == "terminée" and catalogue[3] == "2"
        assert cassee[1] == "échec" and cassee[3] == "1"
        assert "RuntimeError: base de paquets corrompue" in cassee[4]
        assert lente[1] == "délai dépassé" and lente[3] == "1"
        assert lente[4].startswith("délai dépassé / timed out after 1 s")
        progress = app.screen.query_one("#scan-progress", ProgressBar)
        assert progress.percentage == 1.0
        assert status(app).startswith("Scan partiel : 4 observations")

        inventory = app.inventory
        assert inventory is not None and app.complete is False
        products = {f.product for f in inventory.findings}
        assert {"exchange-online", "zoom", "firefox", "libreoffice"} <= products
        assert {r.name: r.status.value for r in inventory.probes} == {
            "catalogue": "ok",
            "cassee": "failed",
            "lente": "timeout",
            "absente": "skipped",
        }
        # The screen answered keys throughout; the detail line shows a whole error.
        await pilot.press("down")
        detail = app.screen.query_one("#probe-detail", Static).content
        assert isinstance(detail, Text) and "base de paquets corrompue" in detail.plain

        # The inventory is neither saved nor sent: quitting takes a second ctrl+q.
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert app.return_code is None
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert app.return_code == 0

    history = load_history()
    assert [record.inventory_id for record in history] == [str(inventory.id)]
    assert history[0].complete is False and history[0].path is None


@pytest.mark.asyncio
async def test_cancelling_stops_the_probes_and_keeps_what_they_found(
    tmp_path: Path, helpers: ModuleType
) -> None:
    config = helpers.write_config(tmp_path / "tiebreak.toml")
    app = TiebreakApp(config, plan=helpers.fast_plan(timeout=60.0))
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("f3", "ctrl+r")
        table: DataTable[Text | str] = app.screen.query_one("#probes", DataTable)
        started = time.monotonic()
        while row(table, "cassee")[1] != "échec" and time.monotonic() - started < 5:
            await pilot.pause(0.05)
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert time.monotonic() - started < 5  # not the slow probe's 60 s
        lente = row(table, "lente")
        assert lente[1] == "annulée" and lente[3] == "1"
        assert lente[4].startswith("annulée / cancelled")
        assert status(app).startswith("Scan annulé")
        assert app.inventory is not None
        assert "libreoffice-core" in {o.value for o in app.inventory.observations}


@pytest.mark.asyncio
async def test_an_invalid_configuration_cannot_be_scanned(
    tmp_path: Path, helpers: ModuleType
) -> None:
    config = helpers.write_config(tmp_path / "tiebreak.toml", '[dns]\nport = "cinquante-trois"\n')
    app = TiebreakApp(config, plan=helpers.fast_plan())
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("f3", "ctrl+r")
        await pilot.pause()
        assert "La configuration n'est pas valide" in status(app)
        assert app.screen.query_one("#probes", DataTable).row_count == 0
        assert app.inventory is None
