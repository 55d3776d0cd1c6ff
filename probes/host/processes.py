"""The `processes` probe: running executables, running services and network connections.

Processes are reported by executable name with a count, never with their owner or command line
(which may carry user names or secrets). When the executable lives in a vendor's install folder
(`C:\\Program Files\\Sophos\\…`, `/opt/CrowdStrike/…`), the name of that one folder is reported
as the `folder` attribute: it names the vendor of an agent's helper that no matcher knows
(`[vendor] folders` in the catalog). Nothing else of the path is kept, and nothing from a user's
profile. A process that cannot be read (access denied, or gone while listed) is counted in a
note, not fatal. systemd services come from the
`/run/systemd/units` directory when present, else from `systemctl list-units`.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import ClassVar

from pydantic import JsonValue

from inventory.channels import Channel
from inventory.folders import install_folder
from probes.base import Emitter, Probe, ProbeContext
from probes.host import connections
from probes.host.exports import system_program

SYSTEMD_RUNNING = "run/systemd/system"  # exists only when systemd is the init system
SYSTEMD_UNITS = "run/systemd/units"  # "invocation:<unit>" entries of started units
SYSTEMCTL = ["list-units", "--type=service", "--state=running", "--no-legend", "--plain"]


def parse_systemctl_units(text: str) -> list[str]:
    """Service names (without `.service`) of `systemctl list-units --plain --no-legend` output."""
    services = []
    for line in text.splitlines():
        words = line.split()
        if words and words[0].endswith(".service"):
            services.append(words[0].removesuffix(".service"))
    return services


def unit_services(names: list[str]) -> list[str]:
    """Service names from `/run/systemd/units` entries (`invocation:cron.service`…)."""
    prefix = "invocation:"
    return sorted(
        name[len(prefix) :].removesuffix(".service")
        for name in names
        if name.startswith(prefix) and name.endswith(".service")
    )


def systemd_services(root: Path, out: Emitter) -> list[str]:
    """Running systemd services under `root`; none when systemd does not run there."""
    if not (root / SYSTEMD_RUNNING).is_dir():
        return []
    try:
        return unit_services([entry.name for entry in (root / SYSTEMD_UNITS).iterdir()])
    except OSError:
        pass  # older systemd without the units directory: ask systemctl
    binary = system_program("systemctl")
    if binary is None or root != Path("/"):
        return []
    try:
        done = subprocess.run(
            [binary, *SYSTEMCTL], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        out.note(f"systemctl list-units: échec / failed ({type(exc).__name__})")
        return []
    return parse_systemctl_units(done.stdout)


def read_processes(out: Emitter) -> tuple[Counter[str], dict[str, str]]:
    """Executable names of running processes, lower-case, with how many run; and for each name
    whose executable sits in a vendor's install folder, that folder (`install_folder`; the first
    in sort order when instances of one name live in several)."""
    import psutil

    names: Counter[str] = Counter()
    folders: dict[str, set[str]] = {}
    unreadable = 0
    # Linux kernel threads (children of kthreadd, pid 2) are not software anyone installed.
    kernel = 2 if sys.platform.startswith("linux") else None
    for process in psutil.process_iter(["name", "ppid", "exe"], ad_value=None):
        name = process.info.get("name")
        if kernel is not None and kernel in (process.pid, process.info.get("ppid")):
            continue
        if not name:
            unreadable += 1
            continue
        name = name.lower()
        names[name] += 1
        executable = process.info.get("exe")
        folder = install_folder(executable) if isinstance(executable, str) else None
        if folder is not None:
            folders.setdefault(name, set()).add(folder)
    if unreadable:
        out.note(
            f"{unreadable} processus illisible(s) (accès refusé ou terminé) / "
            "unreadable process(es) (access denied or gone)"
        )
    return names, {name: min(found) for name, found in folders.items()}


class ProcessesProbe(Probe):
    """Reports running executables, services, listening ports and outbound connections."""

    name: ClassVar[str] = "processes"
    tags: ClassVar[frozenset[str]] = frozenset({"local", "host"})
    channels: ClassVar[frozenset[Channel]] = frozenset(
        {Channel.PROCESS, Channel.SERVICE, Channel.LISTEN, Channel.NET_REMOTE, Channel.NET_HOST}
    )
    summary: ClassVar[str] = (
        "Processus, services et connexions / processes, services and connections"
    )
    default_timeout: ClassVar[float] = 60.0

    def unavailable(self, ctx: ProbeContext) -> str | None:
        """Processes are those of this machine: a different system root cannot be inspected."""
        if ctx.root != Path("/"):
            return "racine système différente de / / system root is not /"
        return None

    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        """Observe processes, systemd services and connections of this machine."""
        names, folders = read_processes(out)
        for name, count in sorted(names.items()):
            attributes: dict[str, JsonValue] = {"count": count}
            if name in folders:
                attributes["folder"] = folders[name]
            out.observe(Channel.PROCESS, ctx.hostname, name, attributes)
        for service in systemd_services(ctx.root, out):
            out.observe(Channel.SERVICE, ctx.hostname, service, {"source": "systemd"})
        connections.collect(ctx.root, ctx.hostname, out)
