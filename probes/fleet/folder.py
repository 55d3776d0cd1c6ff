"""A folder of inventory files: every file read, newest first, each problem a note naming it.

Files are taken from the folder and its subfolders (links are not followed), newest first, so that
when a machine was exported several times only its latest inventory counts. A file is gzip
(`.gz`, what GLPI keeps), zlib (the `.ocs` the OCS Windows agent writes with `/local`) or plain,
whatever its name says: the first bytes tell. After decompression it is XML (FusionInventory,
GLPI Agent, OCS) or JSON (GLPI Agent); anything else is an unknown format. Reading is bounded
(`FleetSettings.max_file_bytes` after decompression), so a compression bomb costs nothing.

A file that cannot be used (unreadable, truncated, not well-formed, an XML bomb, too big, invalid
against the schema) gives one note naming it and why; the machines already read are kept.
"""

from __future__ import annotations

import contextlib
import gc
import gzip
import io
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException

from probes.fleet.jsoninventory import read_json
from probes.fleet.machine import Machine
from probes.fleet.xmlinventory import InventoryError, read_xml

MAX_DEPTH: Final = 8
"""Subfolder levels walked at most."""
SKIPPED_SUFFIXES: Final = (".log", ".html", ".md", ".txt", ".pdf")


class TooBigError(InventoryError):
    """The file, once decompressed, is larger than allowed."""


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a file gave no machine."""

    path: Path
    reason: str


class _Bounded(io.RawIOBase):
    """A readable stream that refuses to give more than `limit` bytes (TooBigError)."""

    def __init__(self, inner: IO[bytes], limit: int) -> None:
        self.inner = inner
        self.limit = limit
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.inner.read(min(len(buffer), self.limit + 1 - self.count))
        self.count += len(data)
        if self.count > self.limit:
            raise TooBigError(
                f"plus de {self.limit // (1 << 20)} Mio une fois décompressé / more than "
                f"{self.limit // (1 << 20)} MiB once decompressed"
            )
        buffer[: len(data)] = data
        return len(data)


class _Inflating(io.RawIOBase):
    """A zlib stream (OCS `.ocs` files) inflated as it is read."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.inflater = zlib.decompressobj()
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self.pending:
            if self.inflater.eof:
                return 0
            chunk = self.inner.read(65536)
            if not chunk:
                raise EOFError("flux zlib tronqué / truncated zlib stream")
            self.pending = self.inflater.decompress(chunk, len(buffer))
            while not self.pending and self.inflater.unconsumed_tail:
                self.pending = self.inflater.decompress(self.inflater.unconsumed_tail, len(buffer))
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size


def inventory_files(folder: Path) -> list[Path]:
    """Regular files under `folder` (links not followed), newest first."""
    found: list[tuple[float, str, Path]] = []

    def walk(directory: Path, depth: int) -> None:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False) and depth < MAX_DEPTH:
                    walk(Path(entry.path), depth + 1)
                elif entry.is_file(follow_symlinks=False) and not entry.name.lower().endswith(
                    SKIPPED_SUFFIXES
                ):
                    found.append(
                        (-entry.stat(follow_symlinks=False).st_mtime, entry.name, Path(entry.path))
                    )

    walk(folder, 0)
    return [path for _, _, path in sorted(found)]


@contextlib.contextmanager
def open_inventory(path: Path, limit: int) -> Iterator[IO[bytes]]:
    """The decompressed content of `path`, bounded to `limit` bytes."""
    with path.open("rb") as raw:
        magic = raw.read(2)
        raw.seek(0)
        inner: IO[bytes]
        if magic == b"\x1f\x8b":
            inner = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        elif len(magic) == 2 and magic[0] == 0x78 and (magic[0] << 8 | magic[1]) % 31 == 0:
            inner = io.BufferedReader(_Inflating(raw))
        else:
            inner = raw
        yield io.BufferedReader(_Bounded(inner, limit), 65536)


def _first_byte(stream: IO[bytes]) -> bytes:
    """The first significant byte of a stream (after a BOM and white space), without using it."""
    assert isinstance(stream, io.BufferedReader)
    head = stream.peek(512)[:512]
    for bom in (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"):
        if head.startswith(bom):
            return b"<" if head[len(bom) :].lstrip(b"\x00 \t\r\n")[:1] == b"<" else b"?"
    return head.lstrip(b" \t\r\n")[:1]


def _parse(stream: IO[bytes], limit: int) -> Machine:
    kind = _first_byte(stream)
    if kind == b"<":
        return read_xml(stream)
    if kind in (b"{", b"["):
        return read_json(stream.read(limit + 1))
    raise InventoryError(
        "format inconnu : ni XML (FusionInventory, GLPI, OCS) ni JSON (GLPI Agent) / unknown "
        "format: neither XML (FusionInventory, GLPI, OCS) nor JSON (GLPI Agent)"
    )


def _reread_as_utf8(path: Path, limit: int) -> Machine:
    """A second reading of a document with bytes that are not UTF-8: they become U+FFFD."""
    with open_inventory(path, limit) as stream:
        data = stream.read(limit + 1)
    cleaned = data.decode("utf-8", errors="replace").encode("utf-8")
    return _parse(io.BufferedReader(io.BytesIO(cleaned)), limit)


def read_file(path: Path, limit: int) -> tuple[Machine | None, Problem | None, bool]:
    """The machine in one inventory file, or why there is none; and whether characters were
    replaced (bytes that were not UTF-8).

    The cyclic garbage collector is paused while the file is read: an inventory's tree is
    thousands of objects without a cycle, and each collection it would trigger walks every object
    the agent holds (the compiled catalog…), which made reading a fleet twice as slow.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _read_file(path, limit)
    finally:
        if collecting:
            gc.enable()


def _read_file(path: Path, limit: int) -> tuple[Machine | None, Problem | None, bool]:
    try:
        with open_inventory(path, limit) as stream:
            return _parse(stream, limit), None, False
    except DefusedXmlException as exc:
        reason = (
            f"XML refusé : DTD ou entité interdite (bombe XML ?) / XML refused: forbidden DTD or "
            f"entity (XML bomb?) ({type(exc).__name__})"
        )
    except ParseError as exc:
        if "invalid token" in str(exc) or "encoding" in str(exc):
            try:
                return _reread_as_utf8(path, limit), None, True
            except (ParseError, InventoryError, OSError, EOFError, zlib.error) as again:
                exc = again if isinstance(again, ParseError) else exc
        reason = f"XML mal formé / malformed XML ({exc})"
    except TooBigError as exc:
        reason = str(exc)
    except InventoryError as exc:
        reason = str(exc)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        reason = (
            f"fichier compressé tronqué ou abîmé / truncated or damaged compressed file ({exc})"
        )
    except RecursionError:
        reason = "imbrication trop profonde / nested too deeply"
    except OSError as exc:
        reason = f"illisible / unreadable ({exc.strerror or exc})"
    return None, Problem(path, reason), False
