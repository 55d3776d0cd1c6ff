"""French first, English available: for API callers (Accept-Language) and the server's CLI.

The server does not import the agent, hence this small twin of `agent.i18n` for the command line.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.requests import Request


def wants_english(request: Request) -> bool:
    """True when Accept-Language prefers English to French (the first of the two named wins)."""
    header = request.headers.get("accept-language", "")
    for part in header.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("fr"):
            return False
        if tag.startswith("en"):
            return True
    return False


def say(request: Request, french: str, english: str) -> str:
    """The message in the API caller's language."""
    return english if wants_english(request) else french


def t(french: str, english: str) -> str:
    """The message in the command-line user's language (TIEBREAK_LANG, then LANG)."""
    chosen = os.environ.get("TIEBREAK_LANG") or os.environ.get("LANG", "")
    return english if chosen.lower().startswith("en") else french
