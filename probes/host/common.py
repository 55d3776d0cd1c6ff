"""What every package source shares: the `Package` record, safe file reading and text decoding.

Reading never raises: an unreadable or badly encoded file becomes a note naming the file, and the
caller keeps whatever could be decoded.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import JsonValue

from inventory.channels import Channel
from probes.base import Emitter


@dataclass(frozen=True, slots=True)
class Package:
    """One installed package or application, as its package database describes it."""

    channel: Channel  # package, package.windows or package.macos
    name: str
    version: str = ""
    publisher: str = ""
    arch: str = ""
    source: str = ""
    extra: tuple[tuple[str, JsonValue], ...] = ()

    def attributes(self) -> dict[str, JsonValue]:
        """The observation attributes: only the fields that are known."""
        attributes: dict[str, JsonValue] = {"source": self.source}
        for key, value in (
            ("version", self.version),
            ("publisher", self.publisher),
            ("arch", self.arch),
            *self.extra,
        ):
            if value:
                attributes[key] = value
        return attributes


@dataclass(slots=True)
class ParseResult:
    """Packages read from a package database, and the damage met on the way."""

    packages: list[Package] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)
    bad_entries: int = 0

    def problem(self) -> str | None:
        """One line describing the damage, or None when the file was clean."""
        if not self.bad_lines and not self.bad_entries:
            return None
        lines, entries = len(self.bad_lines), self.bad_entries
        first = f" (1re ligne / first line {self.bad_lines[0]})" if self.bad_lines else ""
        return (
            f"fichier endommagé, {lines} ligne(s) et {entries} entrée(s) ignorée(s) / "
            f"damaged file, {lines} line(s) and {entries} entry(ies) skipped{first}"
        )


def emit_packages(out: Emitter, locus: str, packages: Iterable[Package]) -> int:
    """Observe each package; return how many were observed."""
    count = 0
    for package in packages:
        out.observe(package.channel, locus, package.name, package.attributes())
        count += 1
    return count


def decode(data: bytes) -> tuple[str, bool]:
    """Text of an export by its byte-order mark (UTF-16 as Windows writes it, else UTF-8).

    Returns the text and whether it decoded cleanly; undecodable bytes become U+FFFD.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif data.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    else:
        encoding = "utf-8"
    try:
        return data.decode(encoding), True
    except UnicodeDecodeError:
        return data.decode(encoding, errors="replace"), False


def read_text(path: Path, out: Emitter) -> str | None:
    """Decoded content of `path`, None when absent; problems become notes naming the file."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        out.note(f"{path}: illisible / unreadable ({exc.strerror or exc})")
        return None
    text, clean = decode(data)
    if not clean:
        out.note(
            f"{path}: encodage invalide, caractères remplacés / invalid encoding, "
            "characters replaced"
        )
    return text


def collect_file(path: Path, parse: Callable[[str], ParseResult], locus: str, out: Emitter) -> int:
    """Read, parse and observe one package database; damage becomes a note naming the file."""
    text = read_text(path, out)
    if text is None:
        return 0
    result = parse(text)
    problem = result.problem()
    if problem:
        out.note(f"{path}: {problem}")
    return emit_packages(out, locus, result.packages)
