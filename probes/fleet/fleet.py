"""Machines pseudonymised and aggregated into the observations the `fleet` probe emits.

Each machine gets a stable pseudonym, `m-` and 16 hex digits of HMAC-SHA-256 of its best stable
identifier (firmware UUID, else serial number, else device id or host name) under the
organisation's secret key: the same machine gets the same pseudonym from one scan to the next and
from one source to another, nobody without the key can tell which machine it is, and a machine
read twice (an older export beside a newer one, a file and GLPI) is counted once.

Machines are numbered in the order they are read (their index). Observations are aggregated per
(channel, value) at the fleet's locus: one `os` observation per release, one `package.windows`
or `package` observation per program name, each with `count` (how many machines) and `machines`
(their indexes as ranges, "0-4,7,9-12", which the engine unions so that a machine with two names
of a product counts once). `fleet.machine` gives each index its pseudonym, OS, hardware and
antivirus; `fleet.hardware` and `fleet.virtualisation` count models and hypervisors. Memory grows
with the number of machines by a few bytes per program, never with the files' size.
"""

from __future__ import annotations

import hmac
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from pydantic import JsonValue

from inventory.channels import Channel
from probes.base import Emitter
from probes.fleet.machine import Machine, is_server, os_observation, software_channel

PSEUDONYM_CONTEXT = b"tiebreak-fleet-v1\x1f"
MAX_VERSIONS = 8
"""Distinct versions (and publishers) tracked per program; the others count as "autres / other":
a fleet has a few versions of each program, and memory must not grow with hostile ones."""
SHOWN_VERSIONS = 5
"""Versions listed on an observation, the most common first."""


def index_ranges(indexes: Sequence[int]) -> str:
    """Increasing machine indexes as ranges, "0-4,7,9-12": one short string per observation
    however many machines it stands for (`fingerprints.engine` reads it back)."""
    parts: list[str] = []
    start = previous = -2
    for index in indexes:
        if index != previous + 1:
            if start >= 0:
                parts.append(f"{start}-{previous}" if previous > start else str(start))
            start = index
        previous = index
    if start >= 0:
        parts.append(f"{start}-{previous}" if previous > start else str(start))
    return ",".join(parts)


MANAGER_SEPARATOR: Final = "\t"
"""Joins a Linux package's name and its manager in the aggregate's key ("slack\tsnap"); names
never hold a tab (`machine.text` folds white space)."""


def pseudonym(key: bytes, identity: str) -> str:
    """The stable pseudonym of a machine identifier under the organisation's key."""
    digest = hmac.new(key, PSEUDONYM_CONTEXT + identity.encode("utf-8", "replace"), "sha256")
    return "m-" + digest.hexdigest()[:16]


class _Counted:
    """Machines behind one (channel, value), with the versions and publishers they give."""

    __slots__ = ("machines", "publishers", "versions")

    def __init__(self) -> None:
        self.machines: array[int] = array("I")
        self.versions: dict[str, int] = {}
        self.publishers: dict[str, int] = {}

    def add(self, index: int, version: str = "", publisher: str = "") -> None:
        machines = self.machines
        if not machines or machines[-1] != index:
            machines.append(index)
        if version:
            _tally(self.versions, version)
        if publisher:
            _tally(self.publishers, publisher)


def _tally(counts: dict[str, int], key: str) -> None:
    """Count `key`, or "autres / other" once `MAX_VERSIONS` distinct keys are counted."""
    if key not in counts and len(counts) >= MAX_VERSIONS:
        key = "autres / other"
    counts[key] = counts.get(key, 0) + 1


def _most_common(counts: dict[str, int], number: int) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: -item[1])[:number]


@dataclass(frozen=True, slots=True)
class _Seen:
    """What `fleet.machine` says of one machine."""

    pseudonym: str
    format: str
    os: str
    hardware: str
    virtualisation: str
    antivirus: tuple[str, ...]
    programs: int
    date: str


@dataclass(slots=True)
class SourceTally:
    """What one source gave: machines added, duplicates, machines without programs matched."""

    machines: int = 0
    duplicates: int = 0
    macos_programs: int = 0
    truncated: int = 0
    formats: Counter[str] = field(default_factory=Counter)


class Fleet:
    """Every machine read so far, aggregated; `emit` turns them into observations."""

    def __init__(self, key: bytes, max_machines: int) -> None:
        self.key = key
        self.max_machines = max_machines
        self._indexes: dict[str, int] = {}
        self._seen: list[_Seen] = []
        self._counted: dict[Channel, dict[str, _Counted]] = {}
        self._os_details: dict[str, Counter[str]] = {}

    def __len__(self) -> int:
        return len(self._indexes)

    @property
    def full(self) -> bool:
        """Whether `max_machines` machines were read."""
        return len(self._indexes) >= self.max_machines

    def add(self, machine: Machine, tally: SourceTally, fallback_identity: str) -> bool:
        """Count a machine; False when it was already read (newest first) or the fleet is full."""
        identity = machine.best_identity() or fallback_identity
        alias = pseudonym(self.key, identity)
        if alias in self._indexes:
            tally.duplicates += 1
            return False
        if self.full:
            return False
        index = len(self._indexes)
        self._indexes[alias] = index
        tally.machines += 1
        tally.formats[machine.format] += 1
        tally.truncated += machine.truncated
        os_value = ""
        found = os_observation(machine)
        if found is not None:
            os_value, details = found
            self._entry(Channel.OS, os_value).add(index, details.get("version", ""))
            names = self._os_details.setdefault(os_value, Counter())
            if details.get("name"):
                names[details["name"]] += 1
        channel = software_channel(machine)
        if channel is not None:
            # Once per program, 150 per workstation: the lookup and the tallies inlined.
            counted = self._counted.setdefault(channel, {})
            linux = channel is Channel.PACKAGE
            for program, version, publisher, manager in machine.software:
                if linux:
                    # dpkg's multi-arch name, as the OCS agent writes it: "libc6:amd64"
                    program = program.partition(":")[0]
                    if manager:
                        # A snap and a deb of one name are two packages (`MANAGER_SEPARATOR`).
                        program = f"{program}{MANAGER_SEPARATOR}{manager}"
                entry = counted.get(program)
                if entry is None:
                    entry = counted[program] = _Counted()
                machines = entry.machines
                if not machines or machines[-1] != index:
                    machines.append(index)
                if version:
                    versions = entry.versions
                    if version in versions:
                        versions[version] += 1
                    else:
                        _tally(versions, version)
                if publisher:
                    publishers = entry.publishers
                    if publisher in publishers:
                        publishers[publisher] += 1
                    else:
                        _tally(publishers, publisher)
        elif machine.platform == "macos":
            tally.macos_programs += len(machine.software)
        if channel is Channel.PACKAGE_WINDOWS:
            for antivirus in machine.antivirus:
                self._entry(channel, antivirus).add(index)
        hardware = machine.hardware()
        if hardware:
            self._entry(Channel.FLEET_HARDWARE, hardware).add(index)
        virtualisation = machine.virtualisation()
        if virtualisation:
            self._entry(Channel.FLEET_VIRTUALISATION, virtualisation).add(index)
        self._seen.append(
            _Seen(
                pseudonym=alias,
                format=machine.format,
                os=os_value,
                hardware=hardware,
                virtualisation=virtualisation,
                antivirus=tuple(machine.antivirus),
                programs=len(machine.software),
                date=machine.date[:10],
            )
        )
        return True

    def _entry(self, channel: Channel, value: str) -> _Counted:
        values = self._counted.setdefault(channel, {})
        entry = values.get(value)
        if entry is None:
            entry = values[value] = _Counted()
        return entry

    def emit(self, out: Emitter, locus: str) -> int:
        """Observe every machine and every aggregate at `locus`; return the observations made."""
        made = 0
        # What is emitted is dropped from the aggregates as it goes: the observations take the
        # memory the aggregates give back, and the peak stays that of the larger of the two.
        pending, self._seen = self._seen, []
        pending.reverse()
        for index in range(len(pending)):
            seen = pending.pop()
            attributes: dict[str, JsonValue] = {"index": index, "format": seen.format}
            for key, value in (
                ("os", seen.os),
                ("hardware", seen.hardware),
                ("virtualisation", seen.virtualisation),
                ("date", seen.date),
            ):
                if value:
                    attributes[key] = value
            if seen.os:
                attributes["server"] = is_server(seen.os)
            if seen.antivirus:
                attributes["antivirus"] = list(seen.antivirus)
            attributes["programs"] = seen.programs
            out.observe(Channel.FLEET_MACHINE, locus, seen.pseudonym, attributes)
            made += 1
        for channel, values in self._counted.items():
            made += self._emit_counted(out, locus, channel, values)
        self._counted = {}
        return made

    def _emit_counted(
        self, out: Emitter, locus: str, channel: Channel, values: dict[str, _Counted]
    ) -> int:
        made = 0
        while values:
            value, entry = values.popitem()
            value, _, manager = value.partition(MANAGER_SEPARATOR)
            attributes: dict[str, JsonValue] = {
                "source": manager or "fleet",
                "count": len(entry.machines),
                "machines": index_ranges(entry.machines),
            }
            if entry.versions:
                attributes["versions"] = dict(_most_common(entry.versions, SHOWN_VERSIONS))
            if entry.publishers:
                attributes["publisher"] = _most_common(entry.publishers, 1)[0][0]
            if channel is Channel.OS:
                names = self._os_details.get(value)
                if names:
                    attributes["name"] = names.most_common(1)[0][0]
            out.observe(channel, locus, value, attributes)
            made += 1
        return made
