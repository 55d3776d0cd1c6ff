"""The orchestrator: probes run concurrently; one that raises or hangs never costs the others."""

from __future__ import annotations

import threading
import time
from typing import ClassVar

from agent.orchestrator import PlannedProbe, run_probes
from inventory import ProbeStatus
from inventory.channels import Channel
from probes.base import Emitter, Probe, ProbeContext


class GoodProbe(Probe):
    name: ClassVar[str] = "good"
    tags: ClassVar[frozenset[str]] = frozenset({"test"})
    channels: ClassVar[frozenset[Channel]] = frozenset(Channel)
    summary: ClassVar[str] = "finds two things"

    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        out.observe(Channel.PACKAGE, ctx.hostname, "libreoffice-core", {"version": "4:7.4"})
        out.observe(Channel.PACKAGE, ctx.hostname, "firefox-esr")
        out.observe(Channel.PACKAGE, ctx.hostname, "firefox-esr")  # duplicates are recorded once


class RaisingProbe(Probe):
    name: ClassVar[str] = "raising"
    tags: ClassVar[frozenset[str]] = frozenset({"test"})
    channels: ClassVar[frozenset[Channel]] = frozenset(Channel)
    summary: ClassVar[str] = "finds one thing then breaks"

    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        out.observe(Channel.PROCESS, ctx.hostname, "zoom")
        out.note("/var/lib/dpkg/status: tronqué / truncated")
        raise RuntimeError("base de paquets corrompue")


class HangingProbe(Probe):
    name: ClassVar[str] = "hanging"
    tags: ClassVar[frozenset[str]] = frozenset({"test"})
    channels: ClassVar[frozenset[Channel]] = frozenset(Channel)
    summary: ClassVar[str] = "finds one thing then hangs forever"
    release: ClassVar[threading.Event] = threading.Event()

    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        out.observe(Channel.DNS_MX, "exemple.fr", "mx1.mail.ovh.net")
        self.release.wait()  # never set by the test: the thread is abandoned
        out.observe(Channel.DNS_MX, "exemple.fr", "too-late.example")


class UnavailableProbe(Probe):
    name: ClassVar[str] = "unavailable"
    tags: ClassVar[frozenset[str]] = frozenset({"test"})
    channels: ClassVar[frozenset[Channel]] = frozenset(Channel)
    summary: ClassVar[str] = "cannot run here"

    def unavailable(self, ctx: ProbeContext) -> str | None:
        return "nmap absent"

    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        raise AssertionError("must not run")


def test_failures_and_hangs_are_recorded_and_the_scan_finishes() -> None:
    timeout = 1.0
    plan = [
        PlannedProbe(GoodProbe(), 10.0),
        PlannedProbe(RaisingProbe(), 10.0),
        PlannedProbe(HangingProbe(), timeout),
        PlannedProbe(UnavailableProbe(), 10.0),
    ]
    started = time.monotonic()
    result = run_probes(plan, ProbeContext(hostname="mairie-pc"))
    elapsed = time.monotonic() - started

    assert elapsed < timeout + 1.0
    runs = {r.name: r for r in result.runs}
    assert [r.name for r in result.runs] == ["good", "raising", "hanging", "unavailable"]
    assert runs["good"].status is ProbeStatus.OK and runs["good"].observations == 2
    assert runs["raising"].status is ProbeStatus.FAILED
    assert runs["raising"].error is not None
    assert "RuntimeError: base de paquets corrompue" in runs["raising"].error
    assert runs["raising"].notes == ["/var/lib/dpkg/status: tronqué / truncated"]
    assert runs["hanging"].status is ProbeStatus.TIMEOUT
    assert runs["hanging"].duration_s >= timeout
    assert runs["unavailable"].status is ProbeStatus.SKIPPED
    assert runs["unavailable"].error == "nmap absent"
    assert not result.complete

    values = [o.value for o in result.observations]
    # the good probe's findings, and what the failed and hung ones emitted before, are all kept
    assert values == ["libreoffice-core", "firefox-esr", "zoom", "mx1.mail.ovh.net"]


def test_probes_run_concurrently() -> None:
    class Sleeper(Probe):
        tags: ClassVar[frozenset[str]] = frozenset({"test"})
        channels: ClassVar[frozenset[Channel]] = frozenset(Channel)
        summary: ClassVar[str] = "sleeps"

        def run(self, ctx: ProbeContext, out: Emitter) -> None:
            time.sleep(0.5)
            out.observe(Channel.HOST, ctx.hostname, self.name)

    sleepers = [type(f"S{i}", (Sleeper,), {"name": f"sleeper-{i}"})() for i in range(4)]
    started = time.monotonic()
    result = run_probes([PlannedProbe(p, 5.0) for p in sleepers], ProbeContext())
    assert time.monotonic() - started < 1.5  # four half-second probes, not two seconds
    assert result.complete and len(result.observations) == 4


class StrayProbe(Probe):
    """Declares the package channel, then emits on the DNS one."""

    name: ClassVar[str] = "stray"
    tags: ClassVar[frozenset[str]] = frozenset({"test"})
    channels: ClassVar[frozenset[Channel]] = frozenset({Channel.PACKAGE})
    summary: ClassVar[str] = "emits where it said it would not"
    remaining: ClassVar[list[float | None]] = []

    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        self.remaining.append(out.remaining())
        out.observe(Channel.PACKAGE, ctx.hostname, "libreoffice-core")
        out.observe(Channel.DNS_MX, "exemple.fr", "mx1.mail.ovh.net")


def test_an_undeclared_channel_fails_the_probe_loudly_and_keeps_what_came_before() -> None:
    result = run_probes([PlannedProbe(StrayProbe(), 7.0)], ProbeContext(hostname="mairie-pc"))

    (run,) = result.runs
    assert run.status is ProbeStatus.FAILED
    assert run.error is not None
    assert "UndeclaredChannelError" in run.error and "'dns.mx'" in run.error
    assert [o.value for o in result.observations] == ["libreoffice-core"]
    # the probe is told its own deadline: the planned timeout, counted from its start
    (remaining,) = StrayProbe.remaining
    assert remaining is not None and 6.0 < remaining <= 7.0
