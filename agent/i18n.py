"""French first, English available: pick the language of what people read.

`TIEBREAK_LANG=en` (or a `LANG` starting with `en`) switches to English; French otherwise.
"""

from __future__ import annotations

import os


def language() -> str:
    """`fr` or `en`, from TIEBREAK_LANG, then LANG."""
    chosen = os.environ.get("TIEBREAK_LANG") or os.environ.get("LANG", "")
    return "en" if chosen.lower().startswith("en") else "fr"


def t(french: str, english: str) -> str:
    """The text in the user's language."""
    return english if language() == "en" else french
