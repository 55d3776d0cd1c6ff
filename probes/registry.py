"""The one list of probes tiebreak knows, and selection by name or tag.

Probe modules are imported only when selected, so `tiebreak scan --probe system` does not pay
for nmap or LDAP imports.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from probes.base import Probe


@dataclass(frozen=True, slots=True)
class ProbeEntry:
    """A registered probe: where its class lives and how it is selected."""

    name: str
    tags: frozenset[str]
    target: str  # "module:Class"

    def load(self) -> Probe:
        """Import the probe's module and instantiate its class."""
        module_name, _, class_name = self.target.partition(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        probe: Probe = cls()
        return probe


REGISTRY: tuple[ProbeEntry, ...] = (
    ProbeEntry("system", frozenset({"local", "system"}), "probes.system:SystemProbe"),
    ProbeEntry("host", frozenset({"local", "host"}), "probes.host.probe:HostProbe"),
    ProbeEntry("processes", frozenset({"local", "host"}), "probes.host.processes:ProcessesProbe"),
    ProbeEntry("dns", frozenset({"dns", "network"}), "probes.dns.probe:DnsProbe"),
    ProbeEntry("nmap", frozenset({"network", "nmap"}), "probes.network.probe:NetworkProbe"),
    ProbeEntry("http", frozenset({"http", "network", "web"}), "probes.http.probe:HttpProbe"),
    ProbeEntry(
        "directory", frozenset({"directory", "network"}), "probes.directory.probe:DirectoryProbe"
    ),
    ProbeEntry("fleet", frozenset({"fleet"}), "probes.fleet.probe:FleetProbe"),
)


class UnknownProbeError(ValueError):
    """A selector names no probe and no tag."""


def all_names() -> list[str]:
    """Names of every registered probe."""
    return [entry.name for entry in REGISTRY]


def all_tags() -> set[str]:
    """Every tag used by a registered probe."""
    return {tag for entry in REGISTRY for tag in entry.tags}


def select(
    enable: list[str] | tuple[str, ...] = (), disable: list[str] | tuple[str, ...] = ()
) -> list[ProbeEntry]:
    """Probes named or tagged in `enable` (all when empty), minus those in `disable`."""
    known = set(all_names()) | all_tags()
    for selector in [*enable, *disable]:
        if selector not in known:
            raise UnknownProbeError(selector)
    chosen = [
        entry
        for entry in REGISTRY
        if not enable or entry.name in enable or entry.tags & set(enable)
    ]
    return [
        entry for entry in chosen if entry.name not in disable and not entry.tags & set(disable)
    ]
