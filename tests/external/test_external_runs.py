"""The external mode's probe runs and summary columns, without any network.

Probe runs: real `Probe` subclasses handed to `run_external` as its plan (no DNS probe, so no
resolver is asked anything) go through the same path as the HTTP probe will: a thread per run,
bounded, recorded by `agent.orchestrator.record_run`. Summary columns: inventories assembled by
`agent.build` from hand-made observations of the `dns` and `http` probes and the shipped catalog.
"""

from __future__ import annotations

import csv
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest

from agent.build import build_inventory, unknown_channels_warning
from agent.external import (
    ExternalPlanError,
    ExternalSettings,
    Target,
    external_plan,
    inventory_path,
    run_external,
    summary_rows,
)
from agent.orchestrator import PlannedProbe, run_probes
from inventory import Inventory, Observation, Organisation, ProbeStatus, Scope
from inventory.channels import Channel
from probes import registry
from probes.base import Emitter, Probe, ProbeContext


class Headers(Probe):
    """Emits a Cloudflare header for each domain's www site, notes it, then fails."""

    name: ClassVar[str] = "headers"
    tags: ClassVar[frozenset[str]] = frozenset({"test"})
    summary: ClassVar[str] = "test"
    channels: ClassVar[frozenset[Channel]] = frozenset({Channel.HTTP_HEADER})

    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        for domain in ctx.domains:
            out.observe(Channel.HTTP_HEADER, f"www.{domain}", "server: cloudflare")
        out.note("vu / seen")
        if "fails.test" in ctx.domains:
            raise RuntimeError("plus de réponse / no answer")


class Hangs(Probe):
    """Emits once, then waits far beyond its timeout (until the test releases it)."""

    name: ClassVar[str] = "hangs"
    tags: ClassVar[frozenset[str]] = frozenset({"test"})
    summary: ClassVar[str] = "test"
    channels: ClassVar[frozenset[Channel]] = frozenset({Channel.HTTP_TITLE})
    release = threading.Event()

    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        out.observe(Channel.HTTP_TITLE, ctx.domains[0], "Accueil")
        self.release.wait(30)
        out.observe(Channel.HTTP_TITLE, ctx.domains[0], "too late")


class Undeclared(Probe):
    """Emits on a channel it did not declare."""

    name: ClassVar[str] = "undeclared"
    tags: ClassVar[frozenset[str]] = frozenset({"test"})
    summary: ClassVar[str] = "test"
    channels: ClassVar[frozenset[Channel]] = frozenset({Channel.HTTP_TITLE})

    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        out.observe(Channel.DNS_MX, ctx.domains[0], "mx.example.test")


class Offline(Probe):
    """Cannot run here."""

    name: ClassVar[str] = "offline"
    tags: ClassVar[frozenset[str]] = frozenset({"test"})
    summary: ClassVar[str] = "test"
    channels: ClassVar[frozenset[Channel]] = frozenset({Channel.HTTP_TITLE})

    def unavailable(self, ctx: ProbeContext) -> str | None:
        return "pas ici / not here"

    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        raise AssertionError("never called")


TARGETS = [
    Target(1, "ok.test", "Commune OK", "213500002"),
    Target(2, "fails.test", "Commune KO"),
    Target(3, "second.test", "Commune OK", "213500002"),
]


def test_sync_probe_runs_are_recorded_as_the_orchestrator_records_them(tmp_path: Path) -> None:
    plan = [PlannedProbe(Headers(), 10.0), PlannedProbe(Offline(), 10.0)]
    report = run_external(TARGETS, ExternalSettings(threads=2), tmp_path, plan=plan)
    assert report.domains_scanned == 3
    assert report.queries == 0  # no DNS probe planned: no resolver, no question
    ok = Inventory.model_validate_json(
        inventory_path(tmp_path, "Commune OK", "213500002").read_text(encoding="utf-8")
    )
    ko = Inventory.model_validate_json(
        inventory_path(tmp_path, "Commune KO", None).read_text(encoding="utf-8")
    )
    # The same probes through the orchestrator, as `tiebreak scan` runs them.
    reference = run_probes(plan, ProbeContext(domains=("fails.test",)))
    for external, orchestrated in zip(ko.probes, reference.runs, strict=True):
        assert (external.name, external.status, external.observations, external.notes) == (
            orchestrated.name,
            orchestrated.status,
            orchestrated.observations,
            orchestrated.notes,
        )
        assert (external.error or "").split(" (")[0] == (orchestrated.error or "").split(" (")[0]
    assert [(r.name, r.status) for r in ko.probes] == [
        ("headers", ProbeStatus.FAILED),
        ("offline", ProbeStatus.SKIPPED),
    ]
    assert ko.probes[0].error is not None
    assert ko.probes[0].error.startswith("RuntimeError: plus de réponse / no answer (")
    assert "test_external_runs.py:" in ko.probes[0].error  # where it was raised, as in scan
    assert ko.summary.probes_failed == 1
    assert [(r.name, r.status) for r in ok.probes] == [
        ("headers", ProbeStatus.OK),
        ("offline", ProbeStatus.SKIPPED),
    ]
    assert ok.scope.domains == ["ok.test", "second.test"]  # one inventory per organisation
    assert {o.locus for o in ok.observations} == {"www.ok.test", "www.second.test"}
    assert {o.probe for o in ok.observations} == {"headers"}
    assert [line.split(":")[0] for line in report.failed_domains] == ["Commune KO [fails.test]"]

    # A rerun skips the complete organisation (skipped counts as run to the end), not the other.
    scanned: list[str] = []
    again = run_external(TARGETS, ExternalSettings(), tmp_path, plan=plan, progress=scanned.append)
    assert again.skipped == 1
    assert scanned == ["fails.test"]


def test_a_hung_probe_times_out_keeps_what_it_emitted_and_its_slot(tmp_path: Path) -> None:
    Hangs.release.clear()
    plan = [PlannedProbe(Hangs(), 0.5), PlannedProbe(Undeclared(), 5.0)]
    started = time.monotonic()
    try:
        report = run_external(TARGETS[:1], ExternalSettings(threads=1), tmp_path, plan=plan)
    finally:
        Hangs.release.set()
    assert time.monotonic() - started < 10
    inventory = Inventory.model_validate_json(report.written[0].read_text(encoding="utf-8"))
    hung, undeclared = inventory.probes
    assert hung.status is ProbeStatus.TIMEOUT
    assert hung.error == "délai dépassé / timed out after 0.5 s"
    assert hung.observations == 1
    assert [o.value for o in inventory.observations] == ["Accueil"]
    # One thread only: the second probe got it when the hung one was abandoned, and failed
    # loudly on its undeclared channel, never silently.
    assert undeclared.status is ProbeStatus.FAILED
    assert (undeclared.error or "").startswith("UndeclaredChannelError")
    assert undeclared.duration_s < 1.0  # its clock started with its thread, not before


def test_external_plan_defaults_to_the_registered_external_probes() -> None:
    registered = [n for n in ("dns", "http") if n in registry.all_names()]
    assert [p.probe.name for p in external_plan()] == registered
    assert [p.probe.name for p in external_plan(["dns"])] == ["dns"]
    # A tag keeps its external probes (nmap and directory are network probes too).
    assert [p.probe.name for p in external_plan(["network"])] == registered
    assert all(p.timeout == p.probe.default_timeout for p in external_plan())
    with pytest.raises(ExternalPlanError, match="system"):
        external_plan(["system"])
    with pytest.raises(ExternalPlanError):
        external_plan(["local"])
    with pytest.raises(registry.UnknownProbeError):
        external_plan(["nope"])


def _inventory(*observations: Observation, domains: tuple[str, ...] = ("ville.test",)) -> Inventory:
    now = datetime.now(UTC)
    return build_inventory(
        Organisation(name="Ville", siren=None),
        Scope(domains=list(domains)),
        [],
        list(observations),
        now,
        now,
        "test",
    ).inventory


def test_web_columns_come_from_http_findings_at_the_domain_and_its_www() -> None:
    http = Emitter("http")
    http.observe(Channel.HTTP_HEADER, "www.ville.test", "server: cloudflare")
    http.observe(Channel.HTTP_GENERATOR, "https://www.ville.test/", "WordPress 6.4.2")
    http.observe(Channel.HTTP_HEADER, "ville.test", "x-iplb-instance: 42176")
    http.observe(Channel.HTTP_HEADER, "www.ailleurs.test", "server: cloudflare")
    dns = Emitter("dns")
    # OVHcloud Web Hosting seen in DNS only: DNS evidence, not a web column.
    dns.observe(Channel.DNS_A, "autre.test", "213.186.33.5", {"name": "autre.test", "role": "www"})
    inventory = _inventory(
        *http.observations, *dns.observations, domains=("ville.test", "autre.test")
    )
    ville, autre = summary_rows(inventory)
    assert ville["cdn"] == "Cloudflare CDN / reverse proxy"
    assert ville["cms"] == "WordPress (self-hosted)"
    assert ville["web_host"] == "OVHcloud Web Hosting"
    assert "non-eu" in ville["jurisdiction_classes"]  # www findings count for the domain
    assert (autre["web_host"], autre["cms"], autre["cdn"]) == ("", "", "")
    assert list(ville)[-3:] == ["web_host", "cms", "cdn"]  # appended after the old columns


def test_mail_and_dns_columns_rest_on_findings_and_record_facts_only() -> None:
    dns = Emitter("dns")
    # A probe's own `internal` judgement is not read: the MX host's name is.
    dns.observe(Channel.DNS_MX, "ville.test", "mail.ville.test", {"internal": False})
    dns.observe(Channel.DNS_NS, "ville.test", "ns1.ville.test")
    dns.observe(Channel.DNS_MX, "autre.test", "mx.fournisseur-inconnu.test", {"internal": True})
    dns.observe(Channel.DNS_NS, "autre.test", "ns.hebergeur-inconnu.test")
    dns.observe(Channel.DNS_MX, "m365.test", "m365-test.mail.protection.outlook.com")
    dns.observe(Channel.DNS_NS, "m365.test", "ada.ns.cloudflare.com")
    inventory = _inventory(*dns.observations, domains=("ville.test", "autre.test", "m365.test"))
    ville, autre, m365 = summary_rows(inventory)
    assert ville["mail_provider"] in ("auto-hébergé", "self-hosted")
    assert ville["dns_host"] in ("auto-hébergé", "self-hosted")
    assert autre["mail_provider"].split(" ")[0] in ("inconnu", "unknown")
    assert "mx.fournisseur-inconnu.test" in autre["mail_provider"]
    assert "ns.hebergeur-inconnu.test" in autre["dns_host"]
    assert m365["mail_provider"] == "Exchange Online"
    assert m365["dns_host"] == "Cloudflare DNS"


def test_unknown_channels_are_unidentified_and_reported_not_lost() -> None:
    stranger = Observation.make("http", "http.favicon", "ville.test", "abc")
    now = datetime.now(UTC)
    built = build_inventory(
        Organisation(name="Ville"), Scope(domains=["ville.test"]), [], [stranger], now, now
    )
    assert built.inventory.unidentified == [stranger.id]
    assert built.unknown_channels == {"http.favicon": 1}
    warning = unknown_channels_warning(built.unknown_channels)
    assert warning is not None and "http.favicon (1)" in warning
    assert unknown_channels_warning({}) is None
    assert built.complete


def test_summary_csv_keeps_the_old_columns_first(tmp_path: Path) -> None:
    plan = [PlannedProbe(Headers(), 10.0)]
    run_external(TARGETS[:1], ExternalSettings(), tmp_path, plan=plan)
    with (tmp_path / "summary.csv").open(encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert header == [
        "organisation",
        "siren",
        "domain",
        "mail_provider",
        "dns_host",
        "jurisdiction_classes",
        "dns_status",
        "web_host",
        "cms",
        "cdn",
    ]
