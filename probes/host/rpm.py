"""RPM packages (Red Hat, Rocky, AlmaLinux, Fedora, SUSE) from `rpm -qa` with a query format.

The rpm database is a BerkeleyDB, NDB or SQLite file depending on the release: asking `rpm`
is the one reader that understands them all. The output (or a captured export of the same
command, see `QUERY_FORMAT`) is parsed by `parse_rpm_query`, one tab-separated line per package.
"""

from __future__ import annotations

from inventory.channels import Channel
from probes.host.common import Package, ParseResult

FIELDS = ("NAME", "EPOCH", "VERSION", "RELEASE", "ARCH", "VENDOR", "PACKAGER")
QUERY_FORMAT = "\\t".join(f"%{{{field}}}" for field in FIELDS) + "\\n"
"""`rpm -qa --queryformat` argument; capture an export with the same format on the server."""

DATABASE_PATHS = ("var/lib/rpm", "usr/lib/sysimage/rpm")
_NONE = "(none)"


def parse_rpm_query(text: str) -> ParseResult:
    """Packages from `rpm -qa --queryformat QUERY_FORMAT` output; malformed lines are counted."""
    result = ParseResult()
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != len(FIELDS) or not parts[0] or not parts[2]:
            result.bad_lines.append(number)
            continue
        name, epoch, version, release, arch, vendor, packager = (
            "" if part == _NONE else part for part in parts
        )
        full_version = f"{version}-{release}" if release else version
        if epoch:
            full_version = f"{epoch}:{full_version}"
        result.packages.append(
            Package(
                channel=Channel.PACKAGE,
                name=name,
                version=full_version,
                publisher=vendor or packager,
                arch=arch,
                source="rpm",
            )
        )
    return result
