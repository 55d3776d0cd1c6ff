"""What every probe is: a name, tags, a cheap applicability check and a run that emits evidence.

A probe only collects and parses. It never decides vendors: that is the fingerprint engine's job.
The orchestrator runs each probe in its own thread under a timeout; observations emitted before a
failure or a timeout are kept.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from pydantic import JsonValue

from inventory import Observation


class ProbeCancelled(Exception):
    """Raised inside a probe that keeps emitting after the orchestrator gave up on it."""


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


@dataclass(frozen=True, slots=True)
class ProbeContext:
    """Everything a probe may look at: the declared scope and the settings it needs."""

    root: Path = Path("/")
    hostname: str = "localhost"
    domains: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    dns: DnsSettings = DnsSettings()
    directory: DirectorySettings | None = None


class Emitter:
    """Collects one probe's observations and notes as they come, so none is lost on failure."""

    def __init__(self, probe: str) -> None:
        self.probe = probe
        self.observations: list[Observation] = []
        self.notes: list[str] = []
        self.cancelled = threading.Event()
        self._seen: set[str] = set()

    def observe(
        self,
        channel: str,
        locus: str,
        value: str,
        attributes: dict[str, JsonValue] | None = None,
        notes: list[str] | None = None,
    ) -> Observation:
        """Record one piece of evidence; the same evidence twice is recorded once."""
        if self.cancelled.is_set():
            raise ProbeCancelled(self.probe)
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
    default_timeout: ClassVar[float] = 120.0

    def unavailable(self, ctx: ProbeContext) -> str | None:
        """Return why the probe cannot run here, or None when it can. Must be cheap."""
        return None

    @abstractmethod
    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        """Collect evidence into `out`; raise on failure, after emitting what was found."""
