"""What the DNS probe asks about one domain, and how each answer becomes observations.

`scan_domain` asks every independent question at once (the resolver bounds how many are in
flight), then the questions that depend on answers: addresses of the MX hosts, the SPF include
chain. Observations are emitted in a fixed order whatever the order answers came in. The locus of
every observation is the domain scanned.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import dns.rdtypes.ANY.CAA
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.ANY.MX
import dns.rdtypes.ANY.NS
import dns.rdtypes.ANY.SOA
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.rdtypes.IN.SRV
from pydantic import JsonValue

from inventory.channels import Channel
from probes.base import Emitter
from probes.dns.dmarc import parse_dmarc
from probes.dns.resolver import TRANSPORT_FAILURES, Answer, AsyncResolver, Status, name_text
from probes.dns.spf import SpfExpansion, expand_spf, parse_spf

DEFAULT_DKIM_SELECTORS = (
    "selector1",  # Microsoft 365
    "selector2",  # Microsoft 365
    "google",  # Google Workspace
    "k1",  # Mailchimp, Brevo
    "s1",
    "s2",
    "default",
    "mail",
    "dkim",
    "protonmail",  # Proton Mail
)
"""DKIM selectors tried when the configuration names none."""

CNAME_NAMES = (
    "autodiscover",
    "lyncdiscover",
    "enterpriseregistration",
    "enterpriseenrollment",
    "sip",
    "msoid",
)
"""Names whose CNAME target names a cloud service (www is asked for its addresses too)."""

SRV_NAMES = ("_sipfederationtls._tcp", "_autodiscover._tcp")
MAX_MX_HOSTS = 10
MAX_DMARC_REPORTS = 20
MAX_TXT_CHARS = 4096
"""TXT strings are stored up to this length; a 64 KB TXT is truncated with a note."""

FAILURES = frozenset({Status.SERVFAIL, Status.REFUSED, Status.ERROR}) | TRANSPORT_FAILURES


@dataclass(slots=True)
class DomainScan:
    """How the questions about one domain went."""

    domain: str
    questions: int = 0
    transport_failures: int = 0

    @property
    def unreachable(self) -> bool:
        """True when no question got any answer from any server."""
        return self.questions > 0 and self.transport_failures == self.questions


def decode_txt(strings: tuple[bytes, ...] | list[bytes]) -> tuple[str, list[str]]:
    """The whole TXT string (its parts joined), decoded safely, with notes on what was changed."""
    raw = b"".join(strings)
    notes: list[str] = []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "replace")
        notes.append("UTF-8 invalide, octets remplacés / invalid UTF-8, bytes replaced by U+FFFD")
    if len(text) > MAX_TXT_CHARS:
        notes.append(
            f"TXT de {len(raw)} octets tronqué à {MAX_TXT_CHARS} caractères / "
            f"{len(raw)}-byte TXT truncated to {MAX_TXT_CHARS} characters"
        )
        text = text[:MAX_TXT_CHARS]
    return text, notes


def is_internal(host: str, domain: str) -> bool:
    """Whether `host` is the domain itself or below it (an MX there suggests self-hosted mail)."""
    return host == domain or host.endswith("." + domain)


class _Domain:
    """Questions and emission for one domain."""

    def __init__(self, resolver: AsyncResolver, domain: str, out: Emitter) -> None:
        self.resolver = resolver
        self.domain = domain
        self.out = out
        self.scan = DomainScan(domain)

    async def ask(self, name: str, rdtype: str) -> Answer:
        """Ask through the resolver, counting the questions no server answered."""
        answer = await self.resolver.query(name, rdtype)
        self.scan.questions += 1
        if answer.status in TRANSPORT_FAILURES:
            self.scan.transport_failures += 1
        return answer

    def emit(
        self,
        channel: Channel,
        value: str,
        attributes: dict[str, JsonValue] | None = None,
        notes: list[str] | None = None,
    ) -> None:
        """Record an observation whose locus is the domain."""
        self.out.observe(channel, self.domain, value, attributes, notes)

    def emit_failure(self, answer: Answer, nxdomain: bool = False) -> bool:
        """Record a failed question as a `dns.error` observation; True when it failed."""
        if answer.status in FAILURES or (nxdomain and answer.status is Status.NXDOMAIN):
            self.emit(
                Channel.DNS_ERROR,
                f"{answer.name} {answer.rdtype} {answer.status.value}",
                {
                    "name": answer.name,
                    "rdtype": answer.rdtype,
                    "status": answer.status.value,
                    "server": answer.server,
                    "detail": answer.detail,
                },
                answer.notes,
            )
            return True
        return False

    def leftover_notes(self, answer: Answer, emitted: bool) -> None:
        """Notes of an answer that produced no observation to carry them go to the run."""
        if not emitted:
            for text in answer.notes:
                self.out.note(f"{self.domain}: {answer.name} {answer.rdtype}: {text}")


async def scan_domain(
    resolver: AsyncResolver,
    domain: str,
    out: Emitter,
    selectors: tuple[str, ...] = DEFAULT_DKIM_SELECTORS,
) -> DomainScan:
    """Ask every question about `domain` and emit what the answers show."""
    scan = _Domain(resolver, domain, out)
    plan: list[tuple[str, str]] = [
        (domain, "SOA"),
        (domain, "NS"),
        (domain, "MX"),
        (domain, "A"),
        (domain, "AAAA"),
        (domain, "TXT"),
        (domain, "CAA"),
        (f"www.{domain}", "A"),
        (f"www.{domain}", "AAAA"),
        (f"_dmarc.{domain}", "TXT"),
        (f"_mta-sts.{domain}", "TXT"),
        (f"_smtp._tls.{domain}", "TXT"),
        *((f"{selector}._domainkey.{domain}", "TXT") for selector in selectors),
        *((f"{label}.{domain}", "CNAME") for label in CNAME_NAMES),
        *((f"{service}.{domain}", "SRV") for service in SRV_NAMES),
    ]
    answers = dict(zip(plan, await asyncio.gather(*(scan.ask(n, t) for n, t in plan)), strict=True))
    soa = answers[(domain, "SOA")]
    if soa.status is Status.NXDOMAIN or soa.status in FAILURES:
        # The domain itself is missing or its servers fail: one observation says it, not thirty.
        failed = sum(a.status is soa.status for a in answers.values())
        soa.notes.append(f"{failed}/{len(answers)} questions : {soa.status.value}")
        scan.emit_failure(soa, nxdomain=True)
        return scan.scan

    _emit_soa_ns(scan, soa, answers[(domain, "NS")])
    mx_hosts = _emit_mx(scan, answers[(domain, "MX")])
    # Addresses of the MX hosts and the SPF include chain depend on answers; both go at once.
    mx_questions = asyncio.gather(
        *(scan.ask(host, rdtype) for host in mx_hosts for rdtype in ("A", "AAAA"))
    )
    spf = await _spf(scan, answers[(domain, "TXT")])
    mx_addresses = await mx_questions

    for rdtype in ("A", "AAAA"):
        _emit_addresses(scan, answers[(domain, rdtype)], "apex")
        _emit_addresses(scan, answers[(f"www.{domain}", rdtype)], "www")
    for answer in mx_addresses:
        _emit_addresses(scan, answer, "mx")
    _emit_txt(scan, answers[(domain, "TXT")], spf)
    _emit_dmarc(scan, answers[(f"_dmarc.{domain}", "TXT")])
    _emit_policy_txt(scan, answers[(f"_mta-sts.{domain}", "TXT")], Channel.DNS_MTA_STS, "v=stsv1")
    _emit_policy_txt(
        scan, answers[(f"_smtp._tls.{domain}", "TXT")], Channel.DNS_TLS_RPT, "v=tlsrptv1"
    )
    for selector in selectors:
        _emit_dkim(scan, answers[(f"{selector}._domainkey.{domain}", "TXT")], selector)
    for label in CNAME_NAMES:
        _emit_cname(scan, answers[(f"{label}.{domain}", "CNAME")])
    for service in SRV_NAMES:
        _emit_srv(scan, answers[(f"{service}.{domain}", "SRV")], service)
    _emit_caa(scan, answers[(domain, "CAA")])
    return scan.scan


def _emit_mx(scan: _Domain, answer: Answer) -> list[str]:
    """Emit MX hosts by preference and return those whose addresses are worth asking."""
    if scan.emit_failure(answer):
        return []
    notes = list(answer.notes)
    hosts: list[str] = []
    records = [r for r in answer.records if isinstance(r, dns.rdtypes.ANY.MX.MX)]
    for record in sorted(records, key=lambda r: (r.preference, name_text(r.exchange))):
        host = name_text(record.exchange)
        if host in ("", "."):
            scan.out.note(
                f"{scan.domain}: MX nul, le domaine ne reçoit pas de courrier / "
                "null MX, the domain accepts no mail (RFC 7505)"
            )
            continue
        internal = is_internal(host, scan.domain)
        scan.emit(
            Channel.DNS_MX,
            host,
            {"preference": record.preference, "internal": internal},
            notes,
        )
        notes = []
        hosts.append(host)
    scan.leftover_notes(answer, emitted=bool(hosts))
    return hosts[:MAX_MX_HOSTS]


def _txt(answer: Answer) -> list[dns.rdtypes.ANY.TXT.TXT]:
    return [r for r in answer.records if isinstance(r, dns.rdtypes.ANY.TXT.TXT)]


def _emit_soa_ns(scan: _Domain, soa: Answer, ns: Answer) -> None:
    for record in soa.records[:1]:
        if isinstance(record, dns.rdtypes.ANY.SOA.SOA):
            scan.emit(
                Channel.DNS_SOA,
                name_text(record.mname),
                {"rname": name_text(record.rname), "serial": record.serial},
            )
    if scan.emit_failure(ns):
        return
    notes = list(ns.notes)
    for record in ns.records:
        if isinstance(record, dns.rdtypes.ANY.NS.NS):
            scan.emit(Channel.DNS_NS, name_text(record.target), {}, notes)
            notes = []
    scan.leftover_notes(ns, emitted=bool(ns.records))


def _emit_addresses(scan: _Domain, answer: Answer, role: str) -> None:
    if scan.emit_failure(answer):
        return
    notes = list(answer.notes)
    for owner, target in answer.chain:
        scan.emit(
            Channel.DNS_CNAME,
            target,
            {"name": owner, "internal": is_internal(target, scan.domain)},
            notes,
        )
        notes = []
    for record in answer.records:
        if isinstance(record, dns.rdtypes.IN.A.A | dns.rdtypes.IN.AAAA.AAAA):
            scan.emit(Channel.DNS_A, record.address, {"name": answer.name, "role": role}, notes)
            notes = []
    scan.leftover_notes(answer, emitted=bool(answer.chain or answer.records))


async def _spf(scan: _Domain, answer: Answer) -> tuple[str, SpfExpansion] | None:
    """Expand the domain's SPF record, fetching include/redirect targets through the resolver."""
    texts = [decode_txt(record.strings)[0] for record in _txt(answer)]
    records = [(text, parsed) for text in texts if (parsed := parse_spf(text)) is not None]
    if not records:
        return None

    async def fetch_txt(name: str) -> list[str]:
        """TXT strings of an include or redirect target; its failure is an observation."""
        child = await scan.ask(name, "TXT")
        scan.emit_failure(child)
        return [decode_txt(r.strings)[0] for r in _txt(child)]

    text, record = records[0]
    expansion = await expand_spf(scan.domain, record, fetch_txt)
    if len(records) > 1:
        expansion.notes.append(
            f"{len(records)} enregistrements SPF (RFC 7208 : erreur permanente) / "
            f"{len(records)} SPF records (RFC 7208: permerror)"
        )
    return text, expansion


def _emit_txt(scan: _Domain, answer: Answer, spf: tuple[str, SpfExpansion] | None) -> None:
    if scan.emit_failure(answer):
        return
    notes = list(answer.notes)
    for record in _txt(answer):
        text, decode_notes = decode_txt(record.strings)
        attributes: dict[str, JsonValue] = {}
        if spf is not None and text == spf[0]:
            parsed = parse_spf(text)
            assert parsed is not None
            attributes["spf"] = {
                "lookups": spf[1].lookups,
                "mechanisms": [
                    f"{t.qualifier}{t.name}:{t.value}".rstrip(":") for t in parsed.terms
                ],
                "invalid": list(parsed.invalid),
                "internal_hosts": [
                    host
                    for term in parsed.terms
                    if term.name in ("a", "mx")
                    and is_internal(host := term.value or scan.domain, scan.domain)
                ],
            }
            decode_notes += spf[1].notes
        scan.emit(Channel.DNS_TXT, text, attributes, notes + decode_notes)
        notes = []
    scan.leftover_notes(answer, emitted=bool(answer.records))
    if spf is not None:
        for target in spf[1].targets:
            scan.emit(
                Channel.DNS_SPF,
                target.domain,
                {"mechanism": target.mechanism, "depth": target.depth, "parent": target.parent},
            )


def _emit_dmarc(scan: _Domain, answer: Answer) -> None:
    if scan.emit_failure(answer):
        return
    for record in _txt(answer):
        text, notes = decode_txt(record.strings)
        parsed = parse_dmarc(text)
        if parsed is None:
            continue
        if len(parsed.reports) > MAX_DMARC_REPORTS:
            notes.append(
                f"{len(parsed.reports)} adresses de rapport, {MAX_DMARC_REPORTS} gardées / "
                f"{len(parsed.reports)} report addresses, first {MAX_DMARC_REPORTS} kept"
            )
        scan.emit(
            Channel.DNS_DMARC_POLICY,
            parsed.policy or "none",
            {"subdomain_policy": parsed.subdomain_policy, "record": text},
            answer.notes + notes,
        )
        for report in parsed.reports[:MAX_DMARC_REPORTS]:
            scan.emit(
                Channel.DNS_DMARC,
                report.domain,
                {"policy": parsed.policy, "address": report.address, "kind": report.kind},
            )
        return


def _emit_policy_txt(scan: _Domain, answer: Answer, channel: Channel, prefix: str) -> None:
    if scan.emit_failure(answer):
        return
    for record in _txt(answer):
        text, notes = decode_txt(record.strings)
        if text.replace(" ", "").lower().startswith(prefix):
            scan.emit(channel, text, {"name": answer.name}, answer.notes + notes)


def _emit_dkim(scan: _Domain, answer: Answer, selector: str) -> None:
    if scan.emit_failure(answer):
        return
    if answer.chain:
        scan.emit(
            Channel.DNS_DKIM,
            answer.chain[0][1],
            {
                "selector": selector,
                "name": answer.name,
                "record": "cname",
                "txt": bool(answer.records),
            },
            answer.notes,
        )
    elif answer.records:
        scan.emit(
            Channel.DNS_DKIM,
            answer.name,
            {"selector": selector, "name": answer.name, "record": "txt", "txt": True},
            answer.notes,
        )


def _emit_cname(scan: _Domain, answer: Answer) -> None:
    if scan.emit_failure(answer):
        return
    for record in answer.records[:1]:
        if isinstance(record, dns.rdtypes.ANY.CNAME.CNAME):
            target = name_text(record.target)
            scan.emit(
                Channel.DNS_CNAME,
                target,
                {"name": answer.name, "internal": is_internal(target, scan.domain)},
                answer.notes,
            )


def _emit_srv(scan: _Domain, answer: Answer, service: str) -> None:
    if scan.emit_failure(answer):
        return
    notes = list(answer.notes)
    for record in answer.records:
        if not isinstance(record, dns.rdtypes.IN.SRV.SRV):
            continue
        target = name_text(record.target)
        scan.emit(
            Channel.DNS_SRV,
            target,
            {
                "internal": is_internal(target, scan.domain),
                "service": service,
                "port": record.port,
                "priority": record.priority,
                "weight": record.weight,
            },
            notes,
        )
        notes = []


def _emit_caa(scan: _Domain, answer: Answer) -> None:
    if scan.emit_failure(answer):
        return
    for record in answer.records:
        if not isinstance(record, dns.rdtypes.ANY.CAA.CAA):
            continue
        tag = record.tag.decode("ascii", "replace").lower()
        if tag not in ("issue", "issuewild"):
            continue
        value = record.value.decode("utf-8", "replace")
        ca = value.split(";", 1)[0].strip().lower().rstrip(".")
        if ca:
            scan.emit(Channel.DNS_CAA, ca, {"tag": tag, "flags": record.flags}, answer.notes)
