"""The send screen: save the inventory to a file, or send it to the server through the spool.

Sending writes the inventory to the spool first (`agent.sender.spool_and_deliver`), then sends what
waits there: whatever the server answers (review page, wrong token, unreachable server, expired
certificate), nothing is lost, and what was not sent stays in the spool for `tiebreak send`. The
spool's state is shown before and after. Disk and network work run in worker threads.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Input, Label, Static

from agent.i18n import t
from agent.tui.base import NavBar, TiebreakScreen, plain

if TYPE_CHECKING:
    from agent.config import ServerConfig
    from agent.sender import Outcome
    from agent.spool import SpoolState
    from inventory import Inventory


def spool_text(state: SpoolState) -> Text:
    """What waits in the spool, as a person reads it."""
    text = Text(t("File d'attente ", "Spool "), style="bold")
    text.append_text(plain(str(state.directory)))
    if state.problem:
        text.append("\n")
        text.append_text(plain(state.problem, "bold red"))
    from agent.spool import human_size

    count = len(state.waiting)
    used, limit = human_size(state.total_bytes), human_size(state.limit_bytes)
    text.append(
        t(
            f"\n{count} inventaire(s) en attente ({used} sur {limit})",
            f"\n{count} inventory(ies) waiting ({used} of {limit})",
        ),
        style="yellow" if count else "green",
    )
    if state.rejected:
        text.append(t(f", {state.rejected} refusé(s)", f", {state.rejected} refused"), style="red")
    if state.dropped:
        text.append(
            t(
                f", {state.dropped} abandonné(s) faute de place",
                f", {state.dropped} dropped for lack of room",
            ),
            style="red",
        )
    return text


def outcome_text(name: str, outcome: Outcome, base: str, spool: Path) -> Text:
    """What became of one inventory."""
    if outcome.sent:
        receipt = outcome.receipt or {}
        page = str(receipt.get("page") or receipt.get("url") or "")
        return plain(
            t(
                f"✓ Inventaire {name} envoyé, à valider sur {base}{page}",
                f"✓ Inventory {name} sent, to review at {base}{page}",
            ),
            "bold green",
        )
    if outcome.permanent:
        return plain(
            t(
                f"✗ Inventaire {name} refusé par le serveur ({outcome.message}) ; "
                f"gardé dans {spool / 'rejected'}",
                f"✗ Inventory {name} refused by the server ({outcome.message}); "
                f"kept in {spool / 'rejected'}",
            ),
            "bold red",
        )
    return plain(
        t(
            f"… Inventaire {name} non envoyé ({outcome.message}) ; en attente dans {spool}, "
            "renvoyé par ctrl+o ou « tiebreak send »",
            f"… Inventory {name} not sent ({outcome.message}); waiting in {spool}, "
            "resent by ctrl+o or 'tiebreak send'",
        ),
        "bold yellow",
    )


class SendScreen(TiebreakScreen):
    """Save or send the inventory."""

    MODE = "send"
    AUTO_FOCUS = "#output"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "save", priority=True),
        Binding("ctrl+o", "send", "send", priority=True),
        Binding("ctrl+r", "refresh", "refresh", priority=True),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.serial = -1
        self.busy = False

    def compose(self) -> ComposeResult:
        """The inventory, where to save it, the spool and the server's answers."""
        yield NavBar(self.MODE)
        yield Static("", id="inventory-info")
        with Horizontal(id="output-row"):
            yield Label(t("Fichier :", "File:"), id="output-label")
            yield Input(id="output", compact=True)
        yield Static("", id="spool-state")
        with VerticalScroll(id="answers-pane"):
            yield Static("", id="answers")
        yield Footer()

    def on_mount(self) -> None:
        """Show the inventory and the spool."""
        self.on_screen_resume()

    def on_screen_resume(self) -> None:
        """A new inventory may have arrived; the spool may have changed."""
        if self.serial != self.state.inventory_serial:
            self.serial = self.state.inventory_serial
            self.query_one("#answers", Static).update("")
            saved = self.state.saved_to
            output = saved if saved is not None else self.state.default_output()
            self.query_one("#output", Input).value = str(output)
        self._show_inventory()
        self.action_refresh()

    def _show_inventory(self) -> None:
        inventory = self.state.inventory
        info = self.query_one("#inventory-info", Static)
        if inventory is None:
            info.update(
                plain(
                    t(
                        "Pas d'inventaire à enregistrer ou envoyer : lancez un scan (F3).",
                        "No inventory to save or send: run a scan (F3).",
                    )
                )
            )
            self.refresh_bindings()
            return
        text = plain(inventory.organisation.name, "bold")
        when = inventory.started_at.strftime("%Y-%m-%d %H:%M UTC")
        state = t("complet", "complete") if self.state.complete else t("partiel", "partial")
        text.append(
            t(
                f" — scan du {when}, {state}, {inventory.summary.findings} produits\n",
                f" — scan of {when}, {state}, {inventory.summary.findings} products\n",
            )
        )
        text.append(f"id {inventory.id}", style="dim")
        if self.state.saved_to is not None:
            text.append_text(
                plain(
                    t(f" — enregistré : {self.state.saved_to}", f" — saved: {self.state.saved_to}"),
                    "green",
                )
            )
        if self.state.sent:
            text.append(t(" — envoyé", " — sent"), style="green")
        info.update(text)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Save and send need an inventory, and one operation at a time."""
        if action in ("save", "send"):
            return self.state.inventory is not None and not self.busy
        return True

    # -- saving ----------------------------------------------------------------------------------

    def action_save(self) -> None:
        """Write the inventory to the file named above (atomically)."""
        inventory = self.state.inventory
        text = self.query_one("#output", Input).value.strip()
        if inventory is None or self.busy:
            return
        if not text:
            self.notify(t("nom de fichier vide", "empty file name"), severity="error")
            return
        self.busy = True
        self.refresh_bindings()
        self._save(inventory, Path(text))

    @work(thread=True, exclusive=True, group="save")
    def _save(self, inventory: Inventory, path: Path) -> None:
        from agent.scan import check_writable, write_inventory

        try:
            check_writable(path)
            write_inventory(inventory, path)
        except OSError as exc:
            message = t(f"inventaire non enregistré : {exc}", f"inventory not saved: {exc}")
            self.app.call_from_thread(self._done, message, "bold red", None)
            return
        problem = None
        try:
            from agent.history import record_scan

            record_scan(inventory, path)
        except Exception as exc:  # noqa: BLE001 - the file is written; history is a bonus
            problem = f"{type(exc).__name__}: {exc}"
        message = t(f"Inventaire enregistré dans {path}", f"Inventory saved to {path}")
        if problem:
            message += t(f" (historique : {problem})", f" (history: {problem})")
        self.app.call_from_thread(self._done, message, "bold green", path)

    def _done(self, message: str, style: str, saved: Path | None) -> None:
        self.busy = False
        if saved is not None:
            self.state.saved_to = saved
        self._answer([plain(message, style)])
        self._show_inventory()

    def _answer(self, lines: list[Text]) -> None:
        answers = self.query_one("#answers", Static)
        text = Text("\n").join(lines)
        answers.update(text)

    # -- sending ---------------------------------------------------------------------------------

    def action_send(self) -> None:
        """Send the inventory (and what waits in the spool) to the server of [server]."""
        inventory = self.state.inventory
        if inventory is None or self.busy:
            return
        config = self.state.config
        if config is None or config.server is None:
            self._answer(
                [
                    plain(
                        t(
                            "Il faut une configuration valide avec une section [server] "
                            "(url, token_file) : F2.",
                            "A valid configuration with a [server] section (url, token_file) "
                            "is needed: F2.",
                        ),
                        "bold red",
                    )
                ]
            )
            return
        self.busy = True
        self.refresh_bindings()
        self._answer([plain(t("Envoi en cours…", "Sending…"), "cyan")])
        self._send(inventory, config.server)

    @work(thread=True, exclusive=True, group="send")
    def _send(self, inventory: Inventory, server: ServerConfig) -> None:
        from agent.sender import (
            SpoolError,
            SpoolFullError,
            spool_and_deliver,
            spool_directory,
        )

        notes: list[str] = []
        lines: list[Text] = []
        spool = spool_directory()
        sent = False
        document = inventory.to_json().encode("utf-8")
        try:
            outcomes = spool_and_deliver(document, str(inventory.id), server, warn=notes.append)
        except SpoolError as exc:
            lines.append(
                plain(t(f"✗ rien n'est envoyé : {exc}", f"✗ nothing sent: {exc}"), "bold red")
            )
        except SpoolFullError as exc:
            lines.append(
                plain(
                    t(
                        f"✗ file d'attente pleine ({exc.strerror}) : enregistrez l'inventaire "
                        "(ctrl+s) puis « tiebreak send FICHIER » une fois de la place libérée",
                        f"✗ spool full ({exc.strerror}): save the inventory (ctrl+s), then "
                        "'tiebreak send FILE' once space is freed",
                    ),
                    "bold red",
                )
            )
        except OSError as exc:
            lines.append(
                plain(
                    t(
                        f"✗ non envoyé ({exc}) ; l'inventaire attend dans {spool}",
                        f"✗ not sent ({exc}); the inventory waits in {spool}",
                    ),
                    "bold red",
                )
            )
        else:
            base = server.url.rstrip("/")
            lines.extend(outcome_text(name, outcome, base, spool) for name, outcome in outcomes)
            sent = bool(outcomes) and outcomes[-1][1].sent
        lines.extend(plain(note, "yellow") for note in notes)
        self.app.call_from_thread(self._sent, lines, sent)

    def _sent(self, lines: list[Text], sent: bool) -> None:
        self.busy = False
        self.state.sent = self.state.sent or sent
        self._answer(lines)
        self._show_inventory()
        self.action_refresh()

    def action_refresh(self) -> None:
        """Read the spool's state again."""
        self._read_spool(self.state.config.server if self.state.config else None)

    @work(thread=True, exclusive=True, group="spool")
    def _read_spool(self, server: Any) -> None:
        from agent.sender import spool_state

        state = spool_state(server)
        self.app.call_from_thread(self.query_one("#spool-state", Static).update, spool_text(state))
