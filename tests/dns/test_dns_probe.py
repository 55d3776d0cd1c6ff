"""The DNS probe against a real Knot DNS server serving real provider patterns and hostile zones.

Observations are checked channel by channel, then the findings the engine draws from them with the
shipped catalog: what a central team would read in the inventory.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from agent.orchestrator import PlannedProbe, ScanResult, run_probes
from fingerprints.engine import analyse
from inventory import Confidence, Finding, Inventory, Observation, ProbeStatus, Usage
from probes.base import DnsSettings, ProbeContext
from probes.dns.probe import DnsProbe
from probes.system import SystemProbe

pytestmark = pytest.mark.service


def scan(knot: Any, *domains: str, probes: tuple[Any, ...] = (DnsProbe(),)) -> ScanResult:
    """Run the probe(s) through the orchestrator, as `tiebreak scan` does."""
    ctx = ProbeContext(
        domains=domains,
        dns=DnsSettings(nameservers=(knot.address,), port=knot.port, timeout=1.0, retries=1),
    )
    return run_probes([PlannedProbe(p, 30.0) for p in probes], ctx)


def values(result: ScanResult, channel: str, locus: str) -> list[str]:
    return [o.value for o in result.observations if o.channel == channel and o.locus == locus]


def one(result: ScanResult, channel: str, locus: str, value: str) -> Observation:
    found = [
        o
        for o in result.observations
        if o.channel == channel and o.locus == locus and o.value == value
    ]
    assert len(found) == 1, (channel, locus, value, values(result, channel, locus))
    return found[0]


def findings(result: ScanResult, locus: str) -> dict[str, Finding]:
    return {f.product: f for f in analyse(result.observations).findings if f.locus == locus}


@pytest.fixture(scope="module")
def communes(knot: Any) -> Iterator[ScanResult]:
    result = scan(
        knot,
        "commune-a.test",
        "commune-b.test",
        "commune-c.test",
        "commune-d.test",
        "commune-e.test",
    )
    assert [r.status for r in result.runs] == [ProbeStatus.OK], result.runs
    yield result


def test_microsoft_365_commune_observations(communes: ScanResult) -> None:
    a = "commune-a.test"
    assert values(communes, "dns.mx", a) == ["commune-a-test.mail.protection.outlook.com"]
    assert sorted(values(communes, "dns.ns", a)) == [
        "ada.ns.cloudflare.com",
        "bob.ns.cloudflare.com",
    ]
    assert "MS=ms41289533" in values(communes, "dns.txt", a)
    spf = one(communes, "dns.spf", a, "spf.protection.outlook.com")
    assert spf.attributes == {"mechanism": "include", "depth": 1, "parent": a}
    dkim = one(
        communes, "dns.dkim", a, "selector1-commune-a-test._domainkey.communea.onmicrosoft.com"
    )
    assert dkim.attributes["selector"] == "selector1"
    autodiscover = one(communes, "dns.cname", a, "autodiscover.outlook.com")
    assert autodiscover.attributes["name"] == "autodiscover.commune-a.test"
    sip = one(communes, "dns.srv", a, "sipfed.online.lync.com")
    assert (sip.attributes["service"], sip.attributes["port"]) == ("_sipfederationtls._tcp", 5061)
    ruf = one(communes, "dns.dmarc", a, "ruf.agari.com")
    assert ruf.attributes == {
        "policy": "quarantine",
        "address": "x7k2@ruf.agari.com",
        "kind": "ruf",
    }
    assert values(communes, "dns.caa", a) == ["letsencrypt.org"]  # iodef is not a CA
    assert {"104.21.48.17", "52.101.68.2", "52.101.68.3"} <= set(values(communes, "dns.a", a))
    assert one(communes, "dns.a", a, "52.101.68.2").attributes["role"] == "mx"
    assert all(o.locus.endswith(".test") for o in communes.observations)


def test_microsoft_365_commune_findings(communes: ScanResult) -> None:
    found = findings(communes, "commune-a.test")
    exchange = found["exchange-online"]
    assert exchange.confidence is Confidence.STRONG
    assert exchange.usage is Usage.CURRENT
    assert exchange.jurisdiction.value == "non-eu"
    tenants = {f.attributes.get("tenant") for f in found.values()} - {None}
    assert tenants == {"communea"}
    assert "cloudflare-dns" in found
    assert "entra-id" in found  # enterpriseregistration CNAME: device registration
    assert "lets-encrypt" in found


def test_google_workspace_commune(communes: ScanResult) -> None:
    b = "commune-b.test"
    assert values(communes, "dns.mx", b)[0] == "aspmx.l.google.com"
    netblocks = one(communes, "dns.spf", b, "_netblocks2.google.com")
    assert (netblocks.attributes["depth"], netblocks.attributes["parent"]) == (2, "_spf.google.com")
    ipv6 = one(communes, "dns.a", b, "2a00:1450:400c:c0b::1b")  # AAAA of the first MX host
    assert ipv6.attributes == {"name": "aspmx.l.google.com", "role": "mx"}
    dkim = one(communes, "dns.dkim", b, "google._domainkey.commune-b.test")
    assert dkim.attributes["record"] == "txt"
    found = findings(communes, b)
    assert found["gmail"].usage is Usage.CURRENT
    assert found["gmail"].confidence is Confidence.STRONG
    assert "google-workspace" in found  # the google-site-verification token
    assert "google-cloud-dns" in found
    assert "google-trust-services" in found  # CAA pki.goog


def test_ovhcloud_mail_with_gandi_dns(communes: ScanResult) -> None:
    c = "commune-c.test"
    assert values(communes, "dns.mx", c) == [
        "mx1.mail.ovh.net",
        "mx2.mail.ovh.net",
        "mx3.mail.ovh.net",
    ]
    found = findings(communes, c)
    assert found["ovhcloud-email"].jurisdiction.value == "eu"
    assert found["ovhcloud-email"].usage is Usage.CURRENT
    assert "gandi-livedns" in found
    assert not {"exchange-online", "microsoft-365", "google-workspace"} & set(found)


def test_self_hosted_mail_behind_vade(communes: ScanResult) -> None:
    d = "commune-d.test"
    mx = one(communes, "dns.mx", d, "mx1.fr.vadesecure.com")
    assert mx.attributes["internal"] is False
    autodiscover = one(communes, "dns.cname", d, "mail.commune-d.test")
    assert autodiscover.attributes == {"name": "autodiscover.commune-d.test", "internal": True}
    spf_record = one(
        communes, "dns.txt", d, "v=spf1 mx a:mail.commune-d.test include:spf.vadesecure.com -all"
    )
    spf: Any = spf_record.attributes["spf"]
    assert spf["internal_hosts"] == [
        "commune-d.test",
        "mail.commune-d.test",
    ]
    assert values(communes, "dns.mta-sts", d) == ["v=STSv1; id=20260101T000000"]
    assert values(communes, "dns.tls-rpt", d) == ["v=TLSRPTv1; rua=mailto:tlsrpt@commune-d.test"]
    found = findings(communes, d)
    assert found["vade-secure"].usage is Usage.CURRENT
    assert not any(f.domain == "messagerie" for f in found.values()), sorted(found)


def test_migrated_domain_keeps_only_weak_microsoft_traces(communes: ScanResult) -> None:
    e = "commune-e.test"
    assert "MS=ms87654321" in values(communes, "dns.txt", e)
    assert one(communes, "dns.cname", e, "autodiscover.outlook.com")
    found = findings(communes, e)
    assert found["ovhcloud-email"].usage is Usage.CURRENT
    microsoft = [f for f in found.values() if f.vendor == "microsoft"]
    assert microsoft, sorted(found)
    for finding in microsoft:
        assert finding.confidence is Confidence.WEAK, finding
        assert finding.usage in (Usage.FORMER, Usage.PARTIAL), finding
    assert "exchange-online" not in found or found["exchange-online"].usage is not Usage.CURRENT


def test_hostile_big_txt_and_many_records(knot: Any) -> None:
    result = scan(knot, "hostile-a.test")
    assert result.runs[0].status is ProbeStatus.OK, result.runs[0]
    (txt,) = [o for o in result.observations if o.channel == "dns.txt"]
    assert len(txt.value) == 4096
    assert any("65025" in note for note in txt.notes)
    www = [o for o in result.observations if o.channel == "dns.a" and o.attributes["role"] == "www"]
    assert len(www) == 100
    assert any("1000" in note for o in www for note in o.notes)


def test_hostile_loops_and_invalid_utf8(knot: Any) -> None:
    b = "hostile-b.test"
    result = scan(knot, b)
    assert result.runs[0].status is ProbeStatus.OK, result.runs[0]
    loops = [n for o in result.observations if o.channel == "dns.cname" for n in o.notes]
    assert any("www.hostile-b.test → w2.hostile-b.test → w3.hostile-b.test" in n for n in loops)
    assert any("mx.hostile-b.test → mx2.hostile-b.test → mx.hostile-b.test" in n for n in loops)
    spf = one(result, "dns.txt", b, "v=spf1 include:_spf.hostile-b.test -all")
    assert any("include loop" in n and n.endswith("→ hostile-b.test") for n in spf.notes)
    assert sorted(values(result, "dns.spf", b)) == [
        "_spf.hostile-b.test",
        "_spf2.hostile-b.test",
        "hostile-b.test",
    ]
    (garbled,) = [o for o in result.observations if "verification" in o.value]
    assert garbled.value.startswith("\ufffd\ufffdverification=")
    assert any("UTF-8" in n for n in garbled.notes)
    analyse(result.observations)  # hostile values go through the engine too


def test_spf_lookup_limit(knot: Any) -> None:
    result = scan(knot, "hostile-c.test")
    targets = values(result, "dns.spf", "hostile-c.test")
    assert len(targets) == 8  # a, mx and 8 includes reach the limit of 10 lookups
    (txt,) = [o for o in result.observations if o.channel == "dns.txt"]
    assert any("more than 10 lookups" in n for n in txt.notes)


def test_failures_are_observations(knot: Any) -> None:
    result = scan(knot, "broken.test", "absent.commune-a.test", "unserved.test", "commune-a.test")
    assert result.runs[0].status is ProbeStatus.OK
    broken = one(result, "dns.error", "broken.test", "broken.test SOA servfail")
    assert broken.attributes["server"] == f"{knot.address}:{knot.port}"
    one(result, "dns.error", "absent.commune-a.test", "absent.commune-a.test SOA nxdomain")
    refused = one(result, "dns.error", "unserved.test", "unserved.test SOA refused")
    assert refused.notes == ["30/30 questions : refused"]
    assert len([o for o in result.observations if o.locus == "broken.test"]) == 1
    assert values(result, "dns.mx", "commune-a.test")  # the good domain is still scanned


def _silent_udp_port(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 0))
    return sock


@pytest.mark.parametrize("silent", [False, True], ids=["port-closed", "no-answer"])
def test_unreachable_resolver_fails_fast_and_keeps_other_probes(knot: Any, silent: bool) -> None:
    address = knot.address
    sock = _silent_udp_port(address)
    port = sock.getsockname()[1]
    if not silent:
        sock.close()  # nothing listens: the kernel answers ICMP port unreachable
    try:
        ctx = ProbeContext(
            domains=("commune-a.test",),
            dns=DnsSettings(nameservers=(address,), port=port, timeout=0.4, retries=1),
        )
        started = time.monotonic()
        result = run_probes(
            [PlannedProbe(DnsProbe(), 30.0), PlannedProbe(SystemProbe(), 10.0)], ctx
        )
        elapsed = time.monotonic() - started
    finally:
        sock.close()
    dns_run, system_run = result.runs
    assert dns_run.status is ProbeStatus.FAILED
    assert f"{address}:{port}" in (dns_run.error or "")
    assert elapsed < 2.0
    assert system_run.status is ProbeStatus.OK
    assert any(o.channel == "os" for o in result.observations)


def test_tiebreak_scan_runs_the_dns_probe_from_the_configuration(
    knot: Any, tmp_path: Any, tiebreak_cmd: list[str], subprocess_env: dict[str, str]
) -> None:
    config = tmp_path / "tiebreak.toml"
    config.write_text(
        f"""
[organisation]
name = "Commune A"
[scope]
domains = ["commune-a.test"]
networks = []
[dns]
nameservers = ["{knot.address}"]
port = {knot.port}
timeout = 1.0
retries = 0
dkim_selectors = ["selector1"]
""",
        encoding="utf-8",
    )
    output = tmp_path / "inventaire.json"
    result = subprocess.run(
        [*tiebreak_cmd, "scan", "-c", str(config), "-p", "dns", "-o", str(output), "-q"],
        capture_output=True,
        text=True,
        env=subprocess_env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    inventory = Inventory.model_validate_json(output.read_text(encoding="utf-8"))
    assert [(r.name, r.status.value) for r in inventory.probes] == [("dns", "ok")]
    dkim = [o for o in inventory.observations if o.channel == "dns.dkim"]
    assert [o.attributes["selector"] for o in dkim] == ["selector1"]  # only the configured one
    assert "exchange-online" in {f.product for f in inventory.findings}
