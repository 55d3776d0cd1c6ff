"""Parse Windows registry exports (`.reg` files written by `reg export` or regedit).

Format: a `Windows Registry Editor Version 5.00` header, `[HKEY_…\\key]` section lines and
`"name"=value` lines, where value is a quoted string, `dword:0000002a`, or `hex(N):…` bytes
whose lines end with a backslash when they continue. Lines that fit none of these are counted,
and every value that could be read is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

RegValue = str | int | bytes

_HEADERS = ("Windows Registry Editor Version 5.00", "REGEDIT4")
_NAMED = re.compile(r'^(?:"((?:[^"\\]|\\.)*)"|(@))=(.*)$', re.DOTALL)
_STRING = re.compile(r'^"((?:[^"\\]|\\.)*)"$', re.DOTALL)
_DWORD = re.compile(r"^dword:([0-9a-fA-F]{1,8})$")
_HEX = re.compile(r"^hex(?:\(([0-9a-fA-F]+)\))?:([0-9a-fA-F,\s]*)$")
_UNESCAPE = re.compile(r"\\(.)")


@dataclass(slots=True)
class RegistryExport:
    """Keys of a registry export with their values, and the line numbers that could not be read."""

    keys: dict[str, dict[str, RegValue]] = field(default_factory=dict)
    bad_lines: list[int] = field(default_factory=list)


def _value(raw: str) -> RegValue | None:
    if match := _STRING.match(raw):
        return _UNESCAPE.sub(r"\1", match.group(1))
    if match := _DWORD.match(raw):
        return int(match.group(1), 16)
    if match := _HEX.match(raw):
        try:
            data = bytes.fromhex(match.group(2).replace(",", "").replace(" ", ""))
        except ValueError:
            return None
        kind = (match.group(1) or "3").lower()
        if kind in ("2", "7"):  # REG_EXPAND_SZ, REG_MULTI_SZ: UTF-16 LE, NUL-terminated
            return data.decode("utf-16-le", errors="replace").rstrip("\0").replace("\0", "\n")
        if kind == "b" and len(data) == 8:  # REG_QWORD, little-endian
            return int.from_bytes(data, "little")
        return data
    return None


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Join `\\`-continued lines (hex values), keeping the number of each first line."""
    lines: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip() if pending else raw.rstrip()
        pending = (pending[0], pending[1] + line) if pending else (number, line)
        if pending[1].endswith("\\") and not pending[1].endswith('"'):
            pending = (pending[0], pending[1][:-1])
            continue
        lines.append(pending)
        pending = None
    if pending:
        lines.append(pending)
    return lines


def parse_reg_export(text: str) -> RegistryExport:
    """Keys and values of a `.reg` export; deleted keys are ignored, damaged lines counted."""
    export = RegistryExport()
    current: dict[str, RegValue] | None = None
    for number, line in _logical_lines(text):
        if not line or line.startswith(";") or line in _HEADERS:
            continue
        if line.startswith("[") and line.endswith("]"):
            key = line[1:-1]
            current = None if key.startswith("-") else export.keys.setdefault(key, {})
            continue
        match = _NAMED.match(line)
        value = _value(match.group(3)) if match else None
        if match is None or value is None or current is None:
            export.bad_lines.append(number)
            continue
        current[_UNESCAPE.sub(r"\1", match.group(1)) if match.group(1) is not None else ""] = value
    return export
