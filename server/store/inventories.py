"""Inventories and their findings: insert once (idempotent on the id), list, read, validate."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from server import db

_inv, _findings, _decisions, _orgs = db.inventories, db.findings, db.decisions, db.organisations

META_COLUMNS = (
    _inv.c.id,
    _inv.c.organisation_id,
    _inv.c.status,
    _inv.c.received_at,
    _inv.c.started_at,
    _inv.c.finished_at,
    _inv.c.agent_hostname,
    _inv.c.findings_count,
    _inv.c.observations_count,
    _inv.c.source,
    _inv.c.validated_at,
    _inv.c.validated_by,
)
"""What a listing shows of an inventory: everything but its content."""


def existing(connection: Connection, inventory_id: str) -> Row[Any] | None:
    """What the receipt of a stored inventory is made of, and the digest of its body."""
    return connection.execute(
        select(
            _inv.c.id,
            _inv.c.organisation_id,
            _inv.c.received_at,
            _inv.c.findings_count,
            _inv.c.observations_count,
            _inv.c.body_sha256,
        ).where(_inv.c.id == inventory_id)
    ).first()


def insert_if_new(connection: Connection, row: dict[str, Any]) -> bool:
    """`INSERT … ON CONFLICT (id) DO NOTHING`, in one round trip; False when the id existed."""
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(_inv)
        .values(row)
        .on_conflict_do_nothing(index_elements=[_inv.c.id])
        .returning(_inv.c.id)
    )
    return connection.execute(statement).first() is not None


_FINDING_COLUMNS = (
    "inventory_id, position, finding_id, product, vendor, jurisdiction, category, data"
)
# Column names are constants; every value is a bound parameter.
_INSERT_FINDINGS_SQLITE = (
    f"INSERT INTO findings ({_FINDING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
)
# One statement with eight arrays: psycopg adapts a list in C, where executemany would handle
# every row in Python. `%b` sends them in binary: the text format would search every element
# for characters to quote.
_INSERT_FINDINGS_POSTGRESQL = (
    f"INSERT INTO findings ({_FINDING_COLUMNS}) "  # noqa: S608
    "SELECT * FROM unnest(%b::text[], %b::int[], %b::text[], %b::text[], %b::text[], "
    "%b::text[], %b::text[], %b::text[])"
)


def insert_findings(connection: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert findings rows (inventory id, position, finding id, product, vendor,
    jurisdiction, category, JSON) straight through the driver: building hundreds of parameter
    sets through SQLAlchemy's compiler costs more than the insert itself."""
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        columns = tuple(list(column) for column in zip(*rows, strict=True))
        connection.exec_driver_sql(_INSERT_FINDINGS_POSTGRESQL, columns)
    else:
        connection.exec_driver_sql(_INSERT_FINDINGS_SQLITE, list(rows))


def meta(connection: Connection, inventory_id: str) -> Row[Any] | None:
    """An inventory without its content, with its organisation's name."""
    return connection.execute(
        select(*META_COLUMNS, _orgs.c.name.label("organisation_name"))
        .join(_orgs, _orgs.c.id == _inv.c.organisation_id)
        .where(_inv.c.id == inventory_id)
    ).first()


def document(connection: Connection, inventory_id: str) -> str | None:
    """The inventory exactly as it was received."""
    text: str | None = connection.scalar(select(_inv.c.document).where(_inv.c.id == inventory_id))
    return text


def findings_data(connection: Connection, inventory_id: str) -> list[str]:
    """The findings of an inventory, as JSON texts, in the agent's order."""
    return list(
        connection.scalars(
            select(_findings.c.data)
            .where(_findings.c.inventory_id == inventory_id)
            .order_by(_findings.c.position)
        )
    )


def listing(
    connection: Connection,
    visible: Iterable[int] | None,
    *,
    organisation_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Row[Any]]:
    """Inventories the caller may see, newest first."""
    query = select(*META_COLUMNS).order_by(_inv.c.received_at.desc(), _inv.c.id)
    if organisation_id is not None:
        query = query.where(_inv.c.organisation_id == organisation_id)
    if visible is not None:
        query = query.where(_inv.c.organisation_id.in_(sorted(visible)))
    return connection.execute(query.limit(limit).offset(offset)).all()


@dataclass(frozen=True, slots=True)
class QueuePage:
    """One page of the review queue and how many inventories match in all."""

    rows: Sequence[Row[Any]]
    total: int


def _pending_count() -> Any:
    """Findings of the inventory that no decision settles yet (a correlated subquery)."""
    # Correlated explicitly, two levels up to the listed inventory: auto-correlation reaches
    # only the enclosing count, so `inventories` would become a FROM of its own and the
    # subquery would look up decisions of every organisation (seconds at scale, wrong counts).
    settled = (
        exists()
        .where(
            and_(
                _decisions.c.organisation_id == _inv.c.organisation_id,
                _decisions.c.finding_key == _findings.c.finding_id,
                _decisions.c.status.is_not(None),
            )
        )
        .correlate(_inv, _findings)
    )
    return (
        select(func.count())
        .select_from(_findings)
        .where(_findings.c.inventory_id == _inv.c.id)
        .where(~settled)
        .scalar_subquery()
    )


def queue(
    connection: Connection,
    visible: Iterable[int] | None,
    *,
    organisation_ids: Iterable[int] | None,
    status: str | None,
    limit: int,
    offset: int,
) -> QueuePage:
    """Inventories to review, newest first, with their organisation and pending findings."""
    conditions = []
    if status is not None:
        conditions.append(_inv.c.status == status)
    if organisation_ids is not None:
        conditions.append(_inv.c.organisation_id.in_(sorted(organisation_ids)))
    if visible is not None:
        conditions.append(_inv.c.organisation_id.in_(sorted(visible)))
    total = connection.scalar(select(func.count()).select_from(_inv).where(*conditions)) or 0
    page = (
        select(
            *META_COLUMNS,
            _orgs.c.name.label("organisation_name"),
            _pending_count().label("pending"),
        )
        .join(_orgs, _orgs.c.id == _inv.c.organisation_id)
        .where(*conditions)
        .order_by(_inv.c.received_at.desc(), _inv.c.id)
        .limit(limit)
        .offset(offset)
    )
    return QueuePage(connection.execute(page).all(), int(total))


def set_status(connection: Connection, inventory_id: str, status: str) -> None:
    """Mark an inventory draft, validated or rejected."""
    connection.execute(update(_inv).where(_inv.c.id == inventory_id).values(status=status))


def validate(
    connection: Connection, inventory_id: str, who: str, when: datetime, findings_json: str
) -> None:
    """Make an inventory validated, with the findings as decided at that moment."""
    connection.execute(
        update(_inv)
        .where(_inv.c.id == inventory_id)
        .values(
            status="validated",
            validated_at=when,
            validated_by=who,
            validated_findings=findings_json,
        )
    )


def validated_findings(connection: Connection, inventory_id: str) -> str | None:
    """The findings an inventory was validated with (JSON), or None."""
    return connection.scalar(select(_inv.c.validated_findings).where(_inv.c.id == inventory_id))


def latest_validated(
    connection: Connection,
    organisation_id: int,
    *,
    other_than: str = "",
) -> Row[Any] | None:
    """The organisation's current validated inventory (the most recently validated one)."""
    query = (
        select(_inv.c.id, _inv.c.received_at, _inv.c.validated_at, _inv.c.validated_findings)
        .where(_inv.c.organisation_id == organisation_id)
        .where(_inv.c.status == "validated")
        .where(_inv.c.id != other_than)
        .order_by(_inv.c.validated_at.desc(), _inv.c.received_at.desc())
        .limit(1)
    )
    return connection.execute(query).first()
