"""`tiebreak tui`: the sysadmin's terminal UI, one screen per step.

Configuration (edit and test the TOML) → Scan (live per-probe progress, cancellable) → Results
(findings by TIE Break category, detail, search) → History (what appeared and disappeared) →
Send (save the inventory, or send it through the spool). The application holds what the screens
share: the configuration text and its last valid form, the last scan and where its inventory went.
Everything that waits on the disk or the network runs in a worker thread.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.worker import get_current_worker

from agent.i18n import t
from agent.tui.base import NAVIGATION, TiebreakScreen, localise
from agent.tui.screens.config import ConfigScreen
from agent.tui.screens.history import HistoryScreen
from agent.tui.screens.results import ResultsScreen
from agent.tui.screens.scan import ScanScreen
from agent.tui.screens.send import SendScreen

if TYPE_CHECKING:
    from agent.config import Config
    from agent.orchestrator import PlannedProbe
    from inventory import Inventory

PlanFactory = Callable[["Config"], list["PlannedProbe"]]

QUIT_CONFIRM_SECONDS = 5.0
"""Time within which a second ctrl+q quits despite unsaved work."""

SWITCH_INTERVAL = 0.001
"""How long (s) a thread keeps the GIL when another waits for it, while the TUI runs. Python's
default (5 ms) lets probes that work in Python (parsing package databases…) keep the UI thread
waiting several times per key: with 1 ms, keys answer in under 100 ms during a scan
(benchmarks/bench_tui.py)."""


def _default_plan(config: Config) -> list[PlannedProbe]:
    from agent.scan import plan_probes

    return plan_probes(config)


class TiebreakApp(App[int]):
    """The terminal UI of the tiebreak agent."""

    CSS_PATH = "tiebreak.tcss"
    TITLE = "tiebreak"
    ENABLE_COMMAND_PALETTE = False
    MODES: ClassVar[dict[str, Any]] = {
        "config": ConfigScreen,
        "scan": ScanScreen,
        "results": ResultsScreen,
        "history": HistoryScreen,
        "send": SendScreen,
    }
    DEFAULT_MODE = "config"
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(key, f"switch_mode('{mode}')", english, show=False)
            for mode, key, _f, english in NAVIGATION
        ),
        Binding("ctrl+q", "quit_safely", "quit", priority=True),
    ]

    def __init__(
        self,
        config_path: Path,
        inventory_path: Path | None = None,
        plan: PlanFactory | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__()
        localise(self)
        self.config_path = config_path
        self.inventory_path = inventory_path
        self.plan_factory: PlanFactory = plan or _default_plan
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.config: Config | None = None
        """The configuration as last validated (None while it has errors)."""
        self.inventory: Inventory | None = None
        """The inventory of the last scan, or the one opened with --inventory."""
        self.inventory_serial = 0
        """Bumped each time `inventory` changes, so screens know to redraw."""
        self.complete = True
        self.saved_to: Path | None = inventory_path
        self.sent = False
        self.product_names: dict[str, str] = {}
        self.screens_by_mode: dict[str, TiebreakScreen] = {}
        self._quit_asked = 0.0
        self._switch_interval = sys.getswitchinterval()
        self.ready_at: float | None = None
        """time.monotonic() when the first screen was drawn (for benchmarks)."""

    def on_mount(self) -> None:
        """Give the UI thread the GIL sooner; open the inventory given on the command line."""
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL)
        self.call_after_refresh(self._first_paint)
        if self.inventory_path is not None:
            self._open_inventory(self.inventory_path)

    def on_unmount(self) -> None:
        """Put back the interpreter's thread switch interval."""
        sys.setswitchinterval(self._switch_interval)

    def _first_paint(self) -> None:
        self.ready_at = time.monotonic()

    @work(thread=True, exclusive=True, group="inventory")
    def _open_inventory(self, path: Path) -> None:
        from inventory import Inventory

        try:
            inventory = Inventory.model_validate_json(path.read_bytes())
        except (OSError, ValueError) as exc:
            message = t(
                f"inventaire {path} illisible : {exc}", f"cannot read inventory {path}: {exc}"
            )
            self.call_from_thread(self.notify, message, severity="error", timeout=10)
            return
        names = self.catalog_names()
        if not get_current_worker().is_cancelled:
            self.call_from_thread(self.set_inventory, inventory, True, names, path)

    @staticmethod
    def catalog_names() -> dict[str, str]:
        """Product names of the catalog by id (to name alternatives); empty if it is broken."""
        from fingerprints.catalog import CatalogError, default_catalog

        try:
            catalog = default_catalog()
        except CatalogError:
            return {}
        return {product_id: product.name for product_id, product in catalog.products.items()}

    def set_inventory(
        self,
        inventory: Inventory,
        complete: bool,
        names: dict[str, str] | None = None,
        saved_to: Path | None = None,
    ) -> None:
        """A new inventory to show, save and send (from a scan or a file)."""
        self.inventory = inventory
        self.complete = complete
        self.saved_to = saved_to
        self.sent = False
        if names:
            self.product_names = names
        self.inventory_serial += 1
        self.screen.refresh_bindings()

    def default_output(self) -> Path:
        """Where the inventory is saved unless told otherwise (`agent.scan.default_output`)."""
        from agent.scan import slug

        name = self.inventory.organisation.name if self.inventory else "organisation"
        stamp = self.clock().strftime("%Y%m%dT%H%M%SZ")
        return Path(f"tiebreak-{slug(name)}-{stamp}.json")

    def unsaved_work(self) -> str | None:
        """What would be lost by quitting now, or None."""
        screen = self.screens_by_mode.get("config")
        if isinstance(screen, ConfigScreen) and screen.modified:
            return t("configuration modifiée non enregistrée", "configuration changed, not saved")
        if self.inventory is not None and self.saved_to is None and not self.sent:
            return t("inventaire ni enregistré ni envoyé", "inventory neither saved nor sent")
        return None

    def action_quit_safely(self) -> None:
        """Quit; with unsaved work, only when asked twice."""
        lost = self.unsaved_work()
        now = time.monotonic()
        if lost is None or now - self._quit_asked < QUIT_CONFIRM_SECONDS:
            scan = self.screens_by_mode.get("scan")
            if isinstance(scan, ScanScreen):
                scan.cancel_scan()
            self.exit(0)
            return
        self._quit_asked = now
        self.notify(
            t(f"{lost} : ctrl+q encore pour quitter", f"{lost}: ctrl+q again to quit"),
            severity="warning",
            timeout=QUIT_CONFIRM_SECONDS,
        )
