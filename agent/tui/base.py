"""What every screen of the TUI shares: the navigation bar, bindings in the user's language, and
safe text for values that came from the scanned systems."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual.binding import Binding, BindingsMap
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import Static

from agent.i18n import t

if TYPE_CHECKING:
    from agent.tui.app import TiebreakApp

NAVIGATION: tuple[tuple[str, str, str, str], ...] = (
    ("config", "f2", "Configuration", "Configuration"),
    ("scan", "f3", "Scan", "Scan"),
    ("results", "f4", "Résultats", "Results"),
    ("history", "f5", "Historique", "History"),
    ("send", "f6", "Envoi", "Send"),
)
"""The screens: mode name, key, French and English titles, in the navigation bar's order."""

WORDS: dict[str, tuple[str, str]] = {
    "quit": ("Quitter", "Quit"),
    "save": ("Enregistrer", "Save"),
    "test": ("Tester", "Test"),
    "start": ("Lancer", "Start"),
    "cancel": ("Annuler", "Cancel"),
    "search": ("Rechercher", "Search"),
    "filter": ("Juridiction", "Jurisdiction"),
    "clear": ("Effacer", "Clear"),
    "base": ("Comparer à", "Compare with"),
    "previous": ("Précédent", "Previous"),
    "send": ("Envoyer", "Send"),
    "refresh": ("Actualiser", "Refresh"),
    "next_section": ("Section suivante", "Next section"),
}
"""Binding descriptions, by the key used in `BINDINGS`."""


def safe(text: str, limit: int = 500) -> str:
    """A value from outside made printable: control characters escaped, long values cut."""
    cut = text if len(text) <= limit else text[:limit] + "…"
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in cut)


def plain(text: str, style: str = "") -> Text:
    """Text shown literally (never read as markup), control characters escaped."""
    return Text(safe(text), style=style)


def localise(node: DOMNode) -> None:
    """Give the node's bindings their description in the user's language (`WORDS`).

    Binding descriptions are fixed when a class is created; the language is read when the screen
    is made, so `TIEBREAK_LANG` applies to a TUI started after it is set.
    """
    bindings: list[Binding] = []
    for key_bindings in node._bindings.key_to_bindings.values():
        for binding in key_bindings:
            french, english = WORDS.get(binding.description, (binding.description,) * 2)
            bindings.append(replace(binding, description=t(french, english)))
    node._bindings = BindingsMap(bindings)


class NavBar(Static):
    """The screens and their keys, the current one highlighted."""

    def __init__(self, current: str) -> None:
        super().__init__(self._render_modes(current), id="navbar")

    @staticmethod
    def _render_modes(current: str) -> Text:
        text = Text()
        text.append(" tiebreak ", style="bold")
        for mode, key, french, english in NAVIGATION:
            chosen = mode == current
            text.append(" ")
            text.append(f" {key.upper()} ", style="bold reverse" if chosen else "bold")
            text.append(t(french, english) + " ", style="bold reverse" if chosen else "")
        return text


class TiebreakScreen(Screen[None]):
    """A screen of the TUI: bindings in the user's language, access to the shared state."""

    MODE: ClassVar[str] = ""

    def __init__(self) -> None:
        super().__init__()
        localise(self)

    def on_mount(self) -> None:
        """Let the application find this screen by its mode."""
        self.state.screens_by_mode[self.MODE] = self

    @property
    def state(self) -> TiebreakApp:
        """The application, which holds the configuration, the scan and the inventory."""
        return cast("TiebreakApp", self.app)


def lines_text(lines: Iterable[tuple[str, str]]) -> Text:
    """(text, style) lines as one Text, each value shown literally."""
    text = Text()
    for index, (line, style) in enumerate(lines):
        if index:
            text.append("\n")
        text.append(safe(line), style=style)
    return text
