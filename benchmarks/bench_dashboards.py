"""Response time of the dashboard pages (an organisation, a territory) on a large PostgreSQL base.

The database holds `--organisations` organisations (2,000 by default): a métropole (id 1) with
500 communes below it, then EPCIs of 24 communes each for the rest. Each has `--inventories`
validated inventories (10) spread from January 2023 to October 2026 whose figures are computed
by the application's own code: every inventory's validated snapshot is `--findings` (300)
entries built from real catalog products (`default_engine().describe(product, locus)` plus
`key`, `origin`, `state`, as `server.review.snapshot` keeps them), some with an `annual_cost_eur`
(euros validated) or `licences` (euros estimated from the catalog's price), and its figures are
`server.metrics.compute(entries)`, stored as `server.dashboards.record` stores them
(`_figures`, `_vendor_rows`). Organisations follow one of 128 profiles (from 10 % to 90 % of
non-European products), each a chain of states (a product replaced, added or removed, a cost or
a count changed); successive inventories of an organisation move one state on or stay (an
unchanged scan, that the trajectory folds). Snapshots are computed once per content (a hash of
the entries) and shared by the organisations that reach the same state.

Rows are written with COPY: `inventories` (validated, a document "{}": dashboards never read
it), `inventory_metrics` and `vendor_metrics` (with `current`, `point` and `d_*` derived as
`server.store.metrics.refresh` derives them); then the real `refresh` runs on every
organisation, and the number of rows it changed is printed (0: the seeded rows are the real
code's); one organisation's rows are also written again through `replace` in a rolled-back
transaction and compared. No `findings` rows: dashboards and territory views never read them
(they read what validation stored), so the figures are the same with or without them.

The database (`tiebreak_bench_dashboards` by default) is built with the application's migrations
once: later runs reuse it when it holds the scale asked for (`--reseed` to rebuild it). A real
`tiebreak server run` process on 127.0.0.1 (one worker) then serves, one request at a time to an
administrator signed in through the form, each page `--requests` times, interleaved with the
JSON API baseline of bench_web.py (GET /api/v1/inventories?limit=50):
- /organisations/{id} (an organisation's dashboard, random organisations);
- /organisations/1/territoire (the métropole and its 500 communes), and a few requests of its
  ?tri=index&page=3, ?type=commune and ?tri=euros variants;
- /territoire (every organisation), and a few of ?tri=index&page=3 and ?type=epci;
- /revue?statut=validated (the review queue, a known page) and the territory CSV exports.
The server logs no timing of its own: times are the wall time of the request on loopback, with
the CPU of the server process and of its PostgreSQL backends. The same functions are then
timed in this process (`server.dashboards.organisation_dashboard`, `territory`), query by
query, and over territories of 500, 1,000 and 2,000 organisations (a viewer who sees them);
`--explain` prints EXPLAIN (ANALYZE, BUFFERS) of every query (the indexes used are always
summed up), `--profile` runs cProfile on the pages in this process (FastAPI's TestClient).

`--national N` adds N organisations (one EPCI every 28, the others communes below it; two
validated inventories each, so one current row and one earlier trajectory point, about 30
vendors) to a copy of the database (`<name>_national`, made with CREATE DATABASE … TEMPLATE,
kept for later runs) and times the pages again: with N = 35000, the scale of France's communes.

Usage: .venv/bin/python benchmarks/bench_dashboards.py [--organisations 2000] [--inventories 10]
       [--findings 300] [--requests 200] [--national 35000] [--reseed] [--explain] [--profile]
       [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/tiebreak_bench_dashboards]
PostgreSQL: 127.0.0.1:5432, trust authentication. At full scale: about 1 minute of seeding and
560 MB of disk (20,000 inventory_metrics rows, 1,000,000 vendor_metrics rows); with
--national 35000, about 1 more minute and 1.7 GB for the copy.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import pstats
import random
import re
import statistics
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import bench_web  # benchmarks/ is the script's directory, so the first entry of sys.path
import orjson
import psycopg
from bench_web import ADMIN, PASSWORD, Meter, Series, _copy_line, _plain
from sqlalchemy import Connection, Engine, event, func, make_url, select, text

from fingerprints.catalog import default_catalog
from fingerprints.engine import default_engine
from inventory.models import siren_is_valid
from server import admin, dashboards, db, metrics, migrations
from server.admin import Role
from server.auth import User
from server.store import metrics as figures_store
from server.store import organisations

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/tiebreak_bench_dashboards"
TARGET_MS = 300.0
METROPOLE = 1  # id of the métropole
METROPOLE_CHILDREN = 500
EPCI_SIZE = 25  # beyond the métropole: one EPCI, then 24 communes below it
NATIONAL_EPCI_SIZE = 28  # France: about 35,000 communes in about 1,250 EPCIs
PROFILES = 128
PRODUCTS = 60  # products of an inventory (about 45 vendors)
NATIONAL_PRODUCTS = 30  # products of a --national organisation's inventory (about 30 vendors)
NATIONAL_FINDINGS = 120
FIRST_SCAN = datetime(2023, 1, 9, 9, 0, tzinfo=UTC)
LAST_SCAN = datetime(2026, 10, 26, 9, 0, tzinfo=UTC)
PRICED = ("microsoft-365", "adobe-creative-cloud")  # catalog prices estimable from a count
BASELINE = "/api/v1/inventories?limit=50"  # bench_web.py's baseline of the queue page
SCALES = (500, 1000, 2000)


# --- Organisations ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Org:
    """One organisation row."""

    id: int
    name: str
    siren: str
    kind: str
    parent_id: int | None


def _siren(prefix: int) -> str:
    return next(s for s in (f"{prefix:08d}{d}" for d in range(10)) if siren_is_valid(s))


def _place(number: int) -> str:
    rng = random.Random(f"place-{number}")
    return rng.choice(bench_web.PLACES) + rng.choice(bench_web.SUFFIXES)


def layout(count: int, first: int = 1, epci_size: int = EPCI_SIZE) -> list[Org]:
    """Organisations `first` … `first + count - 1`: with first = 1, the métropole and its 500
    communes, then EPCIs of `epci_size - 1` communes; else only EPCIs and their communes."""
    orgs: list[Org] = []
    parent: int | None = None
    start = first
    if first == METROPOLE:
        orgs.append(Org(METROPOLE, f"Métropole de {_place(0)}", _siren(24_000_000), "epci", None))
        for number in range(2, min(count, METROPOLE_CHILDREN + 1) + 1):
            orgs.append(
                Org(
                    number,
                    f"Commune de {_place(number)}",
                    _siren(21_000_000 + number),
                    "commune",
                    METROPOLE,
                )
            )
        start = METROPOLE_CHILDREN + 2
    for number in range(start, first + count):
        if (number - start) % epci_size == 0:
            name = f"Communauté de communes de {_place(number)}"
            orgs.append(Org(number, name, _siren(24_000_000 + number), "epci", None))
            parent = number
        else:
            name = f"Commune de {_place(number)}"
            orgs.append(Org(number, name, _siren(21_000_000 + number), "commune", parent))
    return orgs


# --- Snapshots and their figures -------------------------------------------------------------


@dataclass(slots=True)
class State:
    """What an organisation's validated inventory holds at one step of its profile."""

    products: list[str]
    costs: dict[str, float] = field(default_factory=dict)  # annual_cost_eur entered
    licences: dict[str, int] = field(default_factory=dict)
    criticality: dict[str, str] = field(default_factory=dict)

    def copy(self) -> State:
        return State(
            list(self.products), dict(self.costs), dict(self.licences), dict(self.criticality)
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The stored figures of one validated snapshot (shared by every inventory that has it)."""

    signature: str
    index_overall: float | None
    euros_validated: float
    euros_estimated: float
    findings: int
    row: str  # COPY text of the inventory_metrics columns after the per-inventory ones
    vendors: list[dict[str, Any]]
    vendor_lines: list[str]  # COPY lines of its vendors, after inventory, organisation, current
    figures: figures_store.Figures


METRICS_COLUMNS = (
    "inventory_id, organisation_id, scanned_at, validated_at, quarter, current, point, d_index, "
    "d_indexed, d_euros_validated, d_euros_estimated, index_overall, index_infrastructure, "
    "index_poste, index_logiciel, index_bucket, findings, non_eu_findings, euros_validated, "
    "euros_estimated, non_eu_validated, non_eu_estimated, signature, data"
)
VENDOR_COLUMNS = (
    "inventory_id, organisation_id, current, vendor, vendor_name, jurisdiction, products, "
    "findings, euros_validated, euros_estimated"
)


class Generator:
    """Validated snapshots of `findings` entries over about `products` catalog products, per
    profile and state, and their figures computed by server.metrics (cached by content)."""

    def __init__(self, findings: int, products: int, tag: str = "") -> None:
        self.findings = findings
        self.size = products
        self.tag = tag
        self.catalog = default_catalog()
        self.engine = default_engine()
        ids = sorted(self.catalog.products)
        self.dumps: dict[tuple[str, str], dict[str, Any]] = {}
        self.non_eu = [p for p in ids if self._dump(p, "x")["jurisdiction"] == metrics.NON_EU]
        self.other = sorted(set(ids) - set(self.non_eu))
        self.states: dict[tuple[int, int], State] = {}
        self.digests: dict[tuple[int, int], str] = {}
        self.snapshots: dict[str, Snapshot] = {}
        self.compute_s = 0.0

    def _dump(self, product: str, locus: str) -> dict[str, Any]:
        found = self.dumps.get((product, locus))
        if found is None:
            found = self.dumps[product, locus] = self.engine.describe(product, locus).model_dump(
                mode="json"
            )
        return found

    def _pick(self, rng: random.Random, share: float, count: int, taken: set[str]) -> list[str]:
        chosen = []
        for _ in range(count):
            pool = self.non_eu if rng.random() < share else self.other
            candidates = [p for p in rng.sample(pool, min(len(pool), 8)) if p not in taken]
            if candidates:
                chosen.append(candidates[0])
                taken.add(candidates[0])
        return chosen

    def state(self, profile: int, step: int) -> State:
        """The state `step` of a profile: its base, then `step` changes, one at a time."""
        found = self.states.get((profile, step))
        if found is not None:
            return found
        share = 0.1 + 0.8 * profile / (PROFILES - 1)  # share of non-European products
        if step == 0:
            rng = random.Random(f"profile-{self.tag}-{profile}")
            taken: set[str] = set()
            products = [p for p in PRICED if rng.random() < (0.8 if p == PRICED[0] else 0.4)]
            taken.update(products)
            products += self._pick(rng, share, self.size - len(products), taken)
            state = State(products)
            for product in rng.sample(products, min(4, len(products))):
                state.costs[product] = float(rng.randrange(500, 60_000, 50))
            for product in products:
                if product in PRICED:
                    state.licences[product] = rng.randrange(20, 900)
        else:
            state = self.state(profile, step - 1).copy()
            rng = random.Random(f"change-{self.tag}-{profile}-{step}")
            draw = rng.random()
            taken = set(state.products)
            if draw < 0.4 and len(state.products) > 2:  # a product replaced by another
                gone = rng.choice([p for p in state.products if p not in PRICED])
                state.products.remove(gone)
                state.costs.pop(gone, None)
                state.products += self._pick(rng, share, 1, taken)
            elif draw < 0.55:  # a product added
                state.products += self._pick(rng, share, 1, taken)
            elif draw < 0.65 and len(state.products) > 2:  # a product removed
                gone = rng.choice([p for p in state.products if p not in PRICED])
                state.products.remove(gone)
                state.costs.pop(gone, None)
            elif draw < 0.85:  # a cost entered or changed
                state.costs[rng.choice(state.products)] = float(rng.randrange(500, 60_000, 50))
            else:  # a count of licences changed, else a criticality
                priced = [p for p in state.products if p in PRICED]
                if priced:
                    state.licences[priced[0]] = rng.randrange(20, 900)
                else:
                    state.criticality[rng.choice(state.products)] = rng.choice(
                        ("low", "medium", "high", "critical")
                    )
        self.states[profile, step] = state
        return state

    def entries(self, state: State) -> list[dict[str, Any]]:
        """The snapshot entries of a state: `findings` findings, each product at some places."""
        products = state.products[: self.findings]
        weights = [
            (12 if self._dump(p, "x")["category"] == "poste-de-travail" else 1)
            + int(hashlib.sha256(p.encode()).hexdigest()[:2], 16) % 6
            for p in products
        ]
        spare = self.findings - len(products)
        total = sum(weights)
        counts = [1 + spare * w // total for w in weights]
        for n in range(self.findings - sum(counts)):
            counts[n % len(counts)] += 1
        prefixes = {"poste-de-travail": "pc", "infrastructure": "srv", "logiciel": "app"}
        entries = []
        for product, count in zip(products, counts, strict=True):
            prefix = prefixes.get(self._dump(product, "x")["category"], "app")
            for n in range(count):
                found = self._dump(product, f"{prefix}-{n + 1:03d}.local")
                entry = {"key": found["id"], "origin": "scan", "state": "confirmed", **found}
                if n == 0:
                    if product in state.costs:
                        entry["annual_cost_eur"] = state.costs[product]
                    if product in state.licences:
                        entry["licences"] = state.licences[product]
                    if product in state.criticality:
                        entry["criticality"] = state.criticality[product]
                    if product in state.costs or product in state.licences:
                        entry["note"] = "contrat renouvelé en 2025"
                entries.append(entry)
        return entries

    def snapshot(self, profile: int, step: int) -> Snapshot:
        """The figures of a state, computed by server.metrics once per distinct content."""
        digest = self.digests.get((profile, step))
        if digest is None:
            entries = self.entries(self.state(profile, step))
            digest = hashlib.sha256(orjson.dumps(entries)).hexdigest()
            self.digests[profile, step] = digest
            if digest not in self.snapshots:
                began = time.perf_counter()
                computed = metrics.compute(entries)
                figures = dashboards._figures(computed)
                vendors = dashboards._vendor_rows(computed)
                self.compute_s += time.perf_counter() - began
                self.snapshots[digest] = self._stored(figures, vendors)
        return self.snapshots[digest]

    @staticmethod
    def _stored(figures: figures_store.Figures, vendors: list[dict[str, Any]]) -> Snapshot:
        """The COPY text of the figures, as server.store.metrics.replace writes them."""
        overall = figures.index.get("overall")
        bucket = None if overall is None else min(figures_store.BUCKETS - 1, int(overall // 10))
        row = _copy_line(
            [
                overall,
                figures.index.get("infrastructure"),
                figures.index.get("poste-de-travail"),
                figures.index.get("logiciel"),
                bucket,
                figures.findings,
                figures.non_eu_findings,
                figures.euros_validated,
                figures.euros_estimated,
                figures.non_eu_validated,
                figures.non_eu_estimated,
                figures.signature,
                figures.data,
            ]
        )
        lines = [
            _copy_line(
                [
                    v["vendor"],
                    v["vendor_name"],
                    v["jurisdiction"],
                    v["products"],
                    v["findings"],
                    v["euros_validated"],
                    v["euros_estimated"],
                ]
            )
            for v in vendors
        ]
        return Snapshot(
            figures.signature,
            overall,
            figures.euros_validated,
            figures.euros_estimated,
            figures.findings,
            row,
            vendors,
            lines,
            figures,
        )


@dataclass(slots=True)
class Validated:
    """One validated inventory of an organisation, and its flags as `refresh` sets them."""

    id: str
    organisation_id: int
    scanned_at: datetime
    validated_at: datetime
    snapshot: Snapshot
    current: bool = False
    point: bool = False
    d_index: float = 0.0
    d_indexed: int = 0
    d_euros_validated: float = 0.0
    d_euros_estimated: float = 0.0


def history(org: Org, count: int, generator: Generator, national: bool = False) -> list[Validated]:
    """The validated inventories of an organisation, oldest first: its profile's states, one
    step on or (an unchanged scan) the same as the previous inventory. Scans are spread evenly
    from FIRST_SCAN to LAST_SCAN (± 20 days); --national organisations have two, in 2024 and
    2026, that differ."""
    rng = random.Random(f"history-{generator.tag}-{org.id}")
    profile = rng.randrange(PROFILES)
    step = rng.randrange(4)
    shares = [0.35, 0.95] if national else [k / max(1, count - 1) for k in range(count)]
    rows = []
    for k, share in enumerate(shares):
        if k and (national or rng.random() < 0.55):
            step += 1
        moment = FIRST_SCAN + (LAST_SCAN - FIRST_SCAN) * share
        scanned = min(max(moment + timedelta(days=rng.uniform(-20, 20)), FIRST_SCAN), LAST_SCAN)
        validated = scanned + timedelta(days=rng.uniform(0.2, 9))
        inventory_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        rows.append(
            Validated(inventory_id, org.id, scanned, validated, generator.snapshot(profile, step))
        )
    flag(rows)
    return rows


def flag(rows: list[Validated]) -> None:
    """`current`, `point` and `d_*` as server.store.metrics.refresh derives them."""
    rows.sort(key=lambda row: (row.scanned_at, row.validated_at))
    previous: Validated | None = None
    for row in rows:
        row.current = row is rows[-1]
        row.point = previous is None or row.snapshot.signature != previous.snapshot.signature
        if row.point:
            now, before = row.snapshot, previous.snapshot if previous else None
            row.d_index = (now.index_overall or 0.0) - (
                (before.index_overall if before else None) or 0.0
            )
            row.d_indexed = int(now.index_overall is not None) - int(
                before is not None and before.index_overall is not None
            )
            row.d_euros_validated = now.euros_validated - (
                before.euros_validated if before else 0.0
            )
            row.d_euros_estimated = now.euros_estimated - (
                before.euros_estimated if before else 0.0
            )
            previous = row


# --- Seeding ---------------------------------------------------------------------------------


def marker(args: argparse.Namespace, national: int = 0) -> str:
    """What the database's comment says once it is filled at this scale and schema revision."""
    text_ = (
        f"tiebreak bench_dashboards v1: organisations={args.organisations} "
        f"inventories={args.inventories} findings={args.findings} "
        f"revision={migrations.revisions()[-1]}"
    )
    return text_ + (f" national={national}" if national else "")


def _comment(url: str) -> str | None:
    name = make_url(url).database
    with psycopg.connect(bench_web._maintenance_url(url), autocommit=True) as connection:
        found = connection.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (name,),
        ).fetchone()
    return None if found is None else found[0]


def _set_comment(url: str, comment: str) -> None:
    name = make_url(url).database
    with psycopg.connect(bench_web._maintenance_url(url), autocommit=True) as connection:
        connection.execute(f"COMMENT ON DATABASE \"{name}\" IS '{comment.replace(chr(39), '')}'")


def ready(url: str, wanted: str, organisations_: int, inventories_: int) -> bool:
    """True when the database holds this scale and was filled to the end."""
    if _comment(url) != wanted:
        return False
    with psycopg.connect(_plain(url)) as connection:
        counts = connection.execute(
            "SELECT (SELECT count(*) FROM organisations), (SELECT count(*) FROM inventories), "
            "(SELECT count(*) FROM inventory_metrics WHERE current), "
            "(SELECT count(*) FROM users WHERE username = %s)",
            (ADMIN,),
        ).fetchone()
    return counts == (organisations_, inventories_, organisations_, 1)


def _stamp(moment: datetime) -> str:
    return moment.isoformat()


def write(
    connection: psycopg.Connection[Any], orgs: Sequence[Org], histories: Sequence[list[Validated]]
) -> tuple[int, int]:
    """COPY the organisations, then their inventories, figures and vendors (streamed: the
    figures' JSON is shared by the snapshots, never held once per inventory); how many
    inventories and vendor rows."""
    created = _stamp(FIRST_SCAN - timedelta(days=400))
    with connection.cursor().copy(
        "COPY organisations (id, name, siren, type, parent_id, created_at) FROM STDIN"
    ) as copy:
        for org in orgs:
            copy.write(_copy_line([org.id, org.name, org.siren, org.kind, org.parent_id, created]))
    rows = [row for validated in histories for row in validated]
    with connection.cursor().copy(
        "COPY inventories (id, organisation_id, status, received_at, started_at, finished_at, "
        "agent_hostname, findings_count, observations_count, body_sha256, document, source, "
        "validated_at, validated_by) FROM STDIN"
    ) as copy:
        for row in rows:
            copy.write(
                _copy_line(
                    [
                        row.id,
                        row.organisation_id,
                        "validated",
                        _stamp(row.scanned_at + timedelta(minutes=2)),
                        _stamp(row.scanned_at - timedelta(minutes=23)),
                        _stamp(row.scanned_at),
                        f"poste-dsi.org{row.organisation_id}.local",
                        row.snapshot.findings,
                        row.snapshot.findings + 40,
                        hashlib.sha256(row.id.encode()).hexdigest(),
                        "{}",
                        "agent",
                        _stamp(row.validated_at),
                        "bench-reviewer",
                    ]
                )
            )
    with connection.cursor().copy(f"COPY inventory_metrics ({METRICS_COLUMNS}) FROM STDIN") as copy:
        for row in rows:
            head = _copy_line(
                [
                    row.id,
                    row.organisation_id,
                    _stamp(row.scanned_at),
                    _stamp(row.validated_at),
                    figures_store.quarter(row.scanned_at),
                    row.current,
                    row.point,
                    row.d_index,
                    row.d_indexed,
                    row.d_euros_validated,
                    row.d_euros_estimated,
                ]
            )
            copy.write(head[:-1] + "\t" + row.snapshot.row)
    vendors = 0
    with connection.cursor().copy(f"COPY vendor_metrics ({VENDOR_COLUMNS}) FROM STDIN") as copy:
        for row in rows:
            prefix = f"{row.id}\t{row.organisation_id}\t{'t' if row.current else 'f'}\t"
            copy.write("".join(prefix + line for line in row.snapshot.vendor_lines))
            vendors += len(row.snapshot.vendor_lines)
    return len(rows), vendors


def updated_rows(connection: Connection) -> int:
    """Rows of inventory_metrics and vendor_metrics updated so far in this transaction."""
    return int(
        connection.scalar(
            text(
                "SELECT pg_stat_get_xact_tuples_updated('inventory_metrics'::regclass) "
                "+ pg_stat_get_xact_tuples_updated('vendor_metrics'::regclass)"
            )
        )
        or 0
    )


def run_refresh(engine: Engine, ids: Sequence[int]) -> tuple[int, float]:
    """The real `refresh` on each organisation, in one transaction: rows it changed, and the
    mean milliseconds per organisation."""
    with db.write_transaction(engine) as connection:
        before = updated_rows(connection)
        began = time.perf_counter()
        for org_id in ids:
            figures_store.refresh(connection, org_id)
        elapsed = time.perf_counter() - began
        changed = updated_rows(connection) - before
    return changed, elapsed * 1000 / max(1, len(ids))


def rebuild_totals(engine: Engine) -> None:
    """Territory vendor totals from the seeded current rows, as the server does when they are
    missing (`server.store.metrics.rebuild_territory_vendors`)."""
    began = time.perf_counter()
    with db.write_transaction(engine) as connection:
        figures_store.rebuild_territory_vendors(connection)
        rows = connection.scalar(select(func.count()).select_from(db.territory_vendors))
    print(
        f"  territory vendor totals rebuilt: {rows:,} rows in {time.perf_counter() - began:.1f} s",
        flush=True,
    )


def _rows(connection: Connection, org_id: int) -> tuple[list[tuple[Any, ...]], list[Any]]:
    metric_rows = connection.execute(
        text("SELECT * FROM inventory_metrics WHERE organisation_id = :o ORDER BY inventory_id"),
        {"o": org_id},
    ).all()
    vendor_rows = connection.execute(
        text(
            f"SELECT {VENDOR_COLUMNS} FROM vendor_metrics WHERE organisation_id = :o "
            "ORDER BY inventory_id, vendor"
        ),
        {"o": org_id},
    ).all()
    return [tuple(r) for r in metric_rows], [tuple(r) for r in vendor_rows]


def check_replace(engine: Engine, rows: Sequence[Validated]) -> bool:
    """True when server.store.metrics.replace, run again on each inventory of one organisation
    (then rolled back), writes the same rows as the seeding."""
    org_id = rows[0].organisation_id
    with engine.connect() as connection, connection.begin() as transaction:
        seeded = _rows(connection, org_id)
        for row in sorted(rows, key=lambda r: r.validated_at):
            figures_store.replace(
                connection,
                inventory_id=row.id,
                organisation_id=org_id,
                scanned_at=row.scanned_at,
                validated_at=row.validated_at,
                figures=row.snapshot.figures,
                vendors=row.snapshot.vendors,
            )
        again = _rows(connection, org_id)
        transaction.rollback()
    return seeded == again


def _create(url: str, template: str | None = None) -> None:
    """Create the database afresh (a copy of `template`, once its last sessions, those of the
    server just stopped, are gone)."""
    name = make_url(url).database
    with psycopg.connect(bench_web._maintenance_url(url), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        suffix = f' TEMPLATE "{template}"' if template else ""
        for attempt in range(30):
            try:
                connection.execute(f'CREATE DATABASE "{name}"{suffix}')
                return
            except psycopg.errors.ObjectInUse:
                if attempt == 29:
                    raise
                time.sleep(1)


def _fast(connection: psycopg.Connection[Any]) -> None:
    if connection.execute("SHOW is_superuser").fetchone() == ("on",):
        connection.execute("SET session_replication_role = replica")  # rows consistent by design
    connection.execute("SET synchronous_commit = off")
    connection.execute("SET maintenance_work_mem = '1GB'")


def _vacuum(url: str) -> float:
    began = time.perf_counter()
    with psycopg.connect(_plain(url), autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    return time.perf_counter() - began


def seed(url: str, args: argparse.Namespace) -> float:
    """Create the database afresh, migrate it and fill it; the seconds it took."""
    began = time.perf_counter()
    _create(url)
    engine = db.make_engine(url)
    migrations.migrate(engine)
    orgs = layout(args.organisations)
    generator = Generator(args.findings, PRODUCTS)

    step = time.perf_counter()
    histories = [history(org, args.inventories, generator) for org in orgs]
    sample = histories[1]  # the first commune of the métropole
    with psycopg.connect(_plain(url)) as connection:
        _fast(connection)
        inventories_, vendors = write(connection, orgs, histories)
        connection.commit()
    written = time.perf_counter() - step
    print(
        f"  generated and written: {len(orgs):,} organisations, {inventories_:,} inventories "
        f"and inventory_metrics rows, {vendors:,} vendor_metrics rows in {written:.1f} s; "
        f"{len(generator.snapshots):,} distinct snapshots, server.metrics.compute and "
        f"_figures on them {generator.compute_s:.1f} s",
        flush=True,
    )
    print(f"  ANALYZE: {_analyze(url):.1f} s", flush=True)
    changed, per_org = run_refresh(engine, [org.id for org in orgs])
    print(
        f"  refresh() on every organisation: {changed} rows changed (0: the seeded flags are "
        f"the real code's), {per_org:.1f} ms per organisation",
        flush=True,
    )
    rebuild_totals(engine)
    same = check_replace(engine, sample)
    print(
        f"  replace() again on the {len(sample)} inventories of organisation "
        f"#{sample[0].organisation_id} (rolled back): "
        f"{'same rows as seeded' if same else 'ROWS DIFFER'}",
        flush=True,
    )
    admin.create_user(engine, ADMIN, PASSWORD, Role.ADMIN, [])
    engine.dispose()
    print(f"  VACUUM ANALYZE: {_vacuum(url):.1f} s", flush=True)
    _set_comment(url, marker(args))
    return time.perf_counter() - began


def _analyze(url: str) -> float:
    began = time.perf_counter()
    with psycopg.connect(_plain(url), autocommit=True) as connection:
        connection.execute("ANALYZE")
    return time.perf_counter() - began


def seed_national(url: str, base_url: str, args: argparse.Namespace) -> float:
    """A copy of the base database with `--national` more organisations; seconds."""
    began = time.perf_counter()
    _create(url, template=make_url(base_url).database)
    print(f"  copy of the base database: {time.perf_counter() - began:.1f} s", flush=True)
    orgs = layout(args.national, first=args.organisations + 1, epci_size=NATIONAL_EPCI_SIZE)
    generator = Generator(NATIONAL_FINDINGS, NATIONAL_PRODUCTS, tag="national")
    step = time.perf_counter()
    with psycopg.connect(_plain(url)) as connection:
        _fast(connection)
        histories = [history(org, 2, generator, national=True) for org in orgs]
        inventories_, vendors = write(connection, orgs, histories)
        connection.commit()
    print(
        f"  generated and written: {len(orgs):,} organisations, {inventories_:,} inventories, "
        f"{vendors:,} vendor_metrics rows in {time.perf_counter() - step:.1f} s "
        f"({len(generator.snapshots):,} distinct snapshots)",
        flush=True,
    )
    print(f"  ANALYZE: {_analyze(url):.1f} s", flush=True)
    engine = db.make_engine(url)
    sample = random.Random(7).sample([org.id for org in orgs], min(200, len(orgs)))
    changed, per_org = run_refresh(engine, sample)
    print(
        f"  refresh() on {len(sample)} of the new organisations: {changed} rows changed, "
        f"{per_org:.1f} ms per organisation (validation-time cost at this scale)",
        flush=True,
    )
    rebuild_totals(engine)
    engine.dispose()
    print(f"  VACUUM ANALYZE: {_vacuum(url):.1f} s", flush=True)
    _set_comment(url, marker(args, args.national))
    return time.perf_counter() - began


def describe_database(url: str) -> str:
    """Sizes and row counts."""
    with psycopg.connect(_plain(url)) as connection:
        found = connection.execute(
            "SELECT pg_size_pretty(pg_database_size(current_database())), "
            "pg_size_pretty(pg_total_relation_size('inventory_metrics')), "
            "pg_size_pretty(pg_relation_size('inventory_metrics')), "
            "pg_size_pretty(pg_total_relation_size('vendor_metrics')), "
            "(SELECT count(*) FROM organisations), (SELECT count(*) FROM inventories), "
            "(SELECT count(*) FROM inventory_metrics WHERE point), "
            "(SELECT count(*) FROM vendor_metrics), "
            "(SELECT count(*) FROM vendor_metrics WHERE current)"
        ).fetchone()
    assert found is not None
    return (
        f"database size {found[0]} (inventory_metrics {found[1]} of which heap {found[2]}, "
        f"vendor_metrics {found[3]}); {found[4]:,} organisations, {found[5]:,} validated "
        f"inventories ({found[6]:,} trajectory points), {found[7]:,} vendor rows "
        f"({found[8]:,} current)"
    )


# --- Measuring -------------------------------------------------------------------------------


ADMIN_USER = User(0, ADMIN, Role.ADMIN, None)


def viewer(members: frozenset[int]) -> User:
    """A viewer who sees `members` (a territory of that size without a root)."""
    return User(0, "bench-viewer", Role.VIEWER, members)


def timed(calls: Sequence[Callable[[Connection], object]], engine: Engine) -> list[float]:
    """Milliseconds of each call on a connection of its own, the first two not counted."""
    return bench_web.timed_calls(engine, calls)


def territory_parts(
    connection: Connection, members: frozenset[int] | None, root: int | None
) -> dict[str, float]:
    """Milliseconds of each query of a territory view (as `dashboards.territory` runs them)."""
    spent: dict[str, float] = {}

    def clock(label: str, call: Callable[[], object]) -> None:
        began = time.perf_counter()
        call()
        spent[label] = (time.perf_counter() - began) * 1000

    clock("outside_tree(): loops of parent links", lambda: organisations.outside_tree(connection))
    if root is not None:
        clock(
            "descendants(): recursive query",
            lambda: organisations.descendants(connection, [root]),
        )
    clock("territory_totals", lambda: figures_store.territory_totals(connection, members))
    clock(
        "territory_distribution", lambda: figures_store.territory_distribution(connection, members)
    )
    clock(
        "territory_vendors (summed from current rows)",
        lambda: figures_store.territory_vendors(connection, members),
    )
    clock(
        "territory_vendor_totals (kept at validation)",
        lambda: figures_store.territory_vendor_totals(
            connection, [figures_store.EVERYONE if root is None else root]
        ),
    )
    clock("territory_trajectory", lambda: figures_store.territory_trajectory(connection, members))
    clock(
        "territory_organisations (page 1, by name)",
        lambda: figures_store.territory_organisations(connection, members, limit=100),
    )
    clock(
        "territory_organisations (page 3, by index)",
        lambda: figures_store.territory_organisations(
            connection, members, order="index", limit=100, offset=200
        ),
    )
    return spent


def parts_table(engine: Engine, scopes: dict[str, tuple[frozenset[int] | None, int | None]]) -> str:
    """p50 of each query of the territory view, for each scope, as text."""
    repeat = 15
    medians: dict[str, dict[str, float]] = {}
    for label, (members, root) in scopes.items():
        runs: dict[str, list[float]] = {}
        for number in range(repeat + 2):
            with engine.connect() as connection:
                spent = territory_parts(connection, members, root)
            if number >= 2:
                for name, ms in spent.items():
                    runs.setdefault(name, []).append(ms)
        medians[label] = {name: statistics.median(values) for name, values in runs.items()}
    names = list(dict.fromkeys(name for parts in medians.values() for name in parts))
    lines = ["  " + f"{'query (p50 ms)':<44}" + "".join(f" {label:>20}" for label in medians)]
    for name in names:
        cells = "".join(
            f" {medians[label][name]:20.1f}" if name in medians[label] else f" {'–':>20}"
            for label in medians
        )
        lines.append(f"  {name:<44}{cells}")
    totals = "".join(f" {sum(parts.values()):20.1f}" for parts in medians.values())
    lines.append(f"  {'sum':<44}{totals}")
    return "\n".join(lines)


@contextmanager
def captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every statement (and its parameters) the engine runs inside the block."""
    found: list[tuple[str, Any]] = []

    def listener(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        found.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", listener)


USES = re.compile(
    r"(Index Only Scan|Index Scan|Bitmap Index Scan|Seq Scan)(?: Backward)?(?: using| on) (\S+)"
)


def explain(engine: Engine, call: Callable[[Connection], object]) -> list[tuple[str, str]]:
    """EXPLAIN (ANALYZE, BUFFERS) of every SELECT `call` runs: (statement, plan)."""
    with captured(engine) as statements, engine.connect() as connection:
        call(connection)
    plans = []
    with engine.connect() as connection:
        for statement, parameters in statements:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            plan = connection.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
            ).all()
            plans.append((statement, "\n".join(row[0] for row in plan)))
    return plans


def explain_summary(label: str, plans: list[tuple[str, str]], full: bool) -> str:
    """One line a query: what it reads (scans and indexes) and its execution time."""
    lines = [f"  {label}:"]
    for statement, plan in plans:
        what = re.sub(r"\s+", " ", statement)[:70]
        uses = sorted({f"{kind.lower()} {name}" for kind, name in USES.findall(plan)})
        took = re.search(r"Execution Time: ([\d.]+) ms", plan)
        ms = took.group(1) if took else "?"
        lines.append(f"    {ms:>8} ms  {what}…")
        lines.append(f"               reads: {', '.join(uses) or '(no table scan)'}")
        if full:
            lines.append("      " + plan.replace("\n", "\n      "))
    return "\n".join(lines)


def refresh_plan(engine: Engine, org_id: int) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of refresh()'s vendor update, rolled back."""
    with engine.connect() as connection, connection.begin() as transaction:
        current = connection.scalar(
            text(
                "SELECT inventory_id FROM inventory_metrics WHERE organisation_id = :o AND current"
            ),
            {"o": org_id},
        )
        plan = connection.execute(
            text(
                "EXPLAIN (ANALYZE, BUFFERS) UPDATE vendor_metrics "
                "SET current = (inventory_id = :i) "
                "WHERE organisation_id = :o AND current != (inventory_id = :i)"
            ),
            {"o": org_id, "i": current},
        ).all()
        transaction.rollback()
    return "\n".join(row[0] for row in plan)


def run_pages(
    url: str, args: argparse.Namespace, ids: list[int], log: Path, scale: str
) -> tuple[list[tuple[Series, Series]], list[Series]]:
    """The pages through a real server; (page, baseline) pairs and single series."""
    server, base = bench_web.start_server(url, log)
    meter = Meter(server.pid, url)
    rng = random.Random(f"pages-{scale}")
    n, few, warmup = args.requests, max(20, args.requests // 5), 3
    pairs: list[tuple[Series, Series]] = []
    singles: list[Series] = []
    try:
        session = bench_web.sign_in(base, ADMIN)
        pages: list[tuple[str, list[str]]] = [
            (
                "/organisations/{id}  (random)",
                [f"/organisations/{rng.choice(ids)}" for _ in range(n + warmup)],
            ),
            (
                f"/organisations/{METROPOLE}/territoire",
                [f"/organisations/{METROPOLE}/territoire"] * (n + warmup),
            ),
            (
                f"/organisations/{METROPOLE}/territoire?tri=index&page=3",
                [f"/organisations/{METROPOLE}/territoire?tri=index&page=3"] * (few + warmup),
            ),
            (
                f"/organisations/{METROPOLE}/territoire?type=commune",
                [f"/organisations/{METROPOLE}/territoire?type=commune"] * (few + warmup),
            ),
            (
                f"/organisations/{METROPOLE}/territoire?tri=euros",
                [f"/organisations/{METROPOLE}/territoire?tri=euros"] * (few + warmup),
            ),
            ("/territoire", ["/territoire"] * (n + warmup)),
            ("/territoire?tri=index&page=3", ["/territoire?tri=index&page=3"] * (few + warmup)),
            ("/territoire?type=epci", ["/territoire?type=epci"] * (few + warmup)),
        ]
        for label, paths in pages:
            page, baseline = Series(f"{label}  [{scale}]"), Series(f"GET {BASELINE}")
            urls = [(base + path, base + BASELINE) for path in paths]
            bench_web.paired(session, urls, page, baseline, meter, warmup)
            bench_web._check([page, baseline], log)
            pairs.append((page, baseline))
        known = Series(f"/revue?statut=validated  (queue, known page)  [{scale}]")
        for number in range(few + warmup):
            scratch = Series("")
            bench_web.fetch(
                session, f"{base}/revue?statut=validated", scratch, "<!doctype html>", meter
            )
            if number >= warmup:
                known.add(scratch)
        singles.append(known)
        for path in (f"/organisations/{METROPOLE}/territoire/export.csv", "/territoire/export.csv"):
            series = Series(f"{path}  [{scale}]")
            for number in range(10 + 1):
                scratch = Series("")
                bench_web.fetch(session, base + path, scratch, "", meter)
                if number >= 1:
                    series.add(scratch)
            singles.append(series)
        bench_web._check(singles, log)
    finally:
        meter.close()
        server.terminate()
        server.wait(30)
    return pairs, singles


def run_sql(engine: Engine, ids: list[int], scale: str, repeat: int) -> list[Series]:
    """The page functions alone in this process (SQL and the Python around it)."""
    rng = random.Random(f"sql-{scale}")
    rows = []
    series = Series(f"organisation_dashboard()  [{scale}]")
    series.times = timed(
        [
            partial(
                dashboards.organisation_dashboard, user=ADMIN_USER, organisation_id=rng.choice(ids)
            )
            for _ in range(repeat + 2)
        ],
        engine,
    )
    rows.append(series)
    for label, root, order, page in (
        (f"territory(métropole #{METROPOLE})", METROPOLE, "name", 1),
        (f"territory(métropole #{METROPOLE}, index, page 3)", METROPOLE, "index", 3),
        ("territory(national)", None, "name", 1),
        ("territory(national, index, page 3)", None, "index", 3),
    ):
        series = Series(f"{label}  [{scale}]")
        call = partial(dashboards.territory, user=ADMIN_USER, root_id=root, order=order, page=page)
        series.times = timed([call] * (repeat + 2), engine)
        rows.append(series)
    return rows


def run_scaling(engine: Engine, ids: list[int], sizes: Sequence[int], repeat: int) -> list[Series]:
    """territory() of a viewer who sees `size` organisations (an id list in every query), and of
    an administrator (every organisation, no list)."""
    rows = []
    rng = random.Random("scaling")
    for size in sorted({min(size, len(ids)) for size in sizes}):
        members = frozenset(rng.sample(ids, size))
        series = Series(f"territory(): viewer of {len(members):,} organisations")
        call = partial(dashboards.territory, user=viewer(members), root_id=None)
        series.times = timed([call] * (repeat + 2), engine)
        rows.append(series)
    series = Series(f"territory(): administrator, all {len(ids):,}")
    call = partial(dashboards.territory, user=ADMIN_USER, root_id=None)
    series.times = timed([call] * (repeat + 2), engine)
    rows.append(series)
    return rows


def profile_pages(url: str, ids: list[int]) -> str:
    """cProfile of the three pages served in this process (TestClient): FastAPI runs the
    dependencies and the endpoint in worker threads, so each such call is profiled there."""
    import fastapi.dependencies.utils
    import fastapi.routing

    with warnings.catch_warnings():  # starlette's notice about httpx, irrelevant here
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from server.app import create_app
    from server.settings import Settings

    profiler = cProfile.Profile()
    modules = (vars(fastapi.routing), vars(fastapi.dependencies.utils))
    original = modules[0]["run_in_threadpool"]

    async def profiled(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        def call() -> Any:
            profiler.enable()
            try:
                return func(*args, **kwargs)
            finally:
                profiler.disable()

        return await original(call)

    app = create_app(Settings(database_url=url))
    out = []
    try:
        with TestClient(app) as client:
            form = client.get("/connexion")
            token = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert token
            client.post(
                "/connexion",
                data={
                    "csrf": token.group(1),
                    "suivant": "/revue",
                    "username": ADMIN,
                    "password": PASSWORD,
                },
                follow_redirects=False,
            )
            rng = random.Random("profile")
            metropole = f"/organisations/{METROPOLE}/territoire"
            for label, paths in (
                ("/organisations/{id}", [f"/organisations/{rng.choice(ids)}" for _ in range(20)]),
                (metropole, [metropole] * 20),
                ("/territoire", ["/territoire"] * 20),
            ):
                client.get(paths[0])
                profiler = cProfile.Profile()
                for module in modules:
                    module["run_in_threadpool"] = profiled
                try:
                    for path in paths:
                        assert client.get(path).status_code == 200
                finally:
                    for module in modules:
                        module["run_in_threadpool"] = original
                buffer = io.StringIO()
                stats = pstats.Stats(profiler, stream=buffer)
                stats.sort_stats("cumulative").print_stats(25)
                body = buffer.getvalue()
                body = body[body.find("   ncalls") :].rstrip()
                out.append(f"  cProfile, {len(paths)} × {label}, in FastAPI's threads:\n{body}")
    finally:
        app.state.engine.dispose()
    return "\n".join(out)


# --- Report ----------------------------------------------------------------------------------


def summary(rows: Sequence[Series]) -> str:
    """page, p50, p95, max, target, verdict."""
    lines = [f"  {'page':<62} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'target':>7}  verdict"]
    for series in rows:
        verdict = "OK" if series.p95 <= TARGET_MS else "over"
        lines.append(
            f"  {series.label:<62} {series.p50:8.1f} {series.p95:8.1f} {series.worst:8.1f} "
            f"{TARGET_MS:7.0f}  {verdict}"
        )
    return "\n".join(lines)


def table(title: str, rows: Sequence[tuple[Series, Series | None]]) -> str:
    """A bench_web-style table: n, p50, p95, max, KiB, CPU, target, baseline."""
    lines = [title, bench_web.SERVER_HEADER.replace(" " * 44, f"{'':<62}", 1)]
    for page, baseline in rows:
        line = bench_web.row(page, TARGET_MS if baseline is not None else None, baseline)
        lines.append(line.replace(f"{page.label:<44}", f"{page.label:<62}", 1))
    return "\n".join(lines)


def measure(
    url: str, args: argparse.Namespace, scale: str, sizes: Sequence[int], verbose: bool
) -> list[Series]:
    """Every measure on one database; the pages' series (for the summary)."""
    engine = db.make_engine(url)
    with engine.connect() as connection:
        ids = sorted(row.id for row in organisations.listing(connection))
        children = len(organisations.descendants(connection, [METROPOLE])) - 1
    print(f"\n=== {scale}: {describe_database(url)}; métropole #{METROPOLE}: {children} children")
    log = Path(tempfile.mkdtemp(prefix="tiebreak-bench-dashboards-")) / "server.log"
    load_before = bench_web._load()
    pairs, singles = run_pages(url, args, ids, log, scale)
    load_after = bench_web._load()
    repeat = min(args.requests, 40)
    sql_rows = run_sql(engine, ids, scale, repeat)
    scaling = run_scaling(engine, ids, sizes, min(repeat, 20))
    with engine.connect() as connection:
        below = organisations.descendants(connection, [METROPOLE])
    parts = parts_table(
        engine,
        {
            f"métropole ({len(below)})": (below, METROPOLE),
            f"national ({len(ids):,})": (None, None),
        },
    )
    plans = {
        f"organisation_dashboard(#{METROPOLE + 1})": explain(
            engine,
            partial(
                dashboards.organisation_dashboard, user=ADMIN_USER, organisation_id=METROPOLE + 1
            ),
        ),
        f"territory(métropole #{METROPOLE})": explain(
            engine, partial(dashboards.territory, user=ADMIN_USER, root_id=METROPOLE)
        ),
        "territory(national)": explain(
            engine, partial(dashboards.territory, user=ADMIN_USER, root_id=None)
        ),
    }
    update_plan = refresh_plan(engine, ids[-1])
    profiled = profile_pages(url, ids) if args.profile else ""
    engine.dispose()

    print(
        f"\nserver: tiebreak server run, 1 worker, 127.0.0.1, requests one at a time, admin "
        f"signed in; load average {load_before} before, {load_after} after; the server logs no "
        "timing of its own (wall time of each request on loopback)"
    )
    print(
        table(
            "Server side (base p95 / ratio: GET " + BASELINE + ", interleaved)",
            [(page, baseline) for page, baseline in pairs]
            + [(page, None) for page in singles]
            + [(pairs[0][1], None)],
        )
    )
    print("\nThe same functions in this process (SQL and the Python around it, no HTML)")
    print(table("", [(series, None) for series in sql_rows])[1:])
    print("\nTime against the organisations of the territory (territory(), in this process)")
    print(table("", [(series, None) for series in scaling])[1:])
    print("\nQuery by query (p50 over 15 runs, in this process)")
    print(parts)
    print("\nEXPLAIN (ANALYZE, BUFFERS): what each query reads")
    for label, plan in plans.items():
        print(explain_summary(label, plan, verbose))
    last = update_plan.strip().splitlines()
    print(
        f"  refresh()'s vendor update (validation time, organisation #{ids[-1]}): "
        f"{last[-1].strip()}; reads: "
        + ", ".join(sorted({f"{k.lower()} {n}" for k, n in USES.findall(update_plan)}))
    )
    if verbose:
        print("      " + update_plan.replace("\n", "\n      "))
    if profiled:
        print(profiled)
    return [page for page, _ in pairs]


def main() -> None:
    """Seed or reuse the databases, then measure the pages and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--organisations", type=int, default=2000)
    parser.add_argument("--inventories", type=int, default=10, help="per organisation")
    parser.add_argument("--findings", type=int, default=300, help="per inventory")
    parser.add_argument("--requests", type=int, default=200, help="requests per page")
    parser.add_argument("--national", type=int, default=0, help="organisations to add (35000)")
    parser.add_argument("--reseed", action="store_true", help="rebuild the databases")
    parser.add_argument("--explain", action="store_true", help="print every query's plan")
    parser.add_argument("--profile", action="store_true", help="cProfile the pages in-process")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()
    if min(args.inventories, args.findings, args.requests) < 1 or args.organisations < 2:
        parser.error("--organisations at least 2; --inventories, --findings, --requests at least 1")
    url = args.database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    began = time.perf_counter()
    name = make_url(url).database
    wanted = args.organisations * args.inventories
    seeded = False
    if not args.reseed and ready(url, marker(args), args.organisations, wanted):
        print(f"database {name}: reused (already at this scale)")
    else:
        print(
            f"database {name}: seeding {args.organisations:,} organisations × "
            f"{args.inventories} validated inventories × {args.findings} findings …",
            flush=True,
        )
        seconds = seed(url, args)
        seeded = True
        print(f"seeding time: {seconds:.1f} s ({seconds / 60:.1f} min)")
    results = measure(url, args, f"{args.organisations:,}", SCALES, args.explain)

    if args.national > 0:
        national_url = make_url(url).set(database=f"{name}_national").render_as_string(False)
        total = args.organisations + args.national
        if (
            not args.reseed
            and not seeded
            and ready(national_url, marker(args, args.national), total, wanted + 2 * args.national)
        ):
            print(f"\ndatabase {name}_national: reused (already at this scale)")
        else:
            print(f"\ndatabase {name}_national: the base + {args.national:,} organisations …")
            seconds = seed_national(national_url, url, args)
            print(f"seeding time: {seconds:.1f} s ({seconds / 60:.1f} min)")
        sizes = [size for size in (2000, 5000, 10_000, 20_000, total) if size <= total]
        results += measure(national_url, args, f"{total:,}", sizes, args.explain)

    print("\nSummary (server side, wall time of the request; target: p95 at most 300 ms)")
    print(summary(results))
    print(f"\nwhole run {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
