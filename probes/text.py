"""Text from the outside world (banners, directory values), made safe to store and show.

Control characters, and the invisible ones that reorder or hide text, become spaces; runs of
whitespace become one space; the text is bounded. Observations apply `inventory.models.safe_text`
too; this also keeps the aggregation keys of probes (one operating system, one product string)
free of terminal tricks.
"""

from __future__ import annotations

import re

# C0 and C1 controls, zero-width and direction marks, bidirectional embeddings and isolates.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]+")


def printable(text: str | None, most: int = 256) -> str | None:
    """`text` without control characters, whitespace collapsed, at most `most` characters (the
    last one an ellipsis when cut); None when nothing printable is left."""
    if not text:
        return None
    cleaned = " ".join(_CONTROL.sub(" ", text[: most * 4]).split())
    if len(cleaned) > most:
        cleaned = cleaned[: most - 1] + "…"
    return cleaned or None
