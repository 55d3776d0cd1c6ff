"""The configuration file as the TUI edits it: TOML text, changed one key at a time.

The text is the single state: the form sets or removes one key (`set_key`), the TOML editor
replaces the text; both are validated the same way (`validate`) and the problems of
`agent.config` are mapped to the field they name. Setting a key rewrites only that key's line(s),
so comments and layout stay; when the file is laid out in a way this cannot follow (dotted keys,
inline tables), the text is written out again from its data, which loses its comments.

Secrets are never shown: the configuration holds only paths and variable names, and a value under
a secret-looking key (`password`, `token`…) that someone typed into the file is masked in the
editor (`mask_secrets`) and put back when the text is taken (`unmask_secrets`).
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.i18n import t

OPTIONAL_SECTIONS = frozenset({"directory", "server"})
"""Sections that are absent unless configured: emptied, their header goes too."""

_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\s*(#.*)?$")
_ARRAY_HEADER = re.compile(r"^\s*\[\[")
_PROBLEM = re.compile(
    r"^\[(?P<section>[^\]]+)\](?:\s+(?P<key>[A-Za-z0-9_-]+)[^:]*)?:\s*(?P<text>.*)$"
)
_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")
_SECRET_KEY = re.compile(
    r"^(?P<head>\s*(?P<key>[A-Za-z0-9_-]*(?:password|passwd|token|secret|bindpw|api_?key)"
    r"[A-Za-z0-9_-]*)\s*=\s*)(?P<value>.+)$",
    re.IGNORECASE,
)
MASK = '"********"'


def format_value(value: Any) -> str:
    """A Python value as TOML (strings, numbers, booleans, lists and tables of them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value!r}")
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        escaped = "".join(c if c.isprintable() or c == " " else f"\\u{ord(c):04x}" for c in escaped)
        return f'"{escaped}"'
    if isinstance(value, Path):
        return format_value(str(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{_key(k)} = {format_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else format_value(name)


def dump(data: Mapping[str, Any]) -> str:
    """A whole document from its data (no comments): top-level tables, then their sub-tables."""
    lines: list[str] = []

    def table(path: list[str], content: Mapping[str, Any]) -> None:
        scalars = {k: v for k, v in content.items() if not isinstance(v, Mapping)}
        tables = {k: v for k, v in content.items() if isinstance(v, Mapping)}
        if path:
            if lines:
                lines.append("")
            lines.append("[" + ".".join(_key(p) for p in path) + "]")
        lines.extend(f"{_key(k)} = {format_value(v)}" for k, v in scalars.items())
        for name, sub in tables.items():
            table([*path, name], sub)

    table([], data)
    return "\n".join(lines) + "\n"


def _section_of(line: str) -> str | None:
    match = _HEADER.match(line)
    if match is None or _ARRAY_HEADER.match(line):
        return None
    return match.group(1).strip()


def _extent(lines: list[str], start: int) -> int:
    """How many lines the key/value pair starting at `start` spans (a multi-line array)."""
    for count in range(1, min(len(lines) - start, 200) + 1):
        try:
            tomllib.loads("\n".join(lines[start : start + count]))
        except tomllib.TOMLDecodeError:
            continue
        return count
    return 1


def _inline_comment(line: str) -> str:
    """The comment at the end of a one-line `key = value`, or ''."""
    for position in (m.start() for m in re.finditer("#", line)):
        try:
            tomllib.loads(line[:position])
        except tomllib.TOMLDecodeError:
            continue
        return line[position:]
    return ""


def _locate(lines: list[str], section: str) -> tuple[int, int] | None:
    """(header line, end line) of a top-level table; None when it is absent."""
    header = None
    for index, line in enumerate(lines):
        name = _section_of(line)
        if name is None:
            continue
        if header is not None:
            return header, index
        if name == section:
            header = index
    return (header, len(lines)) if header is not None else None


def key_line(text: str, section: str, key: str) -> int | None:
    """The index of the line where `[section] key` is set, None when it is not."""
    lines = text.split("\n")
    found = _locate(lines, section)
    if found is None:
        return None
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    return next((i for i in range(found[0] + 1, found[1]) if pattern.match(lines[i])), None)


def _patch(text: str, section: str, key: str, value: Any | None, near: int | None) -> str:
    lines = text.split("\n")
    found = _locate(lines, section)
    new_line = None if value is None else f"{key} = {format_value(value)}"
    if found is None:
        if new_line is None:
            return text
        body = text.rstrip("\n")
        return (body + "\n\n" if body else "") + f"[{section}]\n{new_line}\n"
    header, end = found
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for index in range(header + 1, end):
        if pattern.match(lines[index]):
            span = _extent(lines, index)
            if new_line is None:
                del lines[index : index + span]
                return "\n".join(lines)
            indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
            comment = _inline_comment(lines[index]) if span == 1 else ""
            lines[index : index + span] = [indent + new_line + (f"  {comment}" if comment else "")]
            return "\n".join(lines)
    if new_line is None:
        return text
    # Where the key was (`near`), else after the section's last key, or right after its header.
    insert = header + 1
    for index in range(header + 1, end):
        stripped = lines[index].strip()
        if stripped and not stripped.startswith("#"):
            insert = index + 1
    if near is not None and header < near <= end:
        insert = near
    lines.insert(insert, new_line)
    return "\n".join(lines)


def _drop_header(text: str, section: str) -> str:
    lines = text.split("\n")
    found = _locate(lines, section)
    if found is None:
        return text
    header, _end = found
    del lines[header]
    return "\n".join(lines)


def _expected(data: dict[str, Any], section: str, key: str, value: Any | None) -> dict[str, Any]:
    """The data once the key is set: what the patched text must read back as."""
    expected = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    table = expected.setdefault(section, {})
    if not isinstance(table, dict):
        raise ValueError(t(f"{section} n'est pas une table", f"{section} is not a table"))
    if value is None:
        table.pop(key, None)
        if not table and section in OPTIONAL_SECTIONS:
            del expected[section]
    else:
        table[key] = tomllib.loads(f"v = {format_value(value)}")["v"]
    return expected


def set_key(
    text: str, section: str, key: str, value: Any | None, near: int | None = None
) -> tuple[str, bool]:
    """The text with `[section] key` set to `value` (removed when None), and whether its comments
    were kept. A key that is not there goes to line `near` when that line is in its section
    (where it was before being emptied). The text must be valid TOML; ValueError when the key
    cannot be set."""
    expected = _expected(tomllib.loads(text), section, key, value)
    patched = _patch(text, section, key, value, near)
    if section not in expected:
        patched = _drop_header(patched, section)
    try:
        if tomllib.loads(patched) == expected:
            return patched, True
    except tomllib.TOMLDecodeError:
        pass
    try:
        return dump(expected), False
    except (TypeError, ValueError) as exc:
        raise ValueError(
            t(
                f"le fichier ne peut pas être réécrit ({exc}) : modifiez-le dans l'onglet TOML",
                f"the file cannot be rewritten ({exc}): edit it in the TOML tab",
            )
        ) from None


@dataclass(frozen=True, slots=True)
class TomlError:
    """Where a TOML text stops being TOML."""

    line: int
    column: int
    message: str

    def describe(self) -> str:
        """The message a person reads."""
        return t(
            f"TOML invalide ligne {self.line}, colonne {self.column} : {self.message}",
            f"invalid TOML at line {self.line}, column {self.column}: {self.message}",
        )


@dataclass(slots=True)
class Validation:
    """The outcome of validating a text: its data and configuration, or where it fails."""

    data: dict[str, Any] | None = None
    config: Any | None = None  # agent.config.Config when valid
    toml_error: TomlError | None = None
    fields: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    sections: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    """Problems with the files the configuration names (missing, untrusted): saving is allowed."""
    warnings: list[str] = field(default_factory=list)

    @property
    def problems(self) -> int:
        """How many problems block the configuration (file problems included)."""
        return (
            (1 if self.toml_error else 0)
            + sum(map(len, self.fields.values()))
            + sum(map(len, self.sections.values()))
            + len(self.general)
        )

    def count(self, section: str) -> int:
        """Problems of one section."""
        return len(self.sections.get(section, [])) + sum(
            len(v) for (s, _k), v in self.fields.items() if s == section
        )


def toml_error(exc: tomllib.TOMLDecodeError, document: str) -> TomlError:
    """Line and column of a TOML error, from its message (Python 3.11 has no attributes)."""
    text = str(exc)
    match = _TOML_POSITION.search(text)
    if match is not None:
        message = _TOML_POSITION.sub("", text).strip()
        return TomlError(int(match.group(1)), int(match.group(2)), message)
    message = text.replace("(at end of document)", "").strip()
    if "at end of document" in text:
        lines = document.split("\n")
        return TomlError(len(lines), len(lines[-1]) + 1, message)
    return TomlError(1, 1, message)


def place(problem: str, validation: Validation, known: set[tuple[str, str]]) -> None:
    """File one `[section] key: message` problem under its field, its section or in general."""
    match = _PROBLEM.match(problem)
    if match is None:
        validation.general.append(problem)
        return
    section, key, text = match.group("section"), match.group("key"), match.group("text")
    if section not in {known_section for known_section, _key in known}:
        validation.general.append(problem)  # a section without a form: the TOML tab edits it
        return
    if key is None:
        # A section's own check names the key first: "[scope] networks : …", "bind_dn demande…".
        named = re.match(rf"^(?:\[{re.escape(section)}\]\s+)?([A-Za-z0-9_]+)\b", text)
        if named is not None and (section, named.group(1)) in known:
            key = named.group(1)
    if key is not None and (section, key) in known:
        validation.fields.setdefault((section, key), []).append(text)
    elif key is not None:
        validation.sections.setdefault(section, []).append(f"{key}: {text}")
    else:
        validation.sections.setdefault(section, []).append(text)


def validate(text: str, path: Path, known: set[tuple[str, str]]) -> Validation:
    """Validate a configuration text as `tiebreak config check` does, problems by field."""
    from agent.config import ConfigError, _check_files, parse_config

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return Validation(toml_error=toml_error(exc, text))
    except RecursionError:
        return Validation(toml_error=TomlError(1, 1, t("imbrication trop profonde", "too deep")))
    validation = Validation(data=data)
    try:
        config = parse_config(data, path)
    except ConfigError as exc:
        for problem in exc.problems:
            place(problem, validation, known)
        return validation
    warnings = io.StringIO()
    try:
        with contextlib.redirect_stderr(warnings):
            _check_files(path, config)
    except ConfigError as exc:
        files = Validation()
        for problem in exc.problems:
            place(problem, files, known)
        for (section, key), texts in files.fields.items():
            validation.fields.setdefault((section, key), []).extend(texts)
        validation.files = list(exc.problems)
    validation.warnings = [
        line.removeprefix("tiebreak: ") for line in warnings.getvalue().splitlines() if line
    ]
    validation.config = config
    return validation


def mask_secrets(text: str) -> tuple[str, dict[str, str]]:
    """The text with values under secret-looking keys masked, and the masked values by line."""
    hidden: dict[str, str] = {}
    lines = text.split("\n")
    for index, line in enumerate(lines):
        match = _SECRET_KEY.match(line)
        if match is None or match.group("key").lower().endswith(("_file", "_env")):
            continue
        masked = match.group("head") + MASK
        hidden[masked.strip()] = match.group("value")
        lines[index] = masked
    return "\n".join(lines), hidden


def unmask_secrets(text: str, hidden: Mapping[str, str]) -> str:
    """Put back the values `mask_secrets` hid, on the lines still showing the mask."""
    if not hidden:
        return text
    lines = text.split("\n")
    for index, line in enumerate(lines):
        value = hidden.get(line.strip())
        if value is not None:
            lines[index] = line.replace(MASK, value, 1)
    return "\n".join(lines)
