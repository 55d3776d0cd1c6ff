"""Alpine packages from the apk database (`lib/apk/db/installed`).

Each package is a block of `letter:value` lines (P name, V version, A arch, m maintainer,
o origin) ended by a blank line; file lists (F, R, Z… lines) are skipped.
"""

from __future__ import annotations

from pathlib import Path

from inventory.channels import Channel
from probes.base import Emitter
from probes.host.common import Package, ParseResult, collect_file

DATABASE_PATH = "lib/apk/db/installed"


def _package(fields: dict[str, str]) -> Package:
    origin = fields.get("o", "")
    return Package(
        channel=Channel.PACKAGE,
        name=fields["P"],
        version=fields.get("V", ""),
        publisher=fields.get("m", ""),
        arch=fields.get("A", ""),
        source="apk",
        extra=(("source_package", origin),) if origin else (),
    )


def parse_apk_installed(text: str) -> ParseResult:
    """Packages of an apk `installed` database; malformed lines and nameless blocks are counted."""
    result = ParseResult()
    fields: dict[str, str] = {}
    for number, line in enumerate([*text.split("\n"), ""], start=1):
        if not line.strip():
            if fields.get("P"):
                result.packages.append(_package(fields))
            elif fields:
                result.bad_entries += 1
            fields = {}
            continue
        if len(line) < 2 or line[1] != ":" or not line[0].isalpha():
            result.bad_lines.append(number)
            continue
        fields.setdefault(line[0], line[2:])
    return result


def collect(root: Path, locus: str, out: Emitter) -> int:
    """Observe the packages of the database under `root`; return how many."""
    return collect_file(root / DATABASE_PATH, parse_apk_installed, locus, out)
