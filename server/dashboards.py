"""Dashboards: an organisation's figures and trajectory, and a territory's (an organisation and
every organisation below it, or everything an administrator sees).

Figures are computed once, when an inventory is validated (`record`), from what validation kept,
and stored by `server.store.metrics`; pages read those rows. `fill_missing` computes the figures
of inventories validated before dashboards existed; `recompute` computes them all again after a
change of catalog prices or scoring weights (`tiebreak server recompute-figures`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, Row

from server import db, metrics
from server.auth import User
from server.errors import Refusal
from server.metrics import NON_EU, Change, Metrics
from server.store import inventories, organisations
from server.store import metrics as figures_store
from server.store.metrics import EVERYONE

TERRITORY_PAGE = 100
"""Organisations listed per page of a territory view (sums always cover all of them)."""
HORIZON = date(2030, 12, 31)
"""The horizon of the TIE Break trajectory."""
ORDERS = ("name", "index", "euros")
TOP_VENDORS = 10
MANY_ROOTS = 200
"""Beyond this many separate territories, a reader's vendors are summed from the current rows."""
"""Vendors listed by number of organisations and by euros on a territory view."""

_NO_ORGANISATION = ("organisation introuvable", "organisation not found")


def _figures(computed: Metrics) -> figures_store.Figures:
    non_eu_findings = computed.findings_by_jurisdiction.get(NON_EU, 0)
    return figures_store.Figures(
        index=computed.index,
        findings=computed.findings,
        non_eu_findings=non_eu_findings,
        euros_validated=computed.total_validated,
        euros_estimated=computed.total_estimated,
        non_eu_validated=round(computed.euros_validated.get(NON_EU, 0.0), 2),
        non_eu_estimated=round(computed.euros_estimated.get(NON_EU, 0.0), 2),
        signature=computed.signature,
        data=metrics.to_json(computed),
    )


def _vendor_rows(computed: Metrics) -> list[dict[str, Any]]:
    return [
        {
            "vendor": vendor.vendor,
            "vendor_name": vendor.vendor_name,
            "jurisdiction": vendor.jurisdiction,
            "products": vendor.products,
            "findings": vendor.findings,
            "euros_validated": vendor.euros_validated,
            "euros_estimated": vendor.euros_estimated,
        }
        for vendor in computed.vendors
    ]


def record(
    connection: Connection,
    *,
    inventory_id: str,
    organisation_id: int,
    scanned_at: datetime,
    validated_at: datetime,
    kept: Sequence[Mapping[str, Any]],
) -> Metrics:
    """Compute and store the figures of an inventory being validated (same transaction)."""
    computed = metrics.compute(kept)
    figures_store.replace(
        connection,
        inventory_id=inventory_id,
        organisation_id=organisation_id,
        scanned_at=scanned_at,
        validated_at=validated_at,
        figures=_figures(computed),
        vendors=_vendor_rows(computed),
    )
    return computed


def forget(connection: Connection, inventory_id: str, organisation_id: int) -> None:
    """Drop the figures of an inventory that is no longer validated."""
    figures_store.remove(connection, inventory_id, organisation_id)


def _record_stored(connection: Connection, inventory_id: str) -> None:
    meta = inventories.meta(connection, inventory_id)
    if meta is None:
        return
    kept_text = inventories.validated_findings(connection, inventory_id)
    if kept_text:
        kept = orjson.loads(kept_text)
    else:  # validated before the review workspace: the findings as the agent sent them
        kept = [orjson.loads(text) for text in inventories.findings_data(connection, inventory_id)]
    record(
        connection,
        inventory_id=inventory_id,
        organisation_id=meta.organisation_id,
        scanned_at=meta.finished_at,
        validated_at=meta.validated_at or meta.received_at,
        kept=kept,
    )


def _record_each(engine: Engine, inventory_ids: Sequence[str]) -> None:
    for inventory_id in inventory_ids:
        with db.write_transaction(engine) as connection:
            _record_stored(connection, inventory_id)


def fill_missing(engine: Engine) -> int:
    """Compute the figures of validated inventories that have none; how many."""
    with engine.connect() as connection:
        wanted = [row.id for row in figures_store.missing(connection)]
        # Read before recording: what recording carries into the totals would hide their absence.
        stale = figures_store.territory_totals_missing(connection)
    _record_each(engine, wanted)
    if stale:  # figures stored before the territory totals existed
        with db.write_transaction(engine) as connection:
            figures_store.rebuild_territory_vendors(connection)
    return len(wanted)


def recompute(engine: Engine) -> int:
    """Compute every validated inventory's figures again (new prices or weights); how many."""
    with engine.connect() as connection:
        wanted = figures_store.validated_ids(connection)
    _record_each(engine, wanted)
    with db.write_transaction(engine) as connection:
        figures_store.rebuild_territory_vendors(connection)
    return len(wanted)


# --- An organisation's dashboard -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Point:
    """A trajectory point: a validated inventory whose figures differ from the previous one's,
    and until when later validated inventories confirmed them unchanged."""

    at: date
    inventory_id: str
    index: float | None
    euros_validated: float
    euros_estimated: float
    unchanged_until: date | None = None
    organisations: int | None = None

    @property
    def euros(self) -> float:
        """Validated plus estimated euros."""
        return round(self.euros_validated + self.euros_estimated, 2)


@dataclass(slots=True)
class OrganisationDashboard:
    """What the organisation page shows."""

    organisation: Row[Any]
    current: Row[Any] | None
    figures: Metrics | None
    change: Change | None
    previous_at: date | None
    points: list[Point]
    children: int
    validated_count: int = 0


def _day(moment: datetime) -> date:
    return moment.date()


def points_of(rows: Sequence[Row[Any]]) -> list[Point]:
    """Trajectory points from an organisation's series (`store.metrics.series`): validated
    inventories that changed nothing are folded into the point they confirm."""
    points: list[Point] = []
    for row in rows:
        if row.point or not points:
            points.append(
                Point(
                    at=_day(row.scanned_at),
                    inventory_id=row.inventory_id,
                    index=row.index_overall,
                    euros_validated=row.euros_validated,
                    euros_estimated=row.euros_estimated,
                )
            )
        else:
            points[-1] = replace(points[-1], unchanged_until=_day(row.scanned_at))
    return points


def visible_organisation(connection: Connection, user: User, organisation_id: int) -> Row[Any]:
    """The organisation, or 404 when it does not exist or the user may not see it."""
    row = organisations.get(connection, organisation_id)
    if row is None or not user.sees(organisation_id):
        raise Refusal(404, *_NO_ORGANISATION)
    return row


def organisation_dashboard(
    connection: Connection, user: User, organisation_id: int
) -> OrganisationDashboard:
    """The dashboard of one organisation the user may see."""
    organisation = visible_organisation(connection, user, organisation_id)
    current = figures_store.current(connection, organisation_id)
    rows = figures_store.series(connection, organisation_id)
    children = organisations.children_count(connection, organisation_id)
    dashboard = OrganisationDashboard(
        organisation, current, None, None, None, points_of(rows), children, len(rows)
    )
    if current is not None:
        dashboard.figures = metrics.from_json(current.data)
        previous = figures_store.previous_point(connection, organisation_id, current.scanned_at)
        if previous is not None and previous.signature != current.signature:
            dashboard.change = metrics.changes(metrics.from_json(previous.data), dashboard.figures)
            dashboard.previous_at = _day(previous.scanned_at)
    return dashboard


# --- Territories ---------------------------------------------------------------------------


@dataclass(slots=True)
class Territory:
    """What a territory view shows: every organisation below a root (or all the user sees)."""

    root: Row[Any] | None
    members: frozenset[int] | None
    kind: str | None
    order: str
    page: int
    pages: int
    totals: Row[Any]
    distribution: dict[int, int]
    vendors_by_organisations: Sequence[Row[Any]]
    vendors_by_euros: Sequence[Row[Any]]
    points: list[Point]
    organisations: Sequence[Row[Any]]
    cycles: list[list[str]] = field(default_factory=list)


def cycles(parents: Mapping[int, int | None]) -> list[list[int]]:
    """Every loop of parent links (each once)."""
    found: list[list[int]] = []
    in_loop: set[int] = set()
    for start in parents:
        if start in in_loop:
            continue
        loop = organisations.loop_from(parents.get, start, limit=len(parents))
        if loop:
            in_loop.update(loop)
            found.append(loop)
    return found


def _names(connection: Connection, ids: Collection[int]) -> dict[int, str]:
    return {row.id: row.name for row in organisations.listing(connection, only=ids)}


def territory_members(
    connection: Connection, user: User, root_id: int | None
) -> tuple[Row[Any] | None, frozenset[int] | None, list[list[str]]]:
    """Who a territory holds: the root organisation and every one below it that the user may
    see, or, without a root, every organisation the user sees (None: all of them). Also the
    loops of parent links among them, by names. A root caught in a loop is refused (409)."""
    loops: list[list[str]] = []
    if root_id is None:
        members = user.visible
        for loop in cycles(organisations.outside_tree(connection)):
            if members is None or set(loop) & members:
                names = _names(connection, loop)
                loops.append([names.get(item, str(item)) for item in loop])
        return None, members, loops
    root = visible_organisation(connection, user, root_id)
    through = organisations.loop_through(connection, root_id)
    if through:
        names = _names(connection, through)
        chain = " → ".join(names.get(item, str(item)) for item in [*through, root_id])
        raise Refusal(
            409,
            f"les rattachements forment une boucle : {chain}. Corrigez l'organisation "
            "parente de l'une d'elles (tiebreak server set-parent).",
            f"the parent links form a loop: {chain}. Fix the parent of one of them "
            "(tiebreak server set-parent).",
        )
    below = organisations.descendants(connection, [root_id])
    return root, (below if user.visible is None else below & user.visible), loops


def territory_points(rows: Sequence[Row[Any]]) -> list[Point]:
    """The territory's trajectory, quarter by quarter: the running sums of what its
    organisations' points changed (mean index of organisations with one, euros summed)."""
    points = []
    index_sum = 0.0
    indexed = 0
    euros_validated = 0.0
    euros_estimated = 0.0
    for row in rows:
        index_sum += row.d_index
        indexed += row.d_indexed
        euros_validated += row.d_euros_validated
        euros_estimated += row.d_euros_estimated
        year, quarter = divmod(int(row.quarter), 4)
        following = date(year + 1, 1, 1) if quarter == 3 else date(year, 3 * quarter + 4, 1)
        points.append(
            Point(
                at=following - timedelta(days=1),  # the quarter's last day
                inventory_id="",
                index=round(index_sum / indexed, 1) if indexed > 0 else None,
                euros_validated=round(euros_validated, 2),
                euros_estimated=round(euros_estimated, 2),
                organisations=indexed,
            )
        )
    return points


def territory(
    connection: Connection,
    user: User,
    root_id: int | None,
    *,
    kind: str | None = None,
    order: str = "name",
    page: int = 1,
    page_size: int = TERRITORY_PAGE,
) -> Territory:
    """The territory below `root_id` (the organisation and its descendants), or, without a
    root, every organisation the user sees (all of them for an administrator)."""
    root, members, loops = territory_members(connection, user, root_id)
    if order not in ORDERS:
        order = "name"
    totals = figures_store.territory_totals(connection, members, kind=kind)
    roots: list[int] | None = None
    if kind is None and root_id is not None:
        roots = [root_id]
    elif kind is None and members is None:
        roots = [EVERYONE]
    elif kind is None and members is not None and not loops:
        # What a reader sees is whole territories: the subtrees of their assigned organisations.
        roots = figures_store.tops(connection, members)
        roots = roots if len(roots) <= MANY_ROOTS else None
    if roots is not None:  # whole territories: their totals kept at validation
        vendors = figures_store.territory_vendor_totals(connection, roots)
    else:  # a type filter, or a reader heading very many territories: summed from current rows
        vendors = figures_store.territory_vendors(connection, members, kind=kind)
    pages = max(1, -(-int(totals.organisations) // page_size))
    page = min(max(1, page), pages)
    return Territory(
        root=root,
        members=members,
        kind=kind,
        order=order,
        page=page,
        pages=pages,
        totals=totals,
        distribution=figures_store.territory_distribution(connection, members, kind=kind),
        vendors_by_organisations=sorted(vendors, key=lambda row: (-row.organisations, row.vendor))[
            :TOP_VENDORS
        ],
        vendors_by_euros=sorted(
            (row for row in vendors if row.euros_validated + row.euros_estimated > 0),
            key=lambda row: (-(row.euros_validated + row.euros_estimated), row.vendor),
        )[:TOP_VENDORS],
        points=territory_points(figures_store.territory_trajectory(connection, members, kind=kind)),
        organisations=figures_store.territory_organisations(
            connection,
            members,
            kind=kind,
            order=order,
            limit=page_size,
            offset=(page - 1) * page_size,
        ),
        cycles=loops,
    )


def territory_all_rows(
    connection: Connection, members: Collection[int] | None, kind: str | None
) -> list[dict[str, Any]]:
    """Every organisation of a territory with its figures, for exports."""
    rows = figures_store.territory_organisations(
        connection, members, kind=kind, order="name", limit=10_000_000
    )
    return [dict(row._mapping) for row in rows]
