"""`tiebreak scan`: plan the probes from the configuration, run them, build the inventory.

The inventory itself is assembled by `agent.build`, shared with the external mode.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import threading
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from agent.atomic import write_atomically
from agent.build import build_inventory
from agent.config import Config, ConfigError
from agent.orchestrator import PlannedProbe, ProgressCallback, run_probes
from inventory import Inventory, Organisation, Scope
from probes import registry
from probes.base import DirectorySettings, DnsSettings, NmapSettings, ProbeContext
from probes.http.settings import HttpSettings


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    """The inventory, whether every probe completed, and the observations per channel the
    contract does not know (listed as unidentified; see `agent.build`)."""

    inventory: Inventory
    complete: bool
    unknown_channels: dict[str, int] = field(default_factory=dict)


def plan_probes(config: Config, selectors: list[str] | None = None) -> list[PlannedProbe]:
    """Probes to run: `--probe` wins over `[probes] enable`; `disable` always applies."""
    enable = selectors or config.probes.enable
    try:
        entries = registry.select(enable, config.probes.disable)
    except registry.UnknownProbeError as exc:
        names = ", ".join(registry.all_names())
        tags = ", ".join(sorted(registry.all_tags()))
        raise ConfigError(
            None,
            [
                f"sonde ou étiquette inconnue / unknown probe or tag {exc}: sondes / probes: "
                f"{names}; étiquettes / tags: {tags}"
            ],
        ) from None
    unknown = set(config.probes.timeouts) - set(registry.all_names())
    if unknown:
        raise ConfigError(
            None, [f"[probes.timeouts]: sonde inconnue / unknown probe {sorted(unknown)[0]!r}"]
        )
    planned = []
    for entry in entries:
        probe = entry.load()
        timeout = config.probes.timeouts.get(
            entry.name, config.probes.timeout or probe.default_timeout
        )
        planned.append(PlannedProbe(probe, timeout))
    return planned


def probe_context(config: Config, root: Path = Path("/")) -> ProbeContext:
    """What the probes may look at, from the configuration."""
    directory = None
    if config.directory is not None:
        section = config.directory
        directory = DirectorySettings(
            url=section.url,
            bind_dn=section.bind_dn,
            password=section.password(),
            starttls=section.starttls,
            ca_file=section.ca_file,
            insecure=section.insecure,
            page_size=section.page_size,
            timeout=section.timeout,
        )
    nmap = config.nmap
    return ProbeContext(
        root=root,
        hostname=socket.gethostname(),
        domains=tuple(config.scope.domains),
        networks=tuple(config.scope.networks),
        exclude=tuple(config.scope.exclude),
        allow_public=config.scope.allow_public,
        dns=DnsSettings(
            nameservers=tuple(config.dns.nameservers),
            port=config.dns.port,
            timeout=config.dns.timeout,
            retries=config.dns.retries,
            dkim_selectors=tuple(config.dns.dkim_selectors),
        ),
        directory=directory,
        fleet=config.fleet.settings() if config.fleet is not None else None,
        http=HttpSettings(
            ca_file=config.http.ca_file,
            site_timeout=config.http.timeout,
            concurrency=config.http.concurrency,
        ),
        nmap=NmapSettings(
            tcp_ports=tuple(map(str, nmap.tcp_ports)) if nmap.tcp_ports is not None else None,
            udp_ports=tuple(map(str, nmap.udp_ports)) if nmap.udp_ports is not None else None,
            max_rate=nmap.max_rate,
            host_timeout=nmap.host_timeout,
            scan_type=nmap.scan_type,
            version_intensity=nmap.version_intensity,
            reverse_dns=nmap.reverse_dns,
        ),
    )


def run_scan(
    config: Config,
    plan: list[PlannedProbe],
    progress: ProgressCallback | None = None,
    root: Path = Path("/"),
    cancel: threading.Event | None = None,
) -> ScanOutcome:
    """Run the planned probes and assemble the draft inventory (`agent.build`); setting `cancel`
    abandons the running probes and keeps what they emitted."""
    ctx = probe_context(config, root)
    started = datetime.now(UTC)
    result = run_probes(plan, ctx, progress, cancel)
    built = build_inventory(
        Organisation(
            name=config.organisation.name,
            siren=config.organisation.siren,
            type=config.organisation.type,
        ),
        Scope(
            domains=list(ctx.domains),
            networks=list(ctx.networks),
            exclude=list(ctx.exclude),
            directory=config.directory.url if config.directory else None,
        ),
        result.runs,
        result.observations,
        started,
        hostname=ctx.hostname,
    )
    return ScanOutcome(
        inventory=built.inventory,
        complete=result.complete,
        unknown_channels=built.unknown_channels,
    )


def slug(text: str) -> str:
    """ASCII, lower-case, dash-separated form of a name, for file names."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60] or "organisation"


def default_output(config: Config, now: datetime | None = None) -> Path:
    """`tiebreak-<organisation>-<UTC timestamp>.json` in the current directory."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return Path(f"tiebreak-{slug(config.organisation.name)}-{stamp}.json")


def check_writable(path: Path) -> None:
    """Fail now, before scanning, if the inventory could not be written to `path`."""
    if path.is_dir():
        raise OSError(f"{path}: est un dossier / is a directory")
    directory = path.parent if str(path.parent) else Path()
    if not directory.is_dir():
        raise OSError(f"{directory}: dossier introuvable / directory not found")
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".tiebreak-check-"):
            pass
    except OSError as exc:
        raise OSError(f"{directory}: écriture impossible / cannot write ({exc.strerror})") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise OSError(f"{path}: fichier protégé en écriture / file is read-only")


def write_inventory(inventory: Inventory, path: Path) -> None:
    """Write the inventory atomically: an interrupted scan never leaves half a file."""
    write_atomically(path, (inventory.to_json_bytes(), b"\n"))
