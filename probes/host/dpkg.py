"""Debian and Ubuntu packages from the dpkg status file (`var/lib/dpkg/status`).

Reading the file directly costs a few milliseconds and needs no `dpkg-query` process. A stanza
counts when its `Status` says the package is installed; a damaged stanza or line is skipped and
counted, and every stanza that could be read is kept.
"""

from __future__ import annotations

import re
from pathlib import Path

from inventory.channels import Channel
from probes.base import Emitter
from probes.host.common import Package, ParseResult, collect_file

STATUS_PATH = "var/lib/dpkg/status"
# Last word of Status ("install ok installed"); pending triggers leave the package usable.
INSTALLED = frozenset({"installed", "triggers-pending", "triggers-awaited"})
NOT_INSTALLED = frozenset(
    {"not-installed", "config-files", "half-installed", "unpacked", "half-configured"}
)


# Only the fields kept; continuation lines start with a space and never match.
_FIELD = re.compile(
    r"^(Package|Status|Version|Architecture|Maintainer|Source):[ \t]*(.*?)[ \t]*$", re.MULTILINE
)
# A non-blank line that is neither a continuation nor `Name: value`.
_BAD_LINE = re.compile(r"^(?![ \t])(?![^\s:]+:).*\S.*$", re.MULTILINE)
_STANZA_END = re.compile(r"\n[ \t]*\n")


def _bad_lines(text: str) -> list[int]:
    numbers: list[int] = []
    line, position = 1, 0
    for match in _BAD_LINE.finditer(text):
        line += text.count("\n", position, match.start())
        position = match.start()
        numbers.append(line)
    return numbers


def parse_dpkg_status(text: str) -> ParseResult:
    """Installed packages of a dpkg status file; damaged lines and stanzas are counted.

    Regular expressions do the line work in C: the status file of a workstation has tens of
    thousands of lines (descriptions, conffiles) of which six fields per package matter.
    """
    result = ParseResult()
    if text and not text.endswith("\n"):  # the file was cut: its last line may be incomplete
        result.bad_lines.append(text.count("\n") + 1)
        text = text[: text.rfind("\n") + 1]
    result.bad_lines[:0] = _bad_lines(text)
    for stanza in _STANZA_END.split(text):
        if not stanza.strip():
            continue
        fields = dict(_FIELD.findall(stanza))
        name = fields.get("Package", "")
        status = fields.get("Status", "").split()
        if not name or len(status) != 3 or status[2] not in INSTALLED | NOT_INSTALLED:
            result.bad_entries += 1  # a truncated last stanza ends up here too
            continue
        if status[2] in NOT_INSTALLED:
            continue
        source = fields.get("Source", "").split(" ")[0]
        result.packages.append(
            Package(
                channel=Channel.PACKAGE,
                name=name,
                version=fields.get("Version", ""),
                publisher=fields.get("Maintainer", ""),
                arch=fields.get("Architecture", ""),
                source="dpkg",
                extra=(("source_package", source),) if source and source != name else (),
            )
        )
    return result


def collect(root: Path, locus: str, out: Emitter) -> int:
    """Observe the packages of the database under `root`; return how many."""
    return collect_file(root / STATUS_PATH, parse_dpkg_status, locus, out)
