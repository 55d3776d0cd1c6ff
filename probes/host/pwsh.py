"""Read `ConvertTo-Json` output of PowerShell: one object, or a list of objects.

A truncated or damaged list keeps the complete objects before the damage, so one cut export does
not lose everything it held.
"""

from __future__ import annotations

import json
from typing import Any


def json_objects(text: str) -> tuple[list[dict[str, Any]], str | None]:
    """Objects of `ConvertTo-Json` output (one object or a list), and what was wrong, if anything.

    A truncated or damaged list keeps the objects before the damage.
    """
    text = text.strip()
    try:
        data = json.loads(text) if text else []
    except json.JSONDecodeError as exc:
        return _salvage(text), f"{exc.msg}, ligne / line {exc.lineno}"
    items = data if isinstance(data, list) else [data]
    objects = [item for item in items if isinstance(item, dict)]
    return objects, None if len(objects) == len(items) else "valeurs non-objets / non-objects"


def _salvage(text: str) -> list[dict[str, Any]]:
    """The complete objects at the start of a damaged JSON list."""
    decoder = json.JSONDecoder()
    objects: list[dict[str, Any]] = []
    position = 1 if text.startswith("[") else len(text)
    while position < len(text):
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        try:
            item, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            break
        if isinstance(item, dict):
            objects.append(item)
    return objects
