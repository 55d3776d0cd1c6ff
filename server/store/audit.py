"""The audit log: who decided what, when, with the value before and after."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from server import db

_log = db.audit_log


def append(
    connection: Connection,
    *,
    at: datetime,
    username: str,
    action: str,
    subject: str,
    organisation_id: int | None = None,
    inventory_id: str | None = None,
    before: str | None = None,
    after: str | None = None,
) -> None:
    """Record one human action (within the transaction that carries it out)."""
    connection.execute(
        _log.insert().values(
            at=at,
            username=username,
            action=action,
            subject=subject,
            organisation_id=organisation_id,
            inventory_id=inventory_id,
            before=before,
            after=after,
        )
    )


def of_subject(connection: Connection, organisation_id: int, subject: str) -> Sequence[Row[Any]]:
    """The history of one finding (or observation) of an organisation, newest first."""
    return connection.execute(
        select(_log)
        .where(_log.c.organisation_id == organisation_id)
        .where(_log.c.subject == subject)
        .order_by(_log.c.id.desc())
    ).all()


def latest(
    connection: Connection, limit: int, organisations: Iterable[int] | None = None
) -> Sequence[Row[Any]]:
    """The newest `limit` entries, newest first."""
    query = select(_log).order_by(_log.c.id.desc()).limit(limit)
    if organisations is not None:
        query = query.where(_log.c.organisation_id.in_(sorted(organisations)))
    return connection.execute(query).all()


def every(connection: Connection, organisations: Iterable[int] | None = None) -> Iterator[Row[Any]]:
    """The whole log, oldest first, streamed (for exports)."""
    query = select(_log).order_by(_log.c.id)
    if organisations is not None:
        query = query.where(_log.c.organisation_id.in_(sorted(organisations)))
    yield from connection.execution_options(yield_per=1000).execute(query)
