"""Response time of the review pages on a large PostgreSQL database, server side and in Chromium.

The database holds `--organisations` organisations (one EPCI for every 19 communes, which are its
children) of `--inventories` inventories each, of `--findings` findings each: 2,000 × 10 × 300 =
6,000,000 findings rows at full scale. Every finding's `data` is a real Finding (the catalog's
description of a real product at a locus of the organisation), every inventory's `document` a
real Inventory with its observations, unidentified ones included; successive inventories of an
organisation share most findings (two come and two go each time), 30 % of an organisation's
findings carry a decision (confirmed, rejected, corrected, or only details), the two oldest
inventories are validated (with their snapshot of findings) and the third rejected, so that
the inventory page computes decisions, corrections and the diff against the validated one.

The database (`tiebreak_bench_web` by default) is built with the application's migrations and
filled with COPY, once: later runs reuse it when it holds the scale asked for (`--reseed` to
rebuild it). A real `tiebreak server run` process on 127.0.0.1 (one worker) then serves:
- the review queue (/revue, drafts, first page) signed in as an administrator, who sees every
  organisation, and as a reviewer assigned to one EPCI (so to it and its 19 communes);
- inventory pages (/inventaires/{id}) of random inventories, as each of them;
each timed `--requests` times, one request at a time, with a requests.Session signed in through
the HTML form; and the same data from the JSON API as the baseline of each page (GET
/api/v1/inventories?limit=50 for the queue, GET /api/v1/inventories/{id}/findings for an
inventory), interleaved with the page's requests. The same SQL is then timed alone, in this
process, through the store functions the pages call; then Chromium loads each page
`--browser-requests` times (Navigation Timing: navigation start to the end of the load event).
Target: p95 at most 300 ms server side for each page.

Usage: .venv/bin/python benchmarks/bench_web.py [--organisations 2000] [--inventories 10]
       [--findings 300] [--requests 200] [--browser-requests 30] [--reseed] [--explain]
       [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/tiebreak_bench_web]
PostgreSQL: 127.0.0.1:5432, trust authentication. About 11 GB of disk at full scale.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import psycopg
import requests
from sqlalchemy import Engine, make_url, text

from fingerprints.catalog import default_catalog
from fingerprints.engine import default_engine, finding_id
from inventory import Finding, Inventory
from inventory.models import observation_id, siren_is_valid
from server import admin, db, migrations, review
from server.store import decisions, inventories, organisations
from server.web.review import PAGE_SIZE, SELECT_LIMIT

REPO = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/tiebreak_bench_web"
PASSWORD = "banc d'essai des pages de revue"
ADMIN, REVIEWER = "bench-admin", "bench-reviewer"
TARGET_MS = 300.0
TEMPLATES = 50  # distinct catalog products an organisation's findings are made of
EPCI_EVERY = 20  # one EPCI, then 19 communes that are its children
DECIDED = 0.3  # share of an organisation's findings with a decision
VALIDATED = 2  # oldest inventories of each organisation that are validated (the third rejected)
EPOCH = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)  # newest inventories are received this day


# --- Seeding --------------------------------------------------------------------------------


def _copy_text(value: str) -> str:
    """A value for COPY's text format."""
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def _copy_line(values: Sequence[Any]) -> str:
    return "\t".join(r"\N" if v is None else _copy_text(str(v)) for v in values) + "\n"


def _copy_bytes(value: bytes) -> bytes:
    """UTF-8 bytes for COPY's text format (big texts stay bytes: no widening, no re-encoding)."""
    if b"\\" in value:
        value = value.replace(b"\\", b"\\\\")
    if b"\t" in value or b"\n" in value or b"\r" in value:
        value = value.replace(b"\t", b"\\t").replace(b"\n", b"\\n").replace(b"\r", b"\\r")
    return value


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


PLACES = [
    "Saint-Martin",
    "Beaumont",
    "Villeneuve",
    "Montreuil",
    "Fontaine",
    "Châteauneuf",
    "Bourg",
    "Sainte-Marie",
    "Clermont",
    "Roche",
    "Val",
    "Neuville",
    "Montfort",
    "Laval",
    "Belleville",
    "Saint-Julien",
    "Mont",
    "Pont",
    "Champ",
    "Rivière",
    "Saint-Pierre",
    "Bois",
    "Lac",
    "Vieux",
]
SUFFIXES = (
    "",
    *[
        "-sur-Loire",
        "-en-Vexin",
        "-le-Grand",
        "-les-Bains",
        "-sur-Mer",
        "-la-Forêt",
        "-du-Lac",
        "-sur-Saône",
    ],
)


@dataclass(frozen=True, slots=True)
class Org:
    """One organisation of the benchmark: its row, and what its inventories are made of."""

    number: int
    id: int
    name: str
    siren: str
    kind: str
    parent_id: int | None

    @property
    def slug(self) -> str:
        return f"org{self.number:05d}"


def organisation(number: int) -> Org:
    """The organisation `number` (0-based): an EPCI every EPCI_EVERY, else a commune below it."""
    rng = random.Random(f"org-{number}")
    place = rng.choice(PLACES) + rng.choice(SUFFIXES)
    prefix = (24_000_000 if number % EPCI_EVERY == 0 else 21_000_000) + number
    siren = next(s for s in (f"{prefix:08d}{d}" for d in range(10)) if siren_is_valid(s))
    if number % EPCI_EVERY == 0:
        return Org(number, number + 1, f"Communauté de communes de {place}", siren, "epci", None)
    parent = number - number % EPCI_EVERY + 1
    return Org(number, number + 1, f"Commune de {place}", siren, "commune", parent)


@dataclass(slots=True)
class Fixtures:
    """Catalog findings (one per product) the organisations' findings are variations of."""

    templates: list[dict[str, Any]]
    products: list[str]
    pieces: list[list[str]]  # each template's JSON split around the fields that vary

    @classmethod
    def load(cls) -> Fixtures:
        catalog, engine = default_catalog(), default_engine()
        products = sorted(catalog.products)
        step = max(1, len(products) // TEMPLATES)
        chosen = products[::step][:TEMPLATES]
        templates = [engine.describe(p, "template").model_dump(mode="json") for p in chosen]
        pieces = []
        for template in templates:
            marked = template | {name.lower(): f"@@{name}@@" for name in VARYING}
            marked |= {"evidence": ["@@EVIDENCE@@"], "matched": ["@@MATCHED@@"]}
            pieces.append(re.split(r'("@@[A-Z]+@@")', _dumps(marked)))
        return cls(templates, products, pieces)

    def finding(self, number: int, values: dict[str, str]) -> str:
        """The JSON of template `number` with `values` (JSON texts) in its varying fields."""
        return "".join(
            values[piece[3:-3]] if piece.startswith('"@@') else piece
            for piece in self.pieces[number]
        )


VARYING = ("ID", "LOCUS", "VERSION", "CONFIDENCE", "EVIDENCE", "MATCHED")


SITES = ("www", "mail", "extranet", "portail", "rh", "sig", "agenda", "famille", "tiers")
CHANNELS = {
    "infrastructure": ("network", "nmap.service"),
    "poste-de-travail": ("host", "package.windows"),
    "logiciel": ("host", "package"),
}


@dataclass(slots=True)
class PoolFinding:
    """A finding of an organisation, ready for the findings table and the documents."""

    key: str
    product: str
    vendor: str
    jurisdiction: str
    category: str
    data: bytes  # Finding JSON, UTF-8
    observation: bytes  # Observation JSON of its evidence, UTF-8


@dataclass(slots=True)
class InventoryRow:
    """One inventory of an organisation and the slice of its pool it holds."""

    id: str
    received_at: datetime
    status: str
    start: int  # its findings are pool[start : start + findings]


@dataclass(slots=True)
class OrgData:
    """Everything generated for one organisation (deterministic: the same on every pass)."""

    org: Org
    pool: list[PoolFinding]
    unidentified: list[tuple[str, bytes]]  # (observation id, observation JSON)
    inventories: list[InventoryRow]
    decided: dict[str, str | None] = field(default_factory=dict)  # finding key -> status


def organisation_data(org: Org, args: argparse.Namespace, fixtures: Fixtures) -> OrgData:
    """The findings, observations, inventories and decisions of one organisation."""
    rng = random.Random(f"data-{org.number}")
    size = args.findings + 2 * (args.inventories - 1)
    domain = f"{org.slug}.fr"
    offset = org.number % len(fixtures.templates)
    pool: list[PoolFinding] = []
    for n in range(size):
        number = (n + offset) % len(fixtures.templates)
        template = fixtures.templates[number]
        product, category = template["product"], template["category"]
        probe, channel = CHANNELS.get(category, ("host", "package"))
        if template["domain"] == "messagerie":
            probe, channel = "dns", "dns.mx"
        group = n // len(fixtures.templates)  # a product comes back once per group: new locus
        if probe == "dns":
            locus = f"{SITES[group]}.{domain}" if group < len(SITES) else f"site{group}.{domain}"
        else:
            locus = f"srv-{group + 1:02d}.{org.slug}.local"
        version = f"{rng.randint(1, 24)}.{rng.randint(0, 12)}.{rng.randint(0, 99)}"
        value = f"{product} {version}" if probe != "dns" else f"10 {product}.mail.protection.net"
        obs_id = observation_id(probe, channel, locus, value)
        attributes = f'{{"version":"{version}"}}' if probe != "dns" else '{"priority":10}'
        observation = (
            f'{{"id":"{obs_id}","probe":"{probe}","channel":"{channel}","locus":"{locus}",'
            f'"value":"{value}","attributes":{attributes},"notes":[]}}'
        )
        key = finding_id(product, locus)
        data = fixtures.finding(
            number,
            {
                "ID": f'"{key}"',
                "LOCUS": f'"{locus}"',
                "VERSION": f'"{version}"' if probe != "dns" else "null",
                "CONFIDENCE": '"strong"' if rng.random() < 0.85 else '"weak"',
                "EVIDENCE": f'"{obs_id}"',
                "MATCHED": f'"{channel}:{product}"',
            },
        )
        pool.append(
            PoolFinding(
                key,
                product,
                template["vendor"],
                template["jurisdiction"],
                category,
                data.encode(),
                observation.encode(),
            )
        )
    unidentified = []
    for n in range(max(1, args.findings // 6)):
        channel = ("package", "process", "service", "net.remote")[n % 4]
        locus = f"srv-{n % 8 + 1:02d}.{org.slug}.local"
        value = f"{('lib', 'svc', 'agent', 'outil')[n % 4]}-{org.slug}-{n}"
        obs_id = observation_id("host", channel, locus, value)
        observation = (
            f'{{"id":"{obs_id}","probe":"host","channel":"{channel}","locus":"{locus}",'
            f'"value":"{value}","attributes":{{}},"notes":[]}}'
        )
        unidentified.append((obs_id, observation.encode()))
    rows = []
    last = args.inventories - 1
    for k in range(args.inventories):
        received = EPOCH - timedelta(days=7 * (last - k)) + timedelta(seconds=37 * org.number)
        status = "draft"
        if k < VALIDATED and k < last:
            status = "validated"
        elif k == VALIDATED and k < last:
            status = "rejected"
        inventory_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        rows.append(InventoryRow(inventory_id, received, status, 2 * k))
    result = OrgData(org, pool, unidentified, rows)
    for n in rng.sample(range(size), round(DECIDED * size)):
        draw = rng.random()
        decision = (
            "confirmed"
            if draw < 0.75
            else "rejected"
            if draw < 0.87
            else "corrected"
            if draw < 0.92
            else None
        )
        result.decided[pool[n].key] = decision
    return result


def decision_lines(data: OrgData, first_id: int, fixtures: Fixtures) -> list[str]:
    """COPY lines of the organisation's decisions, ids from `first_id`."""
    rng = random.Random(f"decisions-{data.org.number}")
    first = data.inventories[0]
    when = first.received_at + timedelta(days=1)
    lines = []
    added = fixtures.products[data.org.number % len(fixtures.products)]
    rows: list[tuple[str, str, str | None, str | None]] = [
        (key, "finding", status, None) for key, status in data.decided.items()
    ]
    rows.append((f"add:{added}", "manual", "confirmed", added))
    classified = rng.choice(fixtures.products)
    rows.append((f"obs:{data.unidentified[0][0]}", "observation", "confirmed", classified))
    for number, (key, kind, status, product) in enumerate(rows):
        reason = None
        if status == "rejected":
            reason = "faux positif : paquet présent mais logiciel désinstallé"
        if status == "corrected":
            product = rng.choice(fixtures.products)
        details: list[Any] = [None] * 5
        if rng.random() < 0.3 or status is None:
            details = [
                rng.choice(("low", "medium", "high", "critical")),
                float(rng.randrange(0, 50_000, 50)),
                rng.randrange(1, 400),
                rng.choice(("easy", "moderate", "hard")),
                "contrat renouvelé en 2024, échéance 2027",
            ]
        lines.append(
            _copy_line(
                [
                    first_id + number,
                    data.org.id,
                    key,
                    kind,
                    status,
                    product,
                    None,
                    reason,
                    *details,
                    first.id,
                    when.isoformat(),
                    REVIEWER,
                ]
            )
        )
    return lines


def inventory_lines(data: OrgData, args: argparse.Namespace) -> Iterator[tuple[bytes, bytes]]:
    """(COPY line, document) of each inventory of the organisation, as UTF-8."""
    org = data.org
    organisation_json = _dumps({"name": org.name, "siren": org.siren, "type": org.kind})
    scope = _dumps(
        {
            "domains": [f"{org.slug}.fr"],
            "networks": ["127.20.0.0/16"],
            "exclude": [],
            "directory": f"ldap://annuaire.{org.slug}.local/dc={org.slug},dc=local",
        }
    )
    unidentified_ids = _dumps([obs_id for obs_id, _ in data.unidentified]).encode()
    unidentified_json = b",".join(obs for _, obs in data.unidentified)
    for row in data.inventories:
        window = data.pool[row.start : row.start + args.findings]
        started = row.received_at - timedelta(minutes=23)
        probes = _dumps(
            [
                {"name": "host", "status": "ok", "duration_s": 41.2, "observations": len(window)},
                {"name": "dns", "status": "ok", "duration_s": 3.7, "observations": 12},
                {
                    "name": "ldap",
                    "status": "failed",
                    "duration_s": 0.4,
                    "observations": 0,
                    "error": "annuaire injoignable",
                },
            ]
        )
        observations = len(window) + len(data.unidentified)
        summary = _dumps(
            {
                "observations": observations,
                "findings": len(window),
                "unidentified": len(data.unidentified),
                "probes_failed": 1,
                "findings_by_jurisdiction": dict(Counter(f.jurisdiction for f in window)),
                "dependency_index": {"overall": 57.3, "infrastructure": 61.0, "logiciel": 49.8},
                "euros_by_jurisdiction": {},
            }
        )
        head = (
            f'{{"schema":"1.0","id":"{row.id}","organisation":{organisation_json},'
            f'"agent":{{"version":"0.4.0","hostname":"poste-dsi.{org.slug}.local"}},'
            f'"started_at":"{_utc(started)}","finished_at":"{_utc(row.received_at)}",'
            f'"scope":{scope},"probes":{probes},"observations":['
        )
        document = b"".join(
            (
                head.encode(),
                b",".join(f.observation for f in window),
                b",",
                unidentified_json,
                b'],"findings":[',
                b",".join(f.data for f in window),
                b'],"unidentified":',
                unidentified_ids,
                f',"summary":{summary}}}'.encode(),
            )
        )
        snapshot = rb"\N"
        validated = None
        if row.status == "validated":
            validated = row.received_at + timedelta(days=2)
            snapshot = _copy_bytes(
                b"["
                + b",".join(
                    b'{"key":"%s","origin":"scan","state":"%s",%s'
                    % (f.key.encode(), (data.decided.get(f.key) or "pending").encode(), f.data[1:])
                    for f in window
                    if data.decided.get(f.key) != "rejected"
                )
                + b"]"
            )
        before = _copy_line(
            [
                row.id,
                org.id,
                row.status,
                row.received_at.isoformat(),
                started.isoformat(),
                row.received_at.isoformat(),
                f"poste-dsi.{org.slug}.local",
                len(window),
                observations,
                hashlib.sha256(document).hexdigest(),
            ]
        )
        after = _copy_line(
            [
                "agent",
                validated.isoformat() if validated else None,
                REVIEWER if validated else None,
            ]
        )
        line = b"".join(
            (
                before[:-1].encode(),
                b"\t",
                _copy_bytes(document),
                b"\t",
                after[:-1].encode(),
                b"\t",
                snapshot,
                b"\n",
            )
        )
        yield line, document


def finding_lines(data: OrgData, first_id: int, args: argparse.Namespace) -> bytes:
    """COPY text of every findings row of the organisation's inventories, ids from `first_id`."""
    rests = [
        f"\t{f.key}\t{f.product}\t{f.vendor}\t{f.jurisdiction}\t{f.category}\t".encode()
        + _copy_bytes(f.data)
        + b"\n"
        for f in data.pool
    ]
    parts = []
    number = first_id
    for row in data.inventories:
        middle = f"\t{row.id}\t"
        for position in range(args.findings):
            parts.append(f"{number}{middle}{position}".encode())
            parts.append(rests[row.start + position])
            number += 1
    return b"".join(parts)


def _plain(url: str) -> str:
    """The URL as psycopg takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _maintenance_url(url: str) -> str:
    return _plain(make_url(url).set(database="test").render_as_string(hide_password=False))


def marker(args: argparse.Namespace) -> str:
    """What the database's comment says once it is filled at this scale and schema revision."""
    return (
        f"tiebreak bench_web v1: organisations={args.organisations} "
        f"inventories={args.inventories} findings={args.findings} "
        f"revision={migrations.revisions()[-1]}"
    )


def ready(url: str, args: argparse.Namespace) -> bool:
    """True when the database exists, holds this scale and was filled to the end."""
    name = make_url(url).database
    with psycopg.connect(_maintenance_url(url), autocommit=True) as connection:
        row = connection.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (name,),
        ).fetchone()
    if row is None or row[0] != marker(args):
        return False
    with psycopg.connect(_plain(url)) as connection:
        orgs, invs, total = connection.execute(
            "SELECT (SELECT count(*) FROM organisations), count(*), sum(findings_count) "
            "FROM inventories"
        ).fetchone()  # type: ignore[misc]
        last = connection.execute("SELECT max(id) FROM findings").fetchone()[0]  # type: ignore[index]
        people = connection.execute(
            "SELECT count(*) FROM users WHERE username IN (%s, %s)", (ADMIN, REVIEWER)
        ).fetchone()[0]  # type: ignore[index]
    rows = args.organisations * args.inventories * args.findings
    return bool(
        orgs == args.organisations
        and invs == args.organisations * args.inventories
        and total == rows
        and last == rows
        and people == 2
    )


def seed(url: str, args: argparse.Namespace) -> float:
    """Create the database afresh, migrate it and fill it; the seconds it took."""
    began = time.perf_counter()
    name = make_url(url).database
    with psycopg.connect(_maintenance_url(url), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    engine = db.make_engine(url)
    migrations.migrate(engine)
    engine.dispose()
    fixtures = Fixtures.load()
    orgs = [organisation(n) for n in range(args.organisations)]
    timings: dict[str, float] = {}
    with psycopg.connect(_plain(url)) as connection:
        superuser = connection.execute("SHOW is_superuser").fetchone()[0] == "on"  # type: ignore[index]
        if superuser:
            # Skip the foreign key triggers: rows are consistent by construction, and checking
            # 6 million references one by one would cost more than writing them.
            connection.execute("SET session_replication_role = replica")
        connection.execute("SET maintenance_work_mem = '1GB'")
        connection.execute("SET synchronous_commit = off")
        # Truncated in this transaction, the tables take COPY FREEZE: rows written frozen and
        # pages all-visible, so that no read during the measures rewrites them to set hint bits.
        connection.execute(
            "TRUNCATE findings, decisions, inventories, user_organisations, agent_tokens, "
            "organisations RESTART IDENTITY"
        )
        index = connection.execute(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE tablename = 'findings' AND indexdef LIKE '%(inventory_id)'"
        ).fetchall()
        for index_name, _definition in index:
            connection.execute(f'DROP INDEX "{index_name}"')
        step = time.perf_counter()
        with connection.cursor().copy(
            "COPY organisations (id, name, siren, type, parent_id, created_at) FROM STDIN "
            "WITH (FREEZE)"
        ) as copy:
            created = (EPOCH - timedelta(days=400)).isoformat()
            for org in orgs:
                copy.write(
                    _copy_line([org.id, org.name, org.siren, org.kind, org.parent_id, created])
                )
        decision_text: list[str] = []
        checked = False
        # Findings of every organisation are generated once and kept for the findings COPY
        # (about 1.7 kB a finding) unless that would take more than 4 GB of memory.
        pool = args.findings + 2 * (args.inventories - 1)
        keep = args.organisations * pool * 1700 < 4e9
        kept: list[OrgData] = []
        with connection.cursor().copy(
            "COPY inventories (id, organisation_id, status, received_at, started_at, finished_at, "
            "agent_hostname, findings_count, observations_count, body_sha256, document, source, "
            "validated_at, validated_by, validated_findings) FROM STDIN WITH (FREEZE)"
        ) as copy:
            for org in orgs:
                data = organisation_data(org, args, fixtures)
                if keep:
                    kept.append(data)
                decision_text.extend(decision_lines(data, len(decision_text) + 1, fixtures))
                for line, document in inventory_lines(data, args):
                    if not checked:  # the generated texts are what the application reads
                        Inventory.model_validate_json(document)
                        Finding.model_validate_json(data.pool[0].data)
                        json.loads(line.split(b"\t")[-1])  # the validated snapshot, if any
                        checked = True
                    copy.write(line)
        with connection.cursor().copy(
            "COPY decisions (id, organisation_id, finding_key, kind, status, product, manual, "
            "reason, criticality, annual_cost_eur, licences, replaceability, note, inventory_id, "
            "decided_at, decided_by) FROM STDIN WITH (FREEZE)"
        ) as copy:
            for start in range(0, len(decision_text), 10_000):
                copy.write("".join(decision_text[start : start + 10_000]))
        timings["organisations, inventories, decisions"] = time.perf_counter() - step
        step = time.perf_counter()
        with connection.cursor().copy(
            "COPY findings (id, inventory_id, position, finding_id, product, vendor, jurisdiction, "
            "category, data) FROM STDIN WITH (FREEZE)"
        ) as copy:
            number = 1
            for count, org in enumerate(orgs, 1):
                data = kept[count - 1] if keep else organisation_data(org, args, fixtures)
                if keep:
                    kept[count - 1] = None  # type: ignore[call-overload]
                copy.write(finding_lines(data, number, args))
                number += args.inventories * args.findings
                if count % 200 == 0:
                    elapsed = time.perf_counter() - step
                    print(
                        f"  findings: {count}/{len(orgs)} organisations, {elapsed:.0f} s",
                        file=sys.stderr,
                        flush=True,
                    )
        timings["findings (COPY)"] = time.perf_counter() - step
        step = time.perf_counter()
        for _name, definition in index:
            connection.execute(definition)
        timings["findings index on inventory_id"] = time.perf_counter() - step
        for table in ("organisations", "decisions", "findings"):
            connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )
        step = time.perf_counter()
        connection.commit()
        timings["commit"] = time.perf_counter() - step
    engine = db.make_engine(url)
    reviewed = reviewer_organisation(args)
    admin.create_user(engine, ADMIN, PASSWORD, admin.Role.ADMIN, [])
    admin.create_user(engine, REVIEWER, PASSWORD, admin.Role.REVIEWER, [str(reviewed)])
    engine.dispose()
    step = time.perf_counter()
    with psycopg.connect(_plain(url), autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    timings["VACUUM ANALYZE"] = time.perf_counter() - step
    with psycopg.connect(_maintenance_url(url), autocommit=True) as connection:
        comment = marker(args).replace("'", "''")
        connection.execute(f"COMMENT ON DATABASE \"{name}\" IS '{comment}'")
    for what, seconds in timings.items():
        print(f"  {what}: {seconds:.1f} s")
    return time.perf_counter() - began


def reviewer_organisation(args: argparse.Namespace) -> int:
    """The EPCI the reviewer is assigned to: the one in the middle of the list."""
    epcis = max(1, -(-args.organisations // EPCI_EVERY))
    return organisation(EPCI_EVERY * (epcis // 2)).id


def ensure_database(url: str, args: argparse.Namespace) -> None:
    """Reuse the database when it holds this scale, else build it; print what was done."""
    if not args.reseed and ready(url, args):
        print(f"database {make_url(url).database}: reused (already at this scale)")
        return
    rows = args.organisations * args.inventories * args.findings
    print(f"database {make_url(url).database}: seeding {rows:,} findings rows …", flush=True)
    seconds = seed(url, args)
    print(f"seeding time: {seconds:.1f} s ({seconds / 60:.1f} min)")


def describe_database(url: str) -> None:
    """Sizes of the database and of its two big tables."""
    with psycopg.connect(_plain(url)) as connection:
        sizes = connection.execute(
            "SELECT pg_size_pretty(pg_database_size(current_database())), "
            "pg_size_pretty(pg_total_relation_size('findings')), "
            "pg_size_pretty(pg_total_relation_size('inventories')), "
            "(SELECT count(*) FROM organisations), (SELECT count(*) FROM inventories), "
            "(SELECT max(id) FROM findings), (SELECT count(*) FROM decisions), "
            "(SELECT count(*) FROM inventories WHERE status = 'draft')"
        ).fetchone()
    assert sizes is not None
    print(
        f"database size {sizes[0]} (findings {sizes[1]}, inventories {sizes[2]}); "
        f"{sizes[3]:,} organisations, {sizes[4]:,} inventories ({sizes[7]:,} drafts), "
        f"{sizes[5]:,} findings rows, {sizes[6]:,} decisions"
    )


# --- Measuring ------------------------------------------------------------------------------


def free_port() -> int:
    """A free TCP port on the loopback address."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A `tiebreak server run` process on 127.0.0.1, answering; its base URL. Its output goes
    to `log` (uvicorn's access log: one line a request)."""
    port = free_port()
    command = Path(sys.executable).parent / "tiebreak"
    program = [str(command)] if command.exists() else [sys.executable, "-m", "agent"]
    server = subprocess.Popen(
        [
            *program,
            "server",
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--database-url",
            url,
        ],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server stopped at start (exit status {server.returncode})")
        try:
            if requests.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                return server, base
        except requests.ConnectionError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("the server did not answer within 120 s")


def sign_in(base: str, username: str) -> requests.Session:
    """A session signed in through the HTML form (GET /connexion for the token, then POST)."""
    session = requests.Session()
    form = session.get(f"{base}/connexion", timeout=30)
    found = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert found, "no csrf field in the sign-in form"
    answer = session.post(
        f"{base}/connexion",
        data={
            "csrf": found.group(1),
            "suivant": "/revue",
            "username": username,
            "password": PASSWORD,
        },
        allow_redirects=False,
        timeout=60,
    )
    assert answer.status_code == 303, f"sign-in of {username}: {answer.status_code}"
    return session


@dataclass(slots=True)
class Series:
    """Times of one kind of request, in milliseconds, and the sizes of the answers."""

    label: str
    times: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)  # ms of the server process
    database_cpu: list[float] = field(default_factory=list)  # ms of its PostgreSQL backends
    extra: dict[str, list[float]] = field(default_factory=dict)  # browser: TTFB, DCL
    failures: list[str] = field(default_factory=list)

    def add(self, other: Series) -> None:
        """Append another series' figures."""
        self.times += other.times
        self.sizes += other.sizes
        self.server_cpu += other.server_cpu
        self.database_cpu += other.database_cpu
        self.failures += other.failures
        for name, values in other.extra.items():
            self.extra.setdefault(name, []).extend(values)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.times)
        if not ordered:
            return float("nan")
        if len(ordered) == 1:
            return ordered[0]
        return statistics.quantiles(ordered, n=100, method="inclusive")[round(q * 100) - 1]

    @property
    def p50(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")

    @property
    def p95(self) -> float:
        return self.quantile(0.95)

    @property
    def worst(self) -> float:
        return max(self.times) if self.times else float("nan")


class Meter:
    """CPU time used so far by the server process and by the PostgreSQL backends serving it
    (found through its TCP connections to the database and pg_stat_activity): figures that
    other work on the machine does not inflate the way it inflates wall time."""

    def __init__(self, server_pid: int, url: str) -> None:
        self.server = psutil.Process(server_pid)
        self.port = make_url(url).port or 5432
        self.database = psycopg.connect(_plain(url), autocommit=True)
        self.backends: dict[int, psutil.Process] = {}  # client port -> backend process

    def close(self) -> None:
        self.database.close()

    def _refresh(self) -> None:
        ports = {
            c.laddr.port
            for c in self.server.net_connections(kind="tcp")
            if c.raddr and c.raddr.port == self.port
        }
        if ports == set(self.backends):
            return
        rows = self.database.execute(
            "SELECT client_port, pid FROM pg_stat_activity WHERE client_port = ANY(%s)",
            (sorted(ports),),
        ).fetchall()
        self.backends = {}
        for port, pid in rows:
            try:
                self.backends[port] = psutil.Process(pid)
            except psutil.NoSuchProcess:
                continue

    def read(self) -> tuple[float, dict[int, float]]:
        """CPU seconds of the server, and of each backend by pid."""
        self._refresh()
        times = self.server.cpu_times()
        backends = {}
        for process in self.backends.values():
            try:
                used = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            backends[process.pid] = used.user + used.system
        return times.user + times.system, backends


def fetch(
    session: requests.Session, url: str, series: Series, expect: str, meter: Meter | None
) -> None:
    """GET `url`, add its time (and CPU) to `series`; it must answer 200 with `expect` in it."""
    before = meter.read() if meter else None
    began = time.perf_counter()
    try:
        answer = session.get(url, allow_redirects=False, timeout=120)
        body = answer.content
    except requests.RequestException as exc:
        series.failures.append(f"GET {url}: {exc}")
        return
    series.times.append((time.perf_counter() - began) * 1000)
    series.sizes.append(len(body))
    if meter and before:
        after = meter.read()
        series.server_cpu.append((after[0] - before[0]) * 1000)
        series.database_cpu.append(
            sum(max(0.0, used - before[1].get(pid, 0.0)) for pid, used in after[1].items()) * 1000
        )
    if answer.status_code != 200 or expect.encode() not in body:
        series.failures.append(f"GET {url}: {answer.status_code} {body[:200]!r}")


def paired(
    session: requests.Session,
    urls: Sequence[tuple[str, str]],
    page: Series,
    baseline: Series,
    meter: Meter,
    warmup: int = 3,
) -> None:
    """Each page then its baseline (in alternating order, so neither always finds the other's
    rows cached), one request at a time; the first `warmup` pairs are not counted."""
    for number, (page_url, api_url) in enumerate(urls):
        scratch_page, scratch_api = Series(""), Series("")
        order = [
            (page_url, scratch_page, "<!doctype html>"),
            (api_url, scratch_api, "["),
        ]
        if number % 2:
            order.reverse()
        for url, series, expect in order:
            fetch(session, url, series, expect, meter)
        if number >= warmup:
            page.add(scratch_page)
            baseline.add(scratch_api)


def timed_calls(
    engine: Engine, calls: Sequence[Callable[[Any], object]], warmup: int = 2
) -> list[float]:
    """Milliseconds of each call, each on a connection of its own (as a request has)."""
    times = []
    for number, call in enumerate(calls):
        with engine.connect() as connection:
            began = time.perf_counter()
            call(connection)
            elapsed = (time.perf_counter() - began) * 1000
        if number >= warmup:
            times.append(elapsed)
    return times


def inventory_sql(connection: Any, inventory_id: str) -> None:
    """The queries of an inventory page, without the Python work between them."""
    meta = inventories.meta(connection, inventory_id)
    assert meta is not None
    inventories.document(connection, inventory_id)
    decisions.of_organisation(connection, meta.organisation_id)
    inventories.findings_data(connection, inventory_id)
    decisions.manual(connection, meta.organisation_id)
    inventories.latest_validated(connection, meta.organisation_id, other_than=inventory_id)


def inventory_build(connection: Any, inventory_id: str) -> None:
    """What the inventory page computes before rendering (server.review.build)."""
    meta = inventories.meta(connection, inventory_id)
    assert meta is not None
    review.build(connection, meta)


def queue_sql(connection: Any, visible: frozenset[int] | None) -> None:
    """The queries of the queue page."""
    inventories.queue(
        connection, visible, organisation_ids=None, status="draft", limit=PAGE_SIZE, offset=0
    )
    if organisations.count(connection, visible) <= SELECT_LIMIT:  # as the page does
        organisations.listing(connection, visible)


def explain_queue(engine: Engine, visible: frozenset[int] | None) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the queue page's query."""
    from sqlalchemy.dialects import postgresql

    captured: list[str] = []

    class Spy:
        def __init__(self, connection: Any) -> None:
            self.connection = connection

        def scalar(self, statement: Any) -> Any:
            return self.connection.scalar(statement)

        def execute(self, statement: Any) -> Any:
            compiled = statement.compile(
                dialect=postgresql.dialect(),  # type: ignore[no-untyped-call]
                compile_kwargs={"literal_binds": True},
            )
            captured.append(str(compiled))
            return self.connection.execute(statement)

    with engine.connect() as connection:
        inventories.queue(
            Spy(connection),  # type: ignore[arg-type]
            visible,
            organisation_ids=None,
            status="draft",
            limit=PAGE_SIZE,
            offset=0,
        )
        plan = connection.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + captured[-1])).all()
    return "\n".join(row[0] for row in plan)


NAVIGATION = """(() => {
  const e = performance.getEntriesByType('navigation')[0];
  return [e.loadEventEnd - e.startTime, e.responseStart - e.startTime,
          e.domContentLoadedEventEnd - e.startTime];
})()"""


def browser_series(
    base: str, username: str, urls: dict[str, list[str]], warmup: int = 2
) -> dict[str, Series]:
    """Chromium loads of each list of URLs in one signed-in context: Navigation Timing, from
    navigation start to the end of the load event (with the first byte and DOMContentLoaded)."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    measured = {label: Series(label) for label in urls}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox"]
        )
        try:
            context = browser.new_context()
            page = context.new_page()
            page.goto(f"{base}/connexion")
            page.fill("#username", username)
            page.fill("#password", PASSWORD)
            page.click("button[type=submit].primary")
            page.wait_for_url(f"{base}/revue**")
            for label, addresses in urls.items():
                series = measured[label]
                for number, address in enumerate(addresses):
                    try:
                        answer = page.goto(address, wait_until="load", timeout=120_000)
                        page.wait_for_function(
                            "performance.getEntriesByType('navigation')[0].loadEventEnd > 0"
                        )
                        load, first_byte, parsed = page.evaluate(NAVIGATION)
                    except PlaywrightError as exc:
                        series.failures.append(f"Chromium GET {address}: {exc}")
                        continue
                    if answer is None or answer.status != 200:
                        status = answer.status if answer else None
                        series.failures.append(f"Chromium GET {address}: {status}")
                        continue
                    if number >= warmup:
                        series.times.append(float(load))
                        series.extra.setdefault("first byte", []).append(float(first_byte))
                        series.extra.setdefault("DOMContentLoaded", []).append(float(parsed))
            context.close()
        finally:
            browser.close()
    return measured


# --- Report ---------------------------------------------------------------------------------


def _mean(values: list[float]) -> str:
    return f"{statistics.fmean(values):7.1f}" if values else "      –"


def row(series: Series, target: float | None = None, baseline: Series | None = None) -> str:
    """One line of a table."""
    size = f"{statistics.median(series.sizes) / 1024:6.0f}" if series.sizes else "     –"
    line = (
        f"  {series.label:<44} {len(series.times):>4} {series.p50:8.1f} {series.p95:8.1f} "
        f"{series.worst:8.1f} {size}"
    )
    if series.extra:
        line += "".join(f" {statistics.median(values):8.1f}" for values in series.extra.values())
    else:
        line += f" {_mean(series.server_cpu)} {_mean(series.database_cpu)}"
    if target is not None:
        verdict = "ok" if series.p95 <= target else "MISSED"
        line += f"  {target:6.0f} {verdict:<6}"
    else:
        line += f"  {'–':>6} {'':<6}"
    if baseline is not None and baseline.times:
        line += f" {baseline.p95:8.1f} {series.p95 / baseline.p95:6.1f}×"
    if series.failures:
        line += f"  ({len(series.failures)} failed)"
    return line


def header(middle: str) -> str:
    """The column names of a table."""
    return (
        f"  {'':<44} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'KiB':>6} {middle}  "
        f"{'target':>6} {'':<6} {'base p95':>8} {'ratio':>7}"
    )


SERVER_HEADER = header(f"{'CPU srv':>7} {'CPU PG':>7}")
SQL_HEADER = header(f"{'':>7} {'':>7}")
BROWSER_HEADER = header(f"{'1st byte':>8} {'DCL p50':>8}")


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f} (1 min) {five:.1f} (5 min)"


def _check(series: Sequence[Series], log: Path) -> None:
    """Stop with the server's last lines when too many requests of a series failed."""
    for item in series:
        if len(item.failures) > max(2, len(item.times) // 20):
            tail = log.read_text(errors="replace").splitlines()[-40:] if log.exists() else []
            raise RuntimeError(
                f"{item.label}: {len(item.failures)} failures, e.g. {item.failures[0]}\n"
                + "\n".join(tail)
            )


def main() -> None:
    """Seed or reuse the database, then measure the pages and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--organisations", type=int, default=2000)
    parser.add_argument("--inventories", type=int, default=10, help="per organisation")
    parser.add_argument("--findings", type=int, default=300, help="per inventory")
    parser.add_argument("--requests", type=int, default=200, help="server-side requests per page")
    parser.add_argument("--browser-requests", type=int, default=30, help="Chromium loads per page")
    parser.add_argument("--reseed", action="store_true", help="rebuild the database")
    parser.add_argument("--explain", action="store_true", help="print the queue query's plans")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()
    if min(args.inventories, args.findings, args.organisations, args.requests) < 1:
        parser.error("--organisations, --inventories, --findings, --requests: at least 1")
    url = args.database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    began = time.perf_counter()
    ensure_database(url, args)
    describe_database(url)

    engine = db.make_engine(url)
    reviewed = reviewer_organisation(args)
    with engine.connect() as connection:
        visible = organisations.descendants(connection, [reviewed])
        all_ids = list(connection.scalars(text("SELECT id FROM inventories ORDER BY id")))
        reviewer_ids = list(
            connection.scalars(
                text("SELECT id FROM inventories WHERE organisation_id = ANY(:ids) ORDER BY id"),
                {"ids": sorted(visible)},
            )
        )
    print(
        f"reviewer {REVIEWER}: assigned to EPCI #{reviewed}, sees {len(visible)} organisations, "
        f"{len(reviewer_ids)} inventories; admin {ADMIN} sees all {len(all_ids):,}"
    )
    rng = random.Random()
    n = args.requests
    warmup = 3
    load_before = _load()
    log = Path(tempfile.mkdtemp(prefix="tiebreak-bench-web-")) / "server.log"

    server, base = start_server(url, log)
    meter = Meter(server.pid, url)
    try:
        sessions = {ADMIN: sign_in(base, ADMIN), REVIEWER: sign_in(base, REVIEWER)}
        server_rows: list[tuple[Series, Series]] = []
        list_api = f"{base}/api/v1/inventories?limit={PAGE_SIZE}"
        for who, label in ((ADMIN, "admin"), (REVIEWER, "reviewer")):
            page = Series(f"/revue  ({label})")
            baseline = Series(f"GET /api/v1/inventories?limit={PAGE_SIZE}")
            urls = [(f"{base}/revue", list_api)] * (n + warmup)
            paired(sessions[who], urls, page, baseline, meter, warmup)
            _check([page, baseline], log)
            server_rows.append((page, baseline))
        for who, label, pool in ((ADMIN, "admin", all_ids), (REVIEWER, "reviewer", reviewer_ids)):
            chosen = [rng.choice(pool) for _ in range(n + warmup)]
            page = Series(f"/inventaires/{{id}}  ({label}, random)")
            baseline = Series("GET /api/v1/inventories/{id}/findings")
            urls = [
                (f"{base}/inventaires/{i}", f"{base}/api/v1/inventories/{i}/findings")
                for i in chosen
            ]
            paired(sessions[who], urls, page, baseline, meter, warmup)
            _check([page, baseline], log)
            server_rows.append((page, baseline))
        load_server = _load()

        # The same SQL alone, in this process (one connection per page, as a request has).
        sql_rows: list[Series] = []
        repeat = min(n, 60)
        for label, seen in (("admin", None), ("reviewer", visible)):
            series = Series(f"queue SQL: queue() + listing()  ({label})")
            series.times = timed_calls(engine, [partial(queue_sql, visible=seen)] * (repeat + 2))
            sql_rows.append(series)
        for label, pool in (("admin", all_ids), ("reviewer", reviewer_ids)):
            chosen = [rng.choice(pool) for _ in range(repeat + 2)]
            series = Series(f"inventory SQL: its 6 queries  ({label})")
            series.times = timed_calls(
                engine, [partial(inventory_sql, inventory_id=i) for i in chosen]
            )
            sql_rows.append(series)
            chosen = [rng.choice(pool) for _ in range(repeat + 2)]
            series = Series(f"review.build(): SQL + JSON  ({label})")
            series.times = timed_calls(
                engine, [partial(inventory_build, inventory_id=i) for i in chosen]
            )
            sql_rows.append(series)
        explained = {
            label: explain_queue(engine, seen)
            for label, seen in (("admin", None), ("reviewer", visible))
        }

        browser_rows: list[tuple[Series, Series]] = []
        if args.browser_requests > 0:
            b = args.browser_requests + 2
            for who, label, pool in (
                (ADMIN, "admin", all_ids),
                (REVIEWER, "reviewer", reviewer_ids),
            ):
                chosen = [rng.choice(pool) for _ in range(b)]
                measured = browser_series(
                    base,
                    who,
                    {
                        "queue": [f"{base}/revue"] * b,
                        "queue-api": [list_api] * b,
                        "inventory": [f"{base}/inventaires/{i}" for i in chosen],
                        "inventory-api": [
                            f"{base}/api/v1/inventories/{i}/findings" for i in chosen
                        ],
                    },
                )
                measured["queue"].label = f"/revue  ({label})"
                measured["inventory"].label = f"/inventaires/{{id}}  ({label}, random)"
                _check(list(measured.values()), log)
                browser_rows.append((measured["queue"], measured["queue-api"]))
                browser_rows.append((measured["inventory"], measured["inventory-api"]))
    finally:
        meter.close()
        server.terminate()
        server.wait(30)
        engine.dispose()

    print()
    print(
        f"scale: {args.organisations:,} organisations × {args.inventories} inventories × "
        f"{args.findings} findings; server: tiebreak server run, 1 worker, on 127.0.0.1; "
        "requests one at a time"
    )
    print(
        f"machine: {os.cpu_count()} cores shared by this client, the server, PostgreSQL and "
        f"whatever else runs; load average {load_before} before the server-side measures, "
        f"{load_server} after them, {_load()} at the end"
    )
    print(
        "baselines (base p95; ratio = page p95 / base p95): the JSON API for the same data, "
        f"GET /api/v1/inventories?limit={PAGE_SIZE} for the queue, "
        "GET /api/v1/inventories/{id}/findings (same ids) for an inventory page"
    )
    print()
    print(
        "Server side: one HTTP request to its last byte (requests.Session signed in through "
        "the form);\n  CPU srv / CPU PG: mean CPU ms per request of the server process and of "
        "its PostgreSQL backends"
    )
    print(SERVER_HEADER)
    for page, baseline in server_rows:
        print(row(page, TARGET_MS, baseline))
        print(row(baseline))
    print()
    print("SQL alone: the store functions the pages call, timed in this process")
    print(SQL_HEADER)
    for series in sql_rows:
        print(row(series))
    for label, plan in explained.items():
        last = plan.strip().splitlines()[-1].strip()
        print(f"  EXPLAIN ANALYZE of the queue page's query ({label}): {last}")
        if args.explain:
            print("    " + plan.replace("\n", "\n    "))
    if browser_rows:
        print()
        print(
            "Chromium: full load (Navigation Timing, startTime → loadEventEnd), signed in; "
            "first byte and DOMContentLoaded p50 beside"
        )
        print(BROWSER_HEADER)
        for page, baseline in browser_rows:
            print(row(page, None, baseline))
    print()
    missed = [page.label for page, _ in server_rows if page.p95 > TARGET_MS]
    verdict = (
        f"every server-side p95 within {TARGET_MS:.0f} ms"
        if not missed
        else f"server-side p95 over {TARGET_MS:.0f} ms: " + ", ".join(missed)
    )
    print(f"verdict: {verdict}; whole run {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
