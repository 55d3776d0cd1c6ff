"""The figures of validated inventories (`inventory_metrics`, `vendor_metrics`): written once at
validation, read by dashboards, territory views and their exports.

Territory queries never read findings: one row per organisation (its current inventory), one row
per vendor of that inventory, and one row per trajectory point. A territory's trajectory is the
running sum, quarter by quarter, of what each point changes (`d_*` columns), so it costs one
`GROUP BY quarter` whatever the number of inventories.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    Integer,
    Row,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy import any_ as any_of
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import Select

from server import db
from server.store import organisations as org_store

_m, _v, _orgs, _inv = db.inventory_metrics, db.vendor_metrics, db.organisations, db.inventories
_tv = db.territory_vendors

EVERYONE = 0
"""The root of the territory of all organisations in `territory_vendors`."""

BUCKETS = 10
"""The index distribution counts organisations in ten bands of ten points."""


def quarter(moment: datetime) -> int:
    """The quarter of a moment as one integer (year × 4 + quarter − 1), for grouping."""
    return moment.year * 4 + (moment.month - 1) // 3


@dataclass(frozen=True, slots=True)
class Figures:
    """What one validated inventory's row holds besides its JSON."""

    index: dict[str, float]
    findings: int
    non_eu_findings: int
    euros_validated: float
    euros_estimated: float
    non_eu_validated: float
    non_eu_estimated: float
    signature: str
    data: str


def replace(
    connection: Connection,
    *,
    inventory_id: str,
    organisation_id: int,
    scanned_at: datetime,
    validated_at: datetime,
    figures: Figures,
    vendors: Sequence[dict[str, Any]],
) -> None:
    """Store (or store again) the figures of a validated inventory, then refresh its
    organisation's current inventory, trajectory points and territory contributions."""
    before = _vendor_sums(connection, [organisation_id])
    connection.execute(delete(_v).where(_v.c.inventory_id == inventory_id))
    connection.execute(delete(_m).where(_m.c.inventory_id == inventory_id))
    overall = figures.index.get("overall")
    connection.execute(
        insert(_m).values(
            inventory_id=inventory_id,
            organisation_id=organisation_id,
            scanned_at=scanned_at,
            validated_at=validated_at,
            quarter=quarter(scanned_at),
            current=False,
            point=False,
            index_overall=overall,
            index_infrastructure=figures.index.get("infrastructure"),
            index_poste=figures.index.get("poste-de-travail"),
            index_logiciel=figures.index.get("logiciel"),
            index_bucket=None if overall is None else min(BUCKETS - 1, int(overall // 10)),
            findings=figures.findings,
            non_eu_findings=figures.non_eu_findings,
            euros_validated=figures.euros_validated,
            euros_estimated=figures.euros_estimated,
            non_eu_validated=figures.non_eu_validated,
            non_eu_estimated=figures.non_eu_estimated,
            d_index=0.0,
            d_indexed=0,
            d_euros_validated=0.0,
            d_euros_estimated=0.0,
            signature=figures.signature,
            data=figures.data,
        )
    )
    if vendors:
        connection.execute(
            insert(_v),
            [
                {
                    "inventory_id": inventory_id,
                    "organisation_id": organisation_id,
                    "current": False,
                    **vendor,
                }
                for vendor in vendors
            ],
        )
    refresh(connection, organisation_id)
    _carry(connection, organisation_id, before)


def remove(connection: Connection, inventory_id: str, organisation_id: int) -> None:
    """Forget the figures of an inventory that is no longer validated."""
    before = _vendor_sums(connection, [organisation_id])
    connection.execute(delete(_v).where(_v.c.inventory_id == inventory_id))
    connection.execute(delete(_m).where(_m.c.inventory_id == inventory_id))
    refresh(connection, organisation_id)
    _carry(connection, organisation_id, before)


# --- Territory vendor totals -------------------------------------------------------------------

Sums = dict[str, tuple[str, str, int, int, float, float]]
"""vendor → (name, jurisdiction, organisations, products, euros validated, euros estimated)."""


def _vendor_sums(connection: Connection, organisations: Collection[int]) -> Sums:
    """The current vendor rows of these organisations, summed per vendor."""
    return {
        row.vendor: (
            row.vendor_name,
            row.jurisdiction,
            int(row.organisations),
            int(row.products),
            float(row.euros_validated),
            float(row.euros_estimated),
        )
        for row in territory_vendors(connection, organisations)
    }


def _difference(after: Sums, before: Sums) -> Sums:
    """What goes from `before` to `after`, per vendor (vendors whose sums do not move: none)."""
    delta: Sums = {}
    zero: tuple[str, str, int, int, float, float] = ("", "", 0, 0, 0.0, 0.0)
    for vendor in after.keys() | before.keys():
        new, old = after.get(vendor, zero), before.get(vendor, zero)
        moved = (
            new[2] - old[2],
            new[3] - old[3],
            round(new[4] - old[4], 2),
            round(new[5] - old[5], 2),
        )
        if any(moved):
            name, jurisdiction = (new if vendor in after else old)[:2]
            delta[vendor] = (name, jurisdiction, *moved)
    return delta


def _apply(connection: Connection, roots: Collection[int], delta: Sums) -> None:
    """Add `delta` to the vendor totals of each root (rows whose organisations reach 0 go)."""
    if not delta or not roots:
        return
    existing = {
        (row.root_id, row.vendor): row
        for row in connection.execute(
            select(_tv)
            .where(_tv.c.root_id.in_(sorted(set(roots))))
            .where(_tv.c.vendor.in_(sorted(delta)))
        )
    }
    rows = []
    for root in set(roots):
        for vendor, (name, jurisdiction, orgs, products, validated, estimated) in delta.items():
            old = existing.get((root, vendor))
            total = (
                (old.organisations if old else 0) + orgs,
                (old.products if old else 0) + products,
                round((old.euros_validated if old else 0.0) + validated, 2),
                round((old.euros_estimated if old else 0.0) + estimated, 2),
            )
            if total[0] > 0:
                rows.append(
                    {
                        "root_id": root,
                        "vendor": vendor,
                        "vendor_name": name,
                        "jurisdiction": jurisdiction,
                        "organisations": total[0],
                        "products": total[1],
                        "euros_validated": total[2],
                        "euros_estimated": total[3],
                    }
                )
    connection.execute(
        delete(_tv)
        .where(_tv.c.root_id.in_(sorted(set(roots))))
        .where(_tv.c.vendor.in_(sorted(delta)))
    )
    if rows:
        connection.execute(insert(_tv), rows)


def _carry(connection: Connection, organisation_id: int, before: Sums) -> None:
    """Carry what an organisation's current vendor rows changed into its territories' totals:
    its own, every one above it, and everyone's."""
    delta = _difference(_vendor_sums(connection, [organisation_id]), before)
    _apply(connection, [*org_store.ancestors(connection, organisation_id), EVERYONE], delta)


def move_subtree(
    connection: Connection, subtree: Collection[int], old_parent: int | None, new_parent: int | None
) -> None:
    """An organisation changes parent: its subtree's totals leave the old parent's territories
    and join the new one's (call before or after the link changes: only parents are read)."""
    sums = _vendor_sums(connection, subtree)
    if old_parent is not None:
        _apply(connection, org_store.ancestors(connection, old_parent), _difference({}, sums))
    if new_parent is not None:
        _apply(connection, org_store.ancestors(connection, new_parent), sums)


def rebuild_territory_vendors(connection: Connection) -> None:
    """Compute every territory's vendor totals from the current vendor rows."""
    connection.execute(delete(_tv))
    by_organisation: dict[int, Sums] = {}
    for row in connection.execute(
        select(
            _v.c.organisation_id,
            _v.c.vendor,
            _v.c.vendor_name,
            _v.c.jurisdiction,
            _v.c.products,
            _v.c.euros_validated,
            _v.c.euros_estimated,
        ).where(_v.c.current == true())
    ):
        by_organisation.setdefault(row.organisation_id, {})[row.vendor] = (
            row.vendor_name,
            row.jurisdiction,
            1,
            row.products,
            row.euros_validated,
            row.euros_estimated,
        )
    parents = {
        row.id: row.parent_id for row in connection.execute(select(_orgs.c.id, _orgs.c.parent_id))
    }
    totals: dict[tuple[int, str], list[Any]] = {}
    for organisation, sums in by_organisation.items():
        chain = org_store.chain_up(parents.get, organisation)[0]
        for root in [*chain, EVERYONE]:
            for vendor, (name, jurisdiction, orgs, products, validated, estimated) in sums.items():
                total = totals.setdefault((root, vendor), [name, jurisdiction, 0, 0, 0.0, 0.0])
                total[2] += orgs
                total[3] += products
                total[4] += validated
                total[5] += estimated
    rows = [
        {
            "root_id": root,
            "vendor": vendor,
            "vendor_name": total[0],
            "jurisdiction": total[1],
            "organisations": total[2],
            "products": total[3],
            "euros_validated": round(total[4], 2),
            "euros_estimated": round(total[5], 2),
        }
        for (root, vendor), total in totals.items()
    ]
    for start in range(0, len(rows), 5000):
        connection.execute(insert(_tv), rows[start : start + 5000])


def territory_vendor_totals(connection: Connection, roots: Collection[int]) -> Sequence[Row[Any]]:
    """The vendors of whole territories kept at validation (root 0: all organisations), summed
    over `roots`, which must not overlap, in the shape of `territory_vendors`."""
    return connection.execute(
        select(
            _tv.c.vendor,
            func.max(_tv.c.vendor_name).label("vendor_name"),
            func.max(_tv.c.jurisdiction).label("jurisdiction"),
            func.sum(_tv.c.organisations).label("organisations"),
            func.sum(_tv.c.products).label("products"),
            func.sum(_tv.c.euros_validated).label("euros_validated"),
            func.sum(_tv.c.euros_estimated).label("euros_estimated"),
        )
        .where(_tv.c.root_id.in_(sorted(set(roots))))
        .group_by(_tv.c.vendor)
    ).all()


def tops(connection: Connection, members: Collection[int]) -> list[int]:
    """The members whose parent is not a member: the roots of the territories they make up
    (a member-closed set of descendants, as a reader sees, is exactly their union)."""
    parents = select(_orgs.c.id)
    parents = _members(connection, parents, _orgs.c.id, members)
    query = select(_orgs.c.id).where(
        or_(_orgs.c.parent_id.is_(None), _orgs.c.parent_id.not_in(parents.scalar_subquery()))
    )
    return sorted(connection.scalars(_members(connection, query, _orgs.c.id, members)))


def territory_totals_missing(connection: Connection) -> bool:
    """True when current vendor rows exist but no territory total: figures stored before the
    totals existed."""
    some_current = connection.scalar(select(_v.c.id).where(_v.c.current == true()).limit(1))
    some_total = connection.scalar(select(_tv.c.root_id).limit(1))
    return some_current is not None and some_total is None


def refresh(connection: Connection, organisation_id: int) -> None:
    """Recompute an organisation's current inventory (the latest scan validated), which of its
    validated inventories are trajectory points (figures differ from the previous point's), and
    what each point adds to its territory's sums."""
    rows = connection.execute(
        select(
            _m.c.inventory_id,
            _m.c.current,
            _m.c.point,
            _m.c.signature,
            _m.c.index_overall,
            _m.c.euros_validated,
            _m.c.euros_estimated,
            _m.c.d_index,
            _m.c.d_indexed,
            _m.c.d_euros_validated,
            _m.c.d_euros_estimated,
        )
        .where(_m.c.organisation_id == organisation_id)
        .order_by(_m.c.scanned_at, _m.c.validated_at)
    ).all()
    current_id = rows[-1].inventory_id if rows else None
    previous: Row[Any] | None = None
    for row in rows:
        point = previous is None or row.signature != previous.signature
        wanted: dict[str, Any] = {
            "current": row.inventory_id == current_id,
            "point": point,
            "d_index": 0.0,
            "d_indexed": 0,
            "d_euros_validated": 0.0,
            "d_euros_estimated": 0.0,
        }
        if point:
            before_index = previous.index_overall if previous is not None else None
            wanted["d_index"] = (row.index_overall or 0.0) - (before_index or 0.0)
            wanted["d_indexed"] = int(row.index_overall is not None) - int(before_index is not None)
            wanted["d_euros_validated"] = row.euros_validated - (
                previous.euros_validated if previous is not None else 0.0
            )
            wanted["d_euros_estimated"] = row.euros_estimated - (
                previous.euros_estimated if previous is not None else 0.0
            )
            previous = row
        if any(getattr(row, name) != value for name, value in wanted.items()):
            connection.execute(
                update(_m).where(_m.c.inventory_id == row.inventory_id).values(**wanted)
            )
    connection.execute(
        update(_v)
        .where(_v.c.organisation_id == organisation_id)
        .where(_v.c.current != (_v.c.inventory_id == current_id))
        .values(current=_v.c.inventory_id == current_id)
    )


def current(connection: Connection, organisation_id: int) -> Row[Any] | None:
    """The organisation's current figures (row with `data`), or None."""
    return connection.execute(
        select(_m).where(_m.c.organisation_id == organisation_id).where(_m.c.current == true())
    ).first()


def of_inventory(connection: Connection, inventory_id: str) -> Row[Any] | None:
    """The figures of one validated inventory (row with `data`), or None."""
    return connection.execute(select(_m).where(_m.c.inventory_id == inventory_id)).first()


def previous_point(
    connection: Connection, organisation_id: int, before: datetime
) -> Row[Any] | None:
    """The last trajectory point scanned before `before` whose figures differ from it."""
    return connection.execute(
        select(_m)
        .where(_m.c.organisation_id == organisation_id)
        .where(_m.c.point == true())
        .where(_m.c.scanned_at < before)
        .order_by(_m.c.scanned_at.desc())
        .limit(1)
    ).first()


_SERIES = (
    _m.c.inventory_id,
    _m.c.scanned_at,
    _m.c.validated_at,
    _m.c.point,
    _m.c.index_overall,
    _m.c.index_infrastructure,
    _m.c.index_poste,
    _m.c.index_logiciel,
    _m.c.findings,
    _m.c.euros_validated,
    _m.c.euros_estimated,
    _m.c.non_eu_validated,
    _m.c.non_eu_estimated,
)


def series(connection: Connection, organisation_id: int) -> Sequence[Row[Any]]:
    """Every validated inventory of the organisation, oldest scan first (without JSON)."""
    return connection.execute(
        select(*_SERIES)
        .where(_m.c.organisation_id == organisation_id)
        .order_by(_m.c.scanned_at, _m.c.validated_at)
    ).all()


def missing(connection: Connection) -> Sequence[Row[Any]]:
    """Validated inventories whose figures are not stored yet (validated before dashboards)."""
    return connection.execute(
        select(_inv.c.id)
        .outerjoin(_m, _m.c.inventory_id == _inv.c.id)
        .where(_inv.c.status == "validated")
        .where(_m.c.inventory_id.is_(None))
        .order_by(_inv.c.validated_at)
    ).all()


def validated_ids(connection: Connection) -> list[str]:
    """Every validated inventory, oldest validation first."""
    return list(
        connection.scalars(
            select(_inv.c.id).where(_inv.c.status == "validated").order_by(_inv.c.validated_at)
        )
    )


# --- Territories -------------------------------------------------------------------------------


def _members(
    connection: Connection, query: Select[Any], column: Any, members: Collection[int] | None
) -> Select[Any]:
    """Restrict to `members` (None: everyone) with one bound parameter whatever their number
    (an IN list of 35,000 parameters is slow to plan and breaks past 65,535 in PostgreSQL)."""
    if members is None:
        return query
    ids = sorted(members)
    if connection.dialect.name == "postgresql":
        return query.where(
            column == any_of(bindparam("members", ids, type_=postgresql.ARRAY(Integer)))
        )
    table = func.json_each(bindparam("members", orjson.dumps(ids).decode())).table_valued("value")
    return query.where(column.in_(select(table.c.value)))


def territory_organisations(
    connection: Connection,
    members: Collection[int] | None,
    *,
    kind: str | None = None,
    order: str = "name",
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Row[Any]]:
    """A page of the territory's organisations with their current figures (None: no validated
    inventory). `order`: name, index (most dependent first) or euros."""
    euros = _m.c.euros_validated + _m.c.euros_estimated
    query = select(
        _orgs.c.id,
        _orgs.c.name,
        _orgs.c.siren,
        _orgs.c.type,
        _orgs.c.parent_id,
        _m.c.inventory_id,
        _m.c.scanned_at,
        _m.c.index_overall,
        _m.c.index_infrastructure,
        _m.c.index_poste,
        _m.c.index_logiciel,
        _m.c.findings,
        _m.c.non_eu_findings,
        _m.c.euros_validated,
        _m.c.euros_estimated,
        _m.c.non_eu_validated,
        _m.c.non_eu_estimated,
    ).outerjoin(_m, and_(_m.c.organisation_id == _orgs.c.id, _m.c.current == true()))
    query = _members(connection, query, _orgs.c.id, members)
    if kind:
        query = query.where(_orgs.c.type == kind)
    if order == "index":
        query = query.order_by(
            case((_m.c.index_overall.is_(None), 1), else_=0),
            _m.c.index_overall.desc(),
            _orgs.c.name,
        )
    elif order == "euros":
        query = query.order_by(case((euros.is_(None), 1), else_=0), euros.desc(), _orgs.c.name)
    else:
        query = query.order_by(_orgs.c.name, _orgs.c.id)
    return connection.execute(query.limit(limit).offset(offset)).all()


def territory_totals(
    connection: Connection, members: Collection[int] | None, *, kind: str | None = None
) -> Row[Any]:
    """Counts and sums over the territory: organisations, those with figures, mean index,
    euros validated and estimated (all and non-European)."""
    query = select(
        func.count(_orgs.c.id).label("organisations"),
        func.count(_m.c.inventory_id).label("with_figures"),
        func.avg(_m.c.index_overall).label("index"),
        func.count(_m.c.index_overall).label("indexed"),
        func.coalesce(func.sum(_m.c.findings), 0).label("findings"),
        func.coalesce(func.sum(_m.c.euros_validated), 0.0).label("euros_validated"),
        func.coalesce(func.sum(_m.c.euros_estimated), 0.0).label("euros_estimated"),
        func.coalesce(func.sum(_m.c.non_eu_validated), 0.0).label("non_eu_validated"),
        func.coalesce(func.sum(_m.c.non_eu_estimated), 0.0).label("non_eu_estimated"),
    ).outerjoin(_m, and_(_m.c.organisation_id == _orgs.c.id, _m.c.current == true()))
    query = _members(connection, query, _orgs.c.id, members)
    if kind:
        query = query.where(_orgs.c.type == kind)
    return connection.execute(query).one()


def territory_distribution(
    connection: Connection, members: Collection[int] | None, *, kind: str | None = None
) -> dict[int, int]:
    """How many organisations have their index in each band of ten points (0: 0–9.9, …)."""
    query = (
        select(_m.c.index_bucket, func.count())
        .where(_m.c.current == true())
        .where(_m.c.index_bucket.is_not(None))
        .group_by(_m.c.index_bucket)
    )
    query = _members(connection, query, _m.c.organisation_id, members)
    if kind:
        query = query.join(_orgs, _orgs.c.id == _m.c.organisation_id).where(_orgs.c.type == kind)
    return {int(bucket): int(count) for bucket, count in connection.execute(query)}


def territory_vendors(
    connection: Connection, members: Collection[int] | None, *, kind: str | None = None
) -> Sequence[Row[Any]]:
    """Every vendor of the territory's current inventories, in one pass: vendor, name,
    jurisdiction, organisations, products, euros validated and estimated (a few hundred rows
    at most; callers pick their top lists from them)."""
    query = (
        select(
            _v.c.vendor,
            func.max(_v.c.vendor_name).label("vendor_name"),
            func.max(_v.c.jurisdiction).label("jurisdiction"),
            func.count(_v.c.organisation_id).label("organisations"),
            func.sum(_v.c.products).label("products"),
            func.sum(_v.c.euros_validated).label("euros_validated"),
            func.sum(_v.c.euros_estimated).label("euros_estimated"),
        )
        .where(_v.c.current == true())
        .group_by(_v.c.vendor)
    )
    query = _members(connection, query, _v.c.organisation_id, members)
    if kind:
        query = query.join(_orgs, _orgs.c.id == _v.c.organisation_id).where(_orgs.c.type == kind)
    return connection.execute(query).all()


def territory_trajectory(
    connection: Connection, members: Collection[int] | None, *, kind: str | None = None
) -> Sequence[Row[Any]]:
    """Per quarter, what the territory's trajectory points change: sum of index changes, change
    in the number of organisations with an index, euros validated and estimated. The running sum
    of these rows is the territory's trajectory."""
    query = (
        select(
            _m.c.quarter,
            func.sum(_m.c.d_index).label("d_index"),
            func.sum(_m.c.d_indexed).label("d_indexed"),
            func.sum(_m.c.d_euros_validated).label("d_euros_validated"),
            func.sum(_m.c.d_euros_estimated).label("d_euros_estimated"),
        )
        .where(_m.c.point == true())
        .group_by(_m.c.quarter)
        .order_by(_m.c.quarter)
    )
    query = _members(connection, query, _m.c.organisation_id, members)
    if kind:
        query = query.join(_orgs, _orgs.c.id == _m.c.organisation_id).where(_orgs.c.type == kind)
    return connection.execute(query).all()
