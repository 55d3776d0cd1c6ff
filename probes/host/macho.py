"""The signing identity of a macOS executable: the Team ID and identifier its code signature holds.

A Developer ID or App Store signature names the developer's Apple team (`UBF8T346G9` is
Microsoft's) in each CodeDirectory of the signature; an ad-hoc signature names none. The path
from the file to it: the Mach-O header (thin 32/64-bit in either byte order, or a fat file whose
first signed slice is read), its load commands, `LC_CODE_SIGNATURE` (offset and size of the
signature in the slice), the signature's SuperBlob index, then each CodeDirectory's `identOffset`
and, from version 0x20200, `teamOffset` (xnu `osfmk/kern/cs_blobs.h`).

Every read is bounded: a handful of seeks and small reads per file, never the whole file (an
Electron app's executable weighs tens of megabytes), every size, offset and count checked against
the file and capped. Damaged input raises `MachOError` (a `ValueError`), nothing else.
"""

from __future__ import annotations

import os
import re
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Read = Callable[[int, int], bytes]
"""`read(offset, length)`: up to `length` bytes of the file at `offset`."""

FAT_MAGIC, FAT_MAGIC_64 = 0xCAFEBABE, 0xCAFEBABF  # always big-endian
THIN = {  # magic read little-endian: (64-bit, byte order of the header)
    0xFEEDFACE: (False, "<"),
    0xFEEDFACF: (True, "<"),
    0xCEFAEDFE: (False, ">"),
    0xCFFAEDFE: (True, ">"),
}
LC_CODE_SIGNATURE = 0x1D
SUPERBLOB_MAGIC = 0xFADE0CC0  # CSMAGIC_EMBEDDED_SIGNATURE
CODEDIRECTORY_MAGIC = 0xFADE0C02
TEAM_VERSION = 0x20200  # CodeDirectory versions from which `teamOffset` exists
CD_HEADER = 52  # bytes of a CodeDirectory read: up to and including `teamOffset`

MAX_SLICES = 16  # a fat file holds a few architectures; Java class files share the magic
MAX_COMMANDS_SIZE = 1 << 21  # sizeofcmds: tens of kilobytes in real executables
MAX_BLOBS = 64  # a signature holds about ten blobs (directories, requirements, CMS…)
MAX_STRING = 256  # identifier and team id: a reverse-DNS name, ten characters
TEAM_ID = re.compile(r"[A-Z0-9]{10}")


class MachOError(ValueError):
    """The executable is a damaged Mach-O, or its signature is."""


@dataclass(frozen=True, slots=True)
class Signature:
    """What a code signature says of its signer: the identifier, and the team when not ad-hoc."""

    identifier: str
    team_id: str | None


def read_signature(read: Read, size: int) -> Signature | None:
    """The signature of a Mach-O file of `size` bytes; None when it is not a Mach-O or is not
    signed. Raises MachOError when it is damaged."""
    head = read(0, 8)
    if len(head) < 8:
        return None
    (magic,) = struct.unpack_from(">I", head)
    if magic in (FAT_MAGIC, FAT_MAGIC_64):
        return _fat(read, size, head, magic == FAT_MAGIC_64)
    (magic,) = struct.unpack_from("<I", head)
    if magic not in THIN:
        return None
    return _thin(read, 0, size)


def _exact(read: Read, offset: int, length: int, end: int) -> bytes:
    """`length` bytes at `offset`, which must lie before `end`."""
    if offset < 0 or length < 0 or offset + length > end:
        raise MachOError(
            f"lecture hors du fichier ({offset}+{length} > {end}) / "
            f"read outside the file ({offset}+{length} > {end})"
        )
    data = read(offset, length)
    if len(data) != length:
        raise MachOError("fichier tronqué / truncated file")
    return data


def _fat(read: Read, size: int, head: bytes, wide: bool) -> Signature | None:
    """The signature of the first slice of a fat file that has one."""
    (count,) = struct.unpack_from(">I", head, 4)
    if not 0 < count <= MAX_SLICES:
        raise MachOError(f"{count} architectures")
    entry = 32 if wide else 20
    table = _exact(read, 8, count * entry, size)
    for position in range(count):
        if wide:
            offset, length = struct.unpack_from(">QQ", table, position * entry + 8)
        else:
            offset, length = struct.unpack_from(">II", table, position * entry + 8)
        if offset < 8 + count * entry or offset + length > size:
            raise MachOError(
                f"architecture {position} hors du fichier / architecture {position} outside "
                "the file"
            )
        signature = _thin(read, offset, offset + length)
        if signature is not None:
            return signature
    return None


def _thin(read: Read, start: int, end: int) -> Signature | None:
    """The signature of the thin Mach-O between `start` and `end`; None when unsigned."""
    header = _exact(read, start, 28, end)
    (magic,) = struct.unpack_from("<I", header)
    if magic not in THIN:
        raise MachOError("architecture sans en-tête Mach-O / slice without a Mach-O header")
    wide, order = THIN[magic]
    ncmds, sizeofcmds = struct.unpack_from(order + "II", header, 16)
    if sizeofcmds > MAX_COMMANDS_SIZE or ncmds > sizeofcmds // 8:
        raise MachOError(f"ncmds {ncmds}, sizeofcmds {sizeofcmds}")
    commands = _exact(read, start + (32 if wide else 28), sizeofcmds, end)
    position = 0
    for _ in range(ncmds):
        if position + 8 > sizeofcmds:
            raise MachOError("commandes de chargement tronquées / truncated load commands")
        cmd, cmdsize = struct.unpack_from(order + "II", commands, position)
        if cmdsize < 8 or position + cmdsize > sizeofcmds:
            raise MachOError(f"cmdsize {cmdsize}")
        if cmd == LC_CODE_SIGNATURE:
            if cmdsize < 16:
                raise MachOError(f"cmdsize {cmdsize}")
            dataoff, datasize = struct.unpack_from(order + "II", commands, position + 8)
            return _superblob(read, start + dataoff, datasize, end)
        position += cmdsize
    return None


def _superblob(read: Read, start: int, size: int, end: int) -> Signature:
    """The signature whose SuperBlob (big-endian, as every signature blob) spans `size` bytes."""
    if start + size > end:
        raise MachOError("signature hors du fichier / signature outside the file")
    magic, length, count = struct.unpack(">III", _exact(read, start, 12, end))
    if magic != SUPERBLOB_MAGIC:
        raise MachOError(f"signature magic {magic:#x}")
    if not 12 <= length <= size or not 0 < count <= MAX_BLOBS:
        raise MachOError(f"SuperBlob length {length}, count {count}")
    index = _exact(read, start + 12, count * 8, start + length)
    identifier: str | None = None
    for position in range(count):
        _, offset = struct.unpack_from(">II", index, position * 8)
        if offset < 12 + count * 8 or offset + 8 > length:
            raise MachOError(f"blob {position} hors de la signature / outside the signature")
        blob = _exact(read, start + offset, 8, start + length)
        blob_magic, blob_length = struct.unpack(">II", blob)
        if blob_magic != CODEDIRECTORY_MAGIC:
            continue
        if blob_length < 44 or offset + blob_length > length:
            raise MachOError(f"CodeDirectory length {blob_length}")
        ident, team = _code_directory(read, start + offset, blob_length)
        identifier = identifier or ident
        if team is not None:
            return Signature(identifier, team)
    if identifier is None:
        raise MachOError("signature sans CodeDirectory / signature without a CodeDirectory")
    return Signature(identifier, None)


def _code_directory(read: Read, start: int, length: int) -> tuple[str, str | None]:
    """Identifier and team id (None before version 0x20200, or when absent: ad-hoc)."""
    header = _exact(read, start, min(CD_HEADER, length), start + length)
    (version,) = struct.unpack_from(">I", header, 8)
    (ident_offset,) = struct.unpack_from(">I", header, 20)
    identifier = _string(read, start, ident_offset, length)
    team_offset = (
        struct.unpack_from(">I", header, 48)[0] if version >= TEAM_VERSION and length >= 52 else 0
    )
    if not team_offset:
        return identifier, None
    team = _string(read, start, team_offset, length)
    if not TEAM_ID.fullmatch(team):
        raise MachOError(f"team id {team[:20]!r}")
    return identifier, team


def _string(read: Read, start: int, offset: int, length: int) -> str:
    """The NUL-terminated ASCII string at `offset` in the blob of `length` bytes at `start`."""
    if not 0 < offset < length:
        raise MachOError(
            f"chaîne hors du CodeDirectory / string outside the CodeDirectory ({offset})"
        )
    data = _exact(read, start + offset, min(MAX_STRING, length - offset), start + length)
    text, nul, _ = data.partition(b"\0")
    if not nul or not text.isascii():
        raise MachOError("chaîne illisible / unreadable string")
    return text.decode("ascii")


def executable_signature(path: Path) -> Signature | None:
    """The signature of the regular file at `path` (never followed if it is a symbolic link);
    None when it is not a signed Mach-O. Raises OSError, or MachOError when damaged."""
    # O_NONBLOCK: a FIFO planted in a bundle must not hang the probe; fstat refuses it next.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        return descriptor_signature(fd)
    finally:
        os.close(fd)


def descriptor_signature(fd: int) -> Signature | None:
    """The signature of the regular file open as `fd` (see `executable_signature`)."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise MachOError("pas un fichier ordinaire / not a regular file")
    return read_signature(lambda offset, length: os.pread(fd, length, offset), info.st_size)
