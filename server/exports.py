"""Exports: the audit log as CSV, for `tiebreak server audit-export` and /admin/journal.csv.

Every cell an agent or a person wrote (subjects, values before and after) is attacker-controlled:
a cell that a spreadsheet would read as a formula gets a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

AUDIT_COLUMNS = (
    "at",
    "username",
    "organisation_id",
    "inventory_id",
    "subject",
    "action",
    "before",
    "after",
)
"""The columns of the audit log export, in order."""

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ROWS_PER_CHUNK = 500


def neutralise(value: Any) -> str:
    """A cell's text, with a leading apostrophe when a spreadsheet would run it as a formula."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        stamp: str = value.astimezone(UTC).isoformat()
        return stamp
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _cells(row: Any) -> list[str]:
    mapping = row._mapping
    return [neutralise(mapping[column]) for column in AUDIT_COLUMNS]


def audit_csv_chunks(rows: Iterable[Any]) -> Iterator[str]:
    """The CSV text of audit log rows, header first, a few hundred rows per chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(AUDIT_COLUMNS)
    for count, row in enumerate(rows, start=1):
        writer.writerow(_cells(row))
        if count % _ROWS_PER_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_audit_csv(rows: Iterable[Any], handle: TextIO) -> None:
    """Write audit log rows as CSV to an open text file (opened with newline="")."""
    for chunk in audit_csv_chunks(rows):
        handle.write(chunk)
