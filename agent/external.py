"""External mode: DNS-only scans of many collectivités from a list of domain names.

A central team gives a file of domains (one per line, or CSV rows `domain, organisation, SIREN`);
each domain is scanned by the DNS probe's `scan_domain` with a bounded number of questions in
flight, and each organisation gets its own draft inventory in the output folder, written as soon
as all its domains are done, plus `summary.csv` (one row per domain). A rerun skips organisations
whose inventory is already complete, unless forced, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from agent import __version__
from agent.atomic import write_atomically
from agent.config import valid_label
from agent.i18n import t
from agent.scan import slug, write_inventory
from inventory import (
    Agent,
    Finding,
    Inventory,
    Observation,
    Organisation,
    OrganisationType,
    ProbeRun,
    ProbeStatus,
    Scope,
    Summary,
    siren_is_valid,
)
from probes.base import Emitter
from probes.dns.probe import DnsProbe
from probes.dns.queries import DEFAULT_DKIM_SELECTORS, scan_domain
from probes.dns.resolver import TRANSPORT_FAILURES, AsyncResolver

SUMMARY_FILE = "summary.csv"
SUMMARY_COLUMNS = (
    "organisation",
    "siren",
    "domain",
    "mail_provider",
    "dns_host",
    "jurisdiction_classes",
    "dns_status",
)
HEADER_WORDS = frozenset({"domain", "domaine", "domains", "domaines", "nom de domaine"})


@dataclass(frozen=True, slots=True)
class Target:
    """One domain to scan, the line it came from and the organisation it belongs to."""

    line: int
    domain: str
    organisation: str
    siren: str | None = None

    @property
    def key(self) -> tuple[str, str | None]:
        """Rows with the same organisation name and SIREN make one organisation."""
        return (self.organisation, self.siren)


@dataclass(slots=True)
class DomainList:
    """The targets read from a domain file and the lines that were refused, with why."""

    targets: list[Target] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def normalise_domain(text: str) -> str | None:
    """The domain in ASCII lower case (IDN encoded), or None when it is not a valid domain name."""
    name = text.strip().rstrip(".").lower()
    if not name or any(c in name for c in "/:@ \t"):
        return None
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2:
        return None
    if not all(valid_label(label) for label in labels):
        return None
    return name


def parse_domain_lines(lines: Iterable[str], source: str = "-") -> DomainList:
    """Read targets from lines; blank lines and `#` comments are skipped, bad lines reported."""
    result = DomainList()
    seen: dict[str, int] = {}
    delimiter: str | None = None
    first = True
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if delimiter is None:
            delimiter = next((d for d in (";", ",", "\t") if d in line), None)
        cells = [line]
        if delimiter is not None:
            try:
                cells = [c.strip() for c in next(csv.reader([line], delimiter=delimiter))]
            except csv.Error as exc:
                result.problems.append(f"{source}:{number}: CSV illisible / unreadable CSV: {exc}")
                continue
        if first and cells[0].lower() in HEADER_WORDS:
            first = False
            continue
        first = False
        target, problem = _target(number, cells)
        if problem:
            result.problems.append(f"{source}:{number}: {problem}")
            continue
        assert target is not None
        if target.domain in seen:
            result.problems.append(
                f"{source}:{number}: {target.domain}: "
                + t(
                    f"doublon de la ligne {seen[target.domain]}, ignoré",
                    f"duplicate of line {seen[target.domain]}, skipped",
                )
            )
            continue
        seen[target.domain] = number
        result.targets.append(target)
    return result


def _target(number: int, cells: list[str]) -> tuple[Target | None, str | None]:
    if len(cells) > 3:
        return None, t(
            f"{len(cells)} colonnes, 3 au plus (domaine, organisation, SIREN)",
            f"{len(cells)} columns, at most 3 (domain, organisation, SIREN)",
        )
    domain = normalise_domain(cells[0])
    if domain is None:
        return None, t(f"nom de domaine invalide {cells[0]!r}", f"invalid domain name {cells[0]!r}")
    organisation = cells[1] if len(cells) > 1 and cells[1] else cells[0].rstrip(".").lower()
    if len(organisation) > 300:
        return None, t("nom d'organisation trop long", "organisation name too long")
    siren = cells[2].replace(" ", "") if len(cells) > 2 and cells[2] else None
    if siren is not None and not siren_is_valid(siren):
        return None, t(
            f"SIREN invalide {cells[2]!r} (9 chiffres, clé de Luhn)",
            f"invalid SIREN {cells[2]!r} (9 digits, Luhn key)",
        )
    return Target(number, domain, organisation, siren), None


def read_domain_file(path: Path) -> DomainList:
    """Read a domain file (UTF-8, or Windows-1252 as Excel writes it); OSError if unreadable."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", "replace")
    return parse_domain_lines(io.StringIO(text), str(path))


@dataclass(frozen=True, slots=True)
class ExternalSettings:
    """Where to ask and how hard: resolver, concurrency, DKIM selectors."""

    nameservers: tuple[str, ...] = ()
    port: int = 53
    timeout: float = 2.0
    retries: int = 1
    concurrency: int = 50
    dkim_selectors: tuple[str, ...] = DEFAULT_DKIM_SELECTORS


@dataclass(slots=True)
class ExternalReport:
    """What a run did: organisations written, skipped as already done, failed; questions asked."""

    written: list[Path] = field(default_factory=list)
    rows: dict[Path, list[dict[str, str]]] = field(default_factory=dict)
    skipped: int = 0
    failed_domains: list[str] = field(default_factory=list)
    domains_scanned: int = 0
    queries: int = 0
    unreachable: str | None = None


class ResolverUnreachable(Exception):
    """No nameserver answered the first question."""


def inventory_path(output: Path, organisation: str, siren: str | None) -> Path:
    """`<slug>-<SIREN>.json`, or `<slug>-<hash of the name>.json` without SIREN."""
    suffix = siren or hashlib.sha256(organisation.encode("utf-8")).hexdigest()[:10]
    return output / f"{slug(organisation)}-{suffix}.json"


def _already_done(path: Path, domains: Sequence[str]) -> bool:
    """True when `path` is a complete inventory covering every one of `domains`."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        covered = set(document["scope"]["domains"])
        complete = all(run["status"] == ProbeStatus.OK.value for run in document["probes"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return complete and set(domains) <= covered


ProgressHook = Callable[[str], None]
"""Called with each domain when its scan ends."""


async def scan_targets(
    targets: Sequence[Target],
    settings: ExternalSettings,
    output: Path,
    force: bool = False,
    progress: ProgressHook | None = None,
    plan_hook: Callable[[int], None] | None = None,
) -> ExternalReport:
    """Scan every target not already done and write one inventory per organisation."""
    report = ExternalReport()
    groups: dict[tuple[str, str | None], list[Target]] = {}
    for target in targets:
        groups.setdefault(target.key, []).append(target)
    todo: list[Target] = []
    for (organisation, siren), members in groups.items():
        path = inventory_path(output, organisation, siren)
        if not force and _already_done(path, [m.domain for m in members]):
            report.skipped += 1
        else:
            todo.extend(members)
    if plan_hook is not None:
        plan_hook(len(todo))
    if not todo:
        return report

    resolver = AsyncResolver(
        settings.nameservers,
        settings.port,
        settings.timeout,
        settings.retries,
        max_in_flight=settings.concurrency,
    )
    try:
        first = await resolver.query(todo[0].domain, "SOA")
        if first.status in TRANSPORT_FAILURES:
            raise ResolverUnreachable(
                t("résolveur DNS injoignable", "DNS resolver unreachable") + f": {first.detail}"
            )
        await _scan_all(todo, groups, resolver, settings, output, report, progress)
    finally:
        report.queries = resolver.queries
        await resolver.close()
    return report


@dataclass(slots=True)
class _Organisation:
    """The organisation's scan in progress: one emitter for all its domains."""

    members: list[Target]
    out: Emitter = field(default_factory=lambda: Emitter("dns", DnsProbe.channels))
    pending: int = 0
    failed: list[str] = field(default_factory=list)
    started: datetime | None = None
    clock: float = 0.0


async def _scan_all(
    todo: list[Target],
    groups: dict[tuple[str, str | None], list[Target]],
    resolver: AsyncResolver,
    settings: ExternalSettings,
    output: Path,
    report: ExternalReport,
    progress: ProgressHook | None,
) -> None:
    states: dict[tuple[str, str | None], _Organisation] = {}
    for target in todo:
        state = states.setdefault(target.key, _Organisation(groups[target.key]))
        state.pending += 1
    queue: asyncio.Queue[Target] = asyncio.Queue()
    for target in todo:
        queue.put_nowait(target)

    async def worker() -> None:
        """Scan domains from the queue; write each organisation once its last domain is done."""
        while not queue.empty():
            target = queue.get_nowait()
            state = states[target.key]
            if state.started is None:
                state.started, state.clock = datetime.now(UTC), time.monotonic()
            try:
                scan = await scan_domain(
                    resolver, target.domain, state.out, settings.dkim_selectors
                )
                if scan.unreachable:
                    state.failed.append(
                        target.domain
                        + t(": aucune réponse du résolveur", ": no answer from the resolver")
                    )
            except Exception as exc:  # noqa: BLE001 - one hostile domain must not stop the run
                state.failed.append(f"{target.domain}: {type(exc).__name__}: {exc}")
            report.domains_scanned += 1
            state.pending -= 1
            if state.pending == 0:
                del states[target.key]  # the observations are not kept for the whole run
                inventory, path = _inventory(state, output)
                # Written (and fsynced) in a thread: the event loop keeps its questions flowing.
                await asyncio.to_thread(write_inventory, inventory, path)
                report.written.append(path)
                report.rows[path] = summary_rows(inventory)
                report.failed_domains.extend(state.failed)
            if progress is not None:
                progress(target.domain)

    await asyncio.gather(*(worker() for _ in range(max(1, settings.concurrency))))


def _inventory(state: _Organisation, output: Path) -> tuple[Inventory, Path]:
    """Identify products in the organisation's observations: its inventory and where it goes."""
    from fingerprints.engine import analyse

    first = state.members[0]
    observations = state.out.observations
    analysis = analyse(observations)
    by_jurisdiction: dict[str, int] = {}
    for finding in analysis.findings:
        key = finding.jurisdiction.value
        by_jurisdiction[key] = by_jurisdiction.get(key, 0) + 1
    run = ProbeRun(
        name="dns",
        status=ProbeStatus.FAILED if state.failed else ProbeStatus.OK,
        duration_s=round(time.monotonic() - state.clock, 3),
        observations=len(observations),
        error="; ".join(state.failed) or None,
        notes=list(state.out.notes),
    )
    inventory = Inventory(
        organisation=Organisation(
            name=first.organisation, siren=first.siren, type=OrganisationType.OTHER
        ),
        agent=Agent(version=__version__, hostname=socket.gethostname()),
        started_at=state.started or datetime.now(UTC),
        finished_at=datetime.now(UTC),
        scope=Scope(domains=[m.domain for m in state.members]),
        probes=[run],
        observations=observations,
        findings=analysis.findings,
        unidentified=analysis.unidentified,
        summary=Summary(
            observations=len(observations),
            findings=len(analysis.findings),
            unidentified=len(analysis.unidentified),
            probes_failed=int(bool(state.failed)),
            findings_by_jurisdiction=dict(sorted(by_jurisdiction.items())),
            dependency_index=analysis.dependency_index,
            euros_by_jurisdiction=analysis.euros_by_jurisdiction,
        ),
    )
    return inventory, inventory_path(output, first.organisation, first.siren)


def summary_rows(inventory: Inventory) -> list[dict[str, str]]:
    """One summary row per domain of an inventory: mail provider, DNS host, jurisdictions."""
    observations = {o.id: o for o in inventory.observations}
    rows = []
    for domain in inventory.scope.domains:
        here = [o for o in inventory.observations if o.locus == domain]
        found = [f for f in inventory.findings if f.locus == domain]
        current = [f for f in found if f.usage.value == "current"]
        rows.append(
            {
                "organisation": inventory.organisation.name,
                "siren": inventory.organisation.siren or "",
                "domain": domain,
                "mail_provider": _mail_provider(here, current, observations),
                "dns_host": _dns_host(here, current),
                "jurisdiction_classes": " ".join(sorted({f.jurisdiction.value for f in current})),
                "dns_status": _dns_status(domain, here),
            }
        )
    return rows


def _dns_status(domain: str, here: list[Observation]) -> str:
    """`ok`, or how the domain's own SOA question failed (nxdomain, servfail…)."""
    for observation in here:
        attributes = observation.attributes
        if observation.channel == "dns.error" and (
            attributes.get("name"),
            attributes.get("rdtype"),
        ) == (domain, "SOA"):
            return str(attributes.get("status", "error"))
    return "ok"


def _names(findings: Iterable[Finding]) -> str:
    return " + ".join(sorted({f.product_name for f in findings}))


def _mail_provider(
    here: list[Observation],
    current: list[Finding],
    observations: dict[str, Observation],
) -> str:
    """The mail provider; self-hosted when only the domain's own hosts handle its mail."""
    mx = [o for o in here if o.channel == "dns.mx"]
    if not mx:
        return ""
    providers = _names(f for f in current if f.domain == "messagerie")
    gateways = _names(
        f
        for f in current
        if f.domain == "mail-securite"
        and any(observations[e].channel == "dns.mx" for e in f.evidence if e in observations)
    )
    if not providers:
        # Self-hosted: an MX inside the domain, or behind a gateway the domain's own hosts named
        # by the SPF record (`a`, `mx`, `a:mail.<domain>`) or by autodiscover.
        internal = any(o.attributes.get("internal") is True for o in mx) or any(
            (o.channel == "dns.cname" and o.attributes.get("internal") is True)
            or (o.channel == "dns.txt" and _spf_internal(o))
            for o in here
        )
        if internal:
            providers = t("auto-hébergé", "self-hosted")
        elif not gateways:
            providers = t("inconnu", "unknown") + f" ({mx[0].value})"
    if gateways:
        return f"{providers} ({t('passerelle', 'gateway')} {gateways})".strip()
    return providers


def _spf_internal(observation: Observation) -> bool:
    spf = observation.attributes.get("spf")
    return isinstance(spf, dict) and bool(spf.get("internal_hosts"))


def _dns_host(here: list[Observation], current: list[Finding]) -> str:
    hosts = _names(f for f in current if f.domain == "dns")
    if hosts:
        return hosts
    ns = sorted(o.value for o in here if o.channel == "dns.ns")
    if not ns:
        return ""
    domain = here[0].locus
    if all(name == domain or name.endswith("." + domain) for name in ns):
        return t("auto-hébergé", "self-hosted")
    return t("inconnu", "unknown") + f" ({ns[0]})"


def write_summary(output: Path, known: dict[Path, list[dict[str, str]]] | None = None) -> Path:
    """Rebuild `summary.csv` from every inventory in the folder (this run's and earlier ones).

    `known` holds the rows of the inventories this run wrote, so that only earlier ones are read.
    """
    known = known or {}
    rows: list[dict[str, str]] = []
    for path in sorted(output.glob("*.json")):
        if path in known:
            rows.extend(known[path])
            continue
        try:
            inventory = Inventory.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        rows.extend(summary_rows(inventory))
    target = output / SUMMARY_FILE
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    write_atomically(target, buffer.getvalue().encode("utf-8"))
    return target


def run_external(
    targets: Sequence[Target],
    settings: ExternalSettings,
    output: Path,
    force: bool = False,
    progress: ProgressHook | None = None,
    plan_hook: Callable[[int], None] | None = None,
) -> ExternalReport:
    """Scan the targets (blocking), write the inventories, then the summary."""
    output.mkdir(parents=True, exist_ok=True)
    try:
        report = asyncio.run(scan_targets(targets, settings, output, force, progress, plan_hook))
    except ResolverUnreachable as exc:
        report = ExternalReport(unreachable=str(exc))
    write_summary(output, report.rows)
    return report
