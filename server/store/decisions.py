"""Human decisions on findings, kept per organisation and finding identity across scans."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, select, update

from server import db

_decisions = db.decisions


def of_organisation(connection: Connection, organisation_id: int) -> dict[str, Row[Any]]:
    """Every decision of an organisation, by finding key."""
    rows = connection.execute(
        select(_decisions).where(_decisions.c.organisation_id == organisation_id)
    ).all()
    return {row.finding_key: row for row in rows}


def get(connection: Connection, organisation_id: int, key: str) -> Row[Any] | None:
    """The decision on one finding key."""
    return connection.execute(
        select(_decisions)
        .where(_decisions.c.organisation_id == organisation_id)
        .where(_decisions.c.finding_key == key)
    ).first()


def put(connection: Connection, organisation_id: int, key: str, values: dict[str, Any]) -> None:
    """Create or replace the decision on a finding key (within the caller's write transaction,
    which holds the write lock, so two reviewers cannot both insert)."""
    if get(connection, organisation_id, key) is None:
        connection.execute(
            _decisions.insert().values(organisation_id=organisation_id, finding_key=key, **values)
        )
    else:
        connection.execute(
            update(_decisions)
            .where(_decisions.c.organisation_id == organisation_id)
            .where(_decisions.c.finding_key == key)
            .values(**values)
        )


def manual(connection: Connection, organisation_id: int) -> Sequence[Row[Any]]:
    """Products added by hand (kind 'manual'), oldest first."""
    return connection.execute(
        select(_decisions)
        .where(_decisions.c.organisation_id == organisation_id)
        .where(_decisions.c.kind == "manual")
        .order_by(_decisions.c.id)
    ).all()
