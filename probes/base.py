"""What every probe is: a name, tags, a cheap applicability check and a run that emits evidence.

A probe only collects and parses. It never decides vendors: that is the fingerprint engine's job.
Each probe declares the evidence channels it emits (`channels`, from the contract's
`inventory.channels.Channel`); emitting another one raises `UndeclaredChannelError`, so a probe and
the catalog never drift apart silently. The orchestrator runs each probe in its own thread under a
timeout (`Emitter.deadline` tells the probe when that is); observations emitted before a failure or
a timeout are kept.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from pydantic import JsonValue

from inventory import Observation
from inventory.channels import Channel
from probes.fleet.settings import FleetSettings
from probes.http.settings import HttpSettings


class ProbeCancelled(Exception):
    """Raised inside a probe that keeps emitting after the orchestrator gave up on it."""


class UndeclaredChannelError(RuntimeError):
    """A probe emitted on a channel it did not declare: a programming error, never hidden."""


@dataclass(frozen=True, slots=True)
class DnsSettings:
    """Where and how the DNS probe asks its questions."""

    nameservers: tuple[str, ...] = ()
    port: int = 53
    timeout: float = 2.0
    retries: int = 1
    dkim_selectors: tuple[str, ...] = ()  # empty: the DNS probe's default list


@dataclass(frozen=True, slots=True)
class DirectorySettings:
    """The directory to read, and how to bind to it (the password never leaves this object)."""

    url: str
    bind_dn: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True  # ldap:// URLs: protect the connection with StartTLS before binding
    ca_file: Path | None = None  # certificates to trust instead of the system store
    insecure: bool = False  # do not verify the server's certificate (recorded in the inventory)
    page_size: int = 500
    timeout: float = 15.0  # seconds for connecting and for each answer


@dataclass(frozen=True, slots=True)
class NmapSettings:
    """How the network service probe scans (ports as nmap's -p reads them)."""

    tcp_ports: tuple[str, ...] | None = None  # None: the probe's default list
    udp_ports: tuple[str, ...] | None = None
    max_rate: int = 300  # packets per second, nmap --max-rate
    host_timeout: float = 300.0  # seconds, nmap --host-timeout
    scan_type: str = "syn"  # "syn" or "connect"; without root, always connect
    version_intensity: int | None = None  # None: --version-light
    reverse_dns: bool = False


@dataclass(frozen=True, slots=True)
class ProbeContext:
    """Everything a probe may look at: the declared scope and the settings it needs."""

    root: Path = Path("/")
    hostname: str = "localhost"
    domains: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    allow_public: bool = False
    dns: DnsSettings = DnsSettings()
    nmap: NmapSettings = NmapSettings()
    http: HttpSettings = field(default_factory=HttpSettings)
    directory: DirectorySettings | None = None
    fleet: FleetSettings | None = None


class Emitter:
    """Collects one probe's observations and notes as they come, so none is lost on failure."""

    def __init__(
        self,
        probe: str,
        channels: frozenset[Channel] | None = None,
        deadline: float | None = None,
    ) -> None:
        self.probe = probe
        self.channels = channels  # None: any channel of the contract (tests, ad-hoc emitters)
        self.deadline = deadline  # time.monotonic() at which the orchestrator gives up
        self.observations: list[Observation] = []
        self.notes: list[str] = []
        self.cancelled = threading.Event()
        self._seen: set[str] = set()

    def remaining(self) -> float | None:
        """Seconds left before the orchestrator gives up on this probe (None: no deadline)."""
        if self.deadline is None:
            return None
        return self.deadline - time.monotonic()

    def observe(
        self,
        channel: Channel,
        locus: str,
        value: str,
        attributes: dict[str, JsonValue] | None = None,
        notes: list[str] | None = None,
    ) -> Observation:
        """Record one piece of evidence; the same evidence twice is recorded once."""
        if self.cancelled.is_set():
            raise ProbeCancelled(self.probe)
        if not isinstance(channel, Channel) or (
            self.channels is not None and channel not in self.channels
        ):
            raise UndeclaredChannelError(
                f"la sonde {self.probe} émet sur un canal non déclaré / probe {self.probe} "
                f"emitted on undeclared channel {channel!r}"
            )
        observation = Observation.make(self.probe, channel, locus, value, attributes, notes)
        if observation.id not in self._seen:
            self._seen.add(observation.id)
            self.observations.append(observation)
        return observation

    def note(self, text: str) -> None:
        """Record something a person should know about this run (an unreadable file…)."""
        self.notes.append(text)


class Probe(ABC):
    """Base class of probes; subclasses declare `name`, `tags` and `summary`."""

    name: ClassVar[str]
    tags: ClassVar[frozenset[str]]
    summary: ClassVar[str]
    channels: ClassVar[frozenset[Channel]]
    default_timeout: ClassVar[float] = 120.0

    def unavailable(self, ctx: ProbeContext) -> str | None:
        """Return why the probe cannot run here, or None when it can. Must be cheap."""
        return None

    @abstractmethod
    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        """Collect evidence into `out`; raise on failure, after emitting what was found."""
