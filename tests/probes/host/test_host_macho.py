"""Code signatures of macOS executables (`probes.host.macho`): the Team ID of a real signed Mach-O,
and damaged, hostile or unsigned files that must give no Team ID, a bounded number of reads and no
exception but `MachOError`.

The real file is a trimmed capture (data/macho/README.md); `trim` below made it, and
`python tests/probes/host/test_host_macho.py ORIGINAL OUTPUT` makes it again.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from probes.host.macho import MachOError, Signature, executable_signature, read_signature

DATA = Path(__file__).resolve().parent / "data" / "macho"
NODE = DATA / "node-arm64-signature.macho"
NODE_TEAM = "HX7739G8FX"
CODEDIRECTORY_MAGIC = 0xFADE0C02
KEPT_BLOB = 1024  # blobs up to this size are kept whole; the CMS signature (~9 KB) is left out


def trim(original: Path) -> bytes:
    """The capture of a signed thin 64-bit little-endian Mach-O: its header and load commands,
    then its signature, each CodeDirectory cut before its hash slots (identifier and team id
    kept), other blobs kept when at most 1 KiB. The SuperBlob's offsets and lengths, and the
    dataoff and datasize of LC_CODE_SIGNATURE, are rewritten; every other byte is the original's."""
    with original.open("rb") as file:
        header = file.read(32)
        if struct.unpack_from("<I", header)[0] != 0xFEEDFACF:
            raise ValueError("not a thin 64-bit little-endian Mach-O")
        ncmds, sizeofcmds = struct.unpack_from("<II", header, 16)
        commands = bytearray(file.read(sizeofcmds))
        position = 0
        for _ in range(ncmds):
            cmd, cmdsize = struct.unpack_from("<II", commands, position)
            if cmd == 0x1D:
                break
            position += cmdsize
        else:
            raise ValueError("not signed")
        dataoff, datasize = struct.unpack_from("<II", commands, position + 8)
        file.seek(dataoff)
        signature = file.read(datasize)
    magic, _, count = struct.unpack_from(">III", signature)
    blobs = []
    for entry in range(count):
        kind, offset = struct.unpack_from(">II", signature, 12 + 8 * entry)
        blob_magic, length = struct.unpack_from(">II", signature, offset)
        blob = signature[offset : offset + length]
        if blob_magic == CODEDIRECTORY_MAGIC:
            hash_offset, _, special = struct.unpack_from(">III", blob, 16)
            cut = min(length, hash_offset - special * blob[36])  # blob[36]: hashSize
            blob = struct.pack(">II", blob_magic, cut) + blob[8:cut]
        elif length > KEPT_BLOB:
            continue
        blobs.append((kind, blob))
    index = b""
    offset = 12 + 8 * len(blobs)
    for kind, blob in blobs:
        index += struct.pack(">II", kind, offset)
        offset += len(blob)
    superblob = struct.pack(">III", magic, offset, len(blobs)) + index
    superblob += b"".join(blob for _, blob in blobs)
    start = -(-(32 + sizeofcmds) // 16) * 16
    struct.pack_into("<II", commands, position + 8, start, len(superblob))
    return header + bytes(commands) + bytes(start - 32 - sizeofcmds) + superblob


class Reads:
    """A reader over bytes that counts what the parser asks for."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.calls = 0
        self.bytes = 0

    def __call__(self, offset: int, length: int) -> bytes:
        self.calls += 1
        self.bytes += length
        return self.data[offset : offset + length]


def parse(data: bytes) -> Signature | None:
    return read_signature(Reads(data), len(data))


def node() -> bytes:
    return NODE.read_bytes()


def code_directory(data: bytes) -> int:
    """Offset in the capture of its (only) CodeDirectory."""
    return data.index(struct.pack(">I", CODEDIRECTORY_MAGIC))


def patched(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    copy = bytearray(data)
    struct.pack_into(fmt, copy, offset, *values)
    return bytes(copy)


def signature_command(data: bytes) -> int:
    """Offset in the capture of LC_CODE_SIGNATURE's `dataoff`."""
    position = 32
    while struct.unpack_from("<I", data, position)[0] != 0x1D:
        position += struct.unpack_from("<I", data, position + 4)[0]
    return position + 8


def test_a_real_developer_id_signature_gives_its_team_id() -> None:
    data = node()
    reads = Reads(data)
    assert read_signature(reads, len(data)) == Signature("node", NODE_TEAM)
    assert executable_signature(NODE) == Signature("node", NODE_TEAM)
    # Bounded: header, load commands, SuperBlob header and index, each blob's header, the
    # CodeDirectory's fields and two strings.
    assert reads.calls <= 16
    assert reads.bytes <= 32 + 2496 + 12 + 4 * 8 + 4 * 8 + 52 + 2 * 256


def test_the_trimmed_capture_is_reproducible(tmp_path: Path) -> None:
    # trim() of the capture is the capture: the committed file is what trim() makes.
    assert trim(NODE) == node()
    unsigned = tmp_path / "unsigned"
    unsigned.write_bytes(patched(node(), signature_command(node()) - 8, "<I", 0x26))
    with pytest.raises(ValueError, match="not signed"):
        trim(unsigned)


def test_ad_hoc_and_old_code_directories_have_no_team() -> None:
    data = node()
    directory = code_directory(data)
    assert parse(patched(data, directory + 48, ">I", 0)) == Signature("node", None)
    assert parse(patched(data, directory + 8, ">I", 0x20100)) == Signature("node", None)
    # Not signed at all: LC_CODE_SIGNATURE turned into another command.
    assert parse(patched(data, signature_command(data) - 8, "<I", 0x26)) is None


def test_what_is_not_a_mach_o_is_no_signature(tmp_path: Path) -> None:
    assert parse(b"#!/bin/sh\nexec java -jar app.jar\n") is None
    assert parse(b"") is None
    assert parse(b"\xcf\xfa\xed") is None
    script = tmp_path / "launcher"
    script.write_bytes(b"#!/bin/sh\n")
    assert executable_signature(script) is None


def big_endian(data: bytes) -> bytes:
    """The capture with a big-endian header and load command headers (as PowerPC wrote them)."""
    copy = bytearray(data)
    fields = struct.unpack_from("<8I", data)
    struct.pack_into(">8I", copy, 0, *fields)
    position = 32
    for _ in range(fields[4]):
        cmd, cmdsize = struct.unpack_from("<II", data, position)
        struct.pack_into(">II", copy, position, cmd, cmdsize)
        if cmd == 0x1D:
            struct.pack_into(
                ">II", copy, position + 8, *struct.unpack_from("<II", data, position + 8)
            )
        position += cmdsize
    return bytes(copy)


def fat(slices: list[bytes], wide: bool = False) -> bytes:
    """A fat file (big-endian header) holding `slices` at 4096-byte boundaries."""
    header = struct.pack(">II", 0xCAFEBABF if wide else 0xCAFEBABE, len(slices))
    body = b""
    offset = 4096
    for part in slices:
        if wide:
            header += struct.pack(">IIQQII", 0x0100000C, 0, offset, len(part), 12, 0)
        else:
            header += struct.pack(">IIIII", 0x0100000C, 0, offset, len(part), 12)
        body += part.ljust(-(-len(part) // 4096) * 4096, b"\0")
        offset += -(-len(part) // 4096) * 4096
    return header.ljust(4096, b"\0") + body


def unsigned_slice() -> bytes:
    """A thin 32-bit Mach-O with no load command."""
    return struct.pack("<7I", 0xFEEDFACE, 7, 3, 2, 0, 0, 0)


def test_every_layout_of_a_real_signature() -> None:
    data = node()
    expected = Signature("node", NODE_TEAM)
    assert parse(big_endian(data)) == expected
    assert parse(fat([data])) == expected
    assert parse(fat([unsigned_slice(), data], wide=True)) == expected  # first signed slice
    assert parse(fat([unsigned_slice()])) is None


def outcome(data: bytes) -> Signature | str | None:
    """The parse result, or "damaged": any other exception fails the test."""
    try:
        return parse(data)
    except MachOError:
        return "damaged"


def test_truncated_files_are_damaged_never_an_exception() -> None:
    data = node()
    results = {length: outcome(data[:length]) for length in range(len(data))}
    assert all(result in (None, "damaged") for result in results.values())
    assert results[len(data) - 1] == "damaged"  # the signature runs past the end of the file
    whole = fat([data])
    cuts = range(0, 4096 + len(data), 7)
    assert all(outcome(whole[:length]) in (None, "damaged") for length in cuts)


def test_corrupted_bytes_never_raise_anything_else() -> None:
    data = node()
    for position in range(len(data)):
        for value in (0x00, 0xFF, 0x7F):
            damaged = bytearray(data)
            damaged[position] = value
            result = outcome(bytes(damaged))
            assert result in (None, "damaged") or isinstance(result, Signature), position


HOSTILE: dict[str, Callable[[bytes], bytes]] = {
    "ncmds huge": lambda d: patched(d, 16, "<I", 0xFFFFFFFF),
    "sizeofcmds huge": lambda d: patched(d, 20, "<I", 0xFFFFFFFF),
    "sizeofcmds past the file": lambda d: patched(d, 20, "<I", 1 << 20),
    "cmdsize 0 (a loop)": lambda d: patched(d, 36, "<I", 0),
    "cmdsize past the commands": lambda d: patched(d, 36, "<I", 0x7FFFFFF0),
    "dataoff huge": lambda d: patched(d, signature_command(d), "<I", 0xFFFFFFF0),
    "datasize huge": lambda d: patched(d, signature_command(d) + 4, "<I", 0xFFFFFFFF),
    "SuperBlob magic": lambda d: patched(d, 2528, ">I", 0xFADE0C01),
    "SuperBlob length huge": lambda d: patched(d, 2532, ">I", 0xFFFFFFFF),
    "SuperBlob count huge": lambda d: patched(d, 2536, ">I", 0xFFFFFFFF),
    "SuperBlob count zero": lambda d: patched(d, 2536, ">I", 0),
    "blob offset into the index (a loop)": lambda d: patched(d, 2544, ">I", 0),
    "blob offset huge": lambda d: patched(d, 2544, ">I", 0xFFFFFFF8),
    "CodeDirectory length huge": lambda d: patched(d, code_directory(d) + 4, ">I", 0xFFFFFFFF),
    "CodeDirectory length tiny": lambda d: patched(d, code_directory(d) + 4, ">I", 8),
    "identOffset huge": lambda d: patched(d, code_directory(d) + 20, ">I", 0xFFFFFFFF),
    "teamOffset past the blob": lambda d: patched(d, code_directory(d) + 48, ">I", 112),
    "team id in lower case": lambda d: d.replace(NODE_TEAM.encode(), b"hx7739g8fx"),
    "team id without NUL": lambda d: patched(d, code_directory(d) + 111, "B", 0x58),
    "fat count huge": lambda d: patched(fat([d]), 4, ">I", 0xFFFFFFFF),
    "fat slice outside the file": lambda d: patched(fat([d]), 16, ">I", 1 << 30),
    "fat64 slice offset huge": lambda d: patched(fat([d], wide=True), 16, ">Q", 1 << 62),
    "fat slice in the fat header": lambda d: patched(fat([d]), 16, ">I", 0),
    "fat in fat": lambda d: fat([fat([d])]),
    "Java class file": lambda d: bytes.fromhex("cafebabe00000034") + bytes(64),
}


@pytest.mark.parametrize("damage", HOSTILE)
def test_hostile_headers_are_refused_with_bounded_reads(damage: str) -> None:
    data = HOSTILE[damage](node())
    reads = Reads(data)
    with pytest.raises(MachOError):
        read_signature(reads, len(data))
    assert reads.calls <= 16 and reads.bytes <= 64 * 1024, (reads.calls, reads.bytes)


if __name__ == "__main__":
    Path(sys.argv[2]).write_bytes(trim(Path(sys.argv[1])))
