"""Snapshots of the key screens at 80x24 (pytest-textual-snapshot), on fixed data: a configuration
file, the fixed inventories, history records with fixed dates, a fixed clock; nothing timed.

After a deliberate change of a screen: `pytest tests/tui/test_tui_snapshots.py --snapshot-update`,
then look at the SVG files in __snapshots__ before committing them.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from textual.pilot import Pilot

from agent.history import record_scan
from agent.tui.app import TiebreakApp

SIZE = (80, 24)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, helpers: ModuleType) -> Path:
    """The test's directory as the current one, with a configuration file (relative paths show
    the same in every run)."""
    monkeypatch.chdir(tmp_path)
    helpers.write_config(tmp_path / "tiebreak.toml")
    return tmp_path


async def settled(pilot: Pilot[Any]) -> None:
    """Workers done, their results drawn."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_configuration_screen(workdir: Path, helpers: ModuleType, snap_compare: Any) -> None:
    app = TiebreakApp(Path("tiebreak.toml"), clock=helpers.fixed_clock)
    assert snap_compare(app, terminal_size=SIZE, run_before=settled)


def test_configuration_error_beside_its_field(
    workdir: Path, helpers: ModuleType, snap_compare: Any
) -> None:
    app = TiebreakApp(Path("tiebreak.toml"), clock=helpers.fixed_clock)

    async def type_a_bad_network(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        await pilot.press("down", "tab", "tab", *"127.0.0.1/8")
        # Each keystroke is validated and redrawn through messages: under load a single pause
        # can snapshot the screen before the last one is drawn.
        await settled(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=type_a_bad_network)


def test_scan_screen_before_the_scan(workdir: Path, helpers: ModuleType, snap_compare: Any) -> None:
    app = TiebreakApp(Path("tiebreak.toml"), plan=helpers.fast_plan(), clock=helpers.fixed_clock)

    async def open_scan(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        await pilot.press("f3")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=open_scan)


def test_results_screen(workdir: Path, helpers: ModuleType, snap_compare: Any) -> None:
    app = TiebreakApp(Path("tiebreak.toml"), inventory_path=helpers.JUNE, clock=helpers.fixed_clock)

    async def open_results(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        await pilot.press("f4")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=open_results)


def test_results_screen_with_a_hostile_value(
    workdir: Path, helpers: ModuleType, snap_compare: Any
) -> None:
    app = TiebreakApp(Path("tiebreak.toml"), inventory_path=helpers.JUNE, clock=helpers.fixed_clock)

    async def search_zoom(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        await pilot.press("f4", "slash", *"zoom", "enter")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=search_zoom)


def test_history_screen(workdir: Path, helpers: ModuleType, snap_compare: Any) -> None:
    record_scan(helpers.read_inventory(helpers.MAY), None)
    record_scan(helpers.read_inventory(helpers.JUNE), None)
    app = TiebreakApp(Path("tiebreak.toml"), clock=helpers.fixed_clock)

    async def open_history(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        await pilot.press("f5")
        await settled(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=open_history)
