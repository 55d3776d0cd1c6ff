"""Organisations, their hierarchy, and their agent tokens."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, or_, select, update

from server import db

_orgs, _tokens = db.organisations, db.agent_tokens


def by_reference(connection: Connection, reference: str) -> Sequence[Row[Any]]:
    """Organisations whose id, SIREN (9 digits) or exact name is `reference`."""
    query = select(_orgs.c.id, _orgs.c.name, _orgs.c.parent_id)
    if reference.isdigit() and len(reference) == 9:
        query = query.where(_orgs.c.siren == reference)
    elif reference.isdigit():
        query = query.where(_orgs.c.id == int(reference))
    else:
        query = query.where(_orgs.c.name == reference)
    return connection.execute(query).all()


def siren_taken(connection: Connection, siren: str) -> bool:
    """True when an organisation already has this SIREN."""
    return connection.scalar(select(_orgs.c.id).where(_orgs.c.siren == siren)) is not None


def insert(
    connection: Connection,
    name: str,
    siren: str | None,
    kind: str,
    parent_id: int | None,
    now: datetime,
) -> int:
    """Create an organisation; its id."""
    inserted = connection.execute(
        _orgs.insert().values(
            name=name, siren=siren, type=kind, parent_id=parent_id, created_at=now
        )
    )
    key: Any = inserted.inserted_primary_key
    return int(key[0])


def get(connection: Connection, organisation_id: int) -> Row[Any] | None:
    """One organisation."""
    return connection.execute(select(_orgs).where(_orgs.c.id == organisation_id)).first()


def listing(connection: Connection, only: Iterable[int] | None = None) -> Sequence[Row[Any]]:
    """Organisations by name, all of them or those of `only`."""
    query = select(_orgs).order_by(_orgs.c.name, _orgs.c.id)
    if only is not None:
        query = query.where(_orgs.c.id.in_(sorted(only)))
    return connection.execute(query).all()


def count(connection: Connection, only: Iterable[int] | None = None) -> int:
    """How many organisations, all of them or those of `only`."""
    query = select(func.count()).select_from(_orgs)
    if only is not None:
        query = query.where(_orgs.c.id.in_(sorted(only)))
    return int(connection.scalar(query) or 0)


def matching(connection: Connection, text: str, only: Iterable[int] | None = None) -> list[int]:
    """Organisations whose name contains `text` (any case) or whose SIREN is `text`."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    query = select(_orgs.c.id).where(
        or_(_orgs.c.name.ilike(pattern, escape="\\"), _orgs.c.siren == text.replace(" ", ""))
    )
    if only is not None:
        query = query.where(_orgs.c.id.in_(sorted(only)))
    return list(connection.scalars(query.limit(1000)))


def descendants(connection: Connection, roots: Iterable[int]) -> frozenset[int]:
    """`roots` and every organisation below them (the communes of a métropole, …)."""
    children: dict[int, list[int]] = {}
    for org_id, parent_id in connection.execute(select(_orgs.c.id, _orgs.c.parent_id)):
        if parent_id is not None:
            children.setdefault(parent_id, []).append(org_id)
    seen: set[int] = set()
    pending = list(roots)
    while pending:
        current = pending.pop()
        if current not in seen:
            seen.add(current)
            pending.extend(children.get(current, []))
    return frozenset(seen)


def children_count(connection: Connection, organisation_id: int) -> int:
    """How many organisations are attached directly to this one."""
    return int(
        connection.scalar(
            select(func.count()).select_from(_orgs).where(_orgs.c.parent_id == organisation_id)
        )
        or 0
    )


def set_parent(connection: Connection, organisation_id: int, parent_id: int | None) -> None:
    """Attach an organisation to a parent (None: detach it)."""
    connection.execute(
        update(_orgs).where(_orgs.c.id == organisation_id).values(parent_id=parent_id)
    )


def insert_token(
    connection: Connection, organisation_id: int, prefix: str, digest: str, now: datetime
) -> None:
    """Record an agent token by its prefix and hash."""
    connection.execute(
        _tokens.insert().values(
            organisation_id=organisation_id, prefix=prefix, token_hash=digest, created_at=now
        )
    )


def tokens_with_prefix(connection: Connection, prefix: str) -> Sequence[Row[Any]]:
    """Tokens of this prefix with their organisation (hash, revocation, id, name, SIREN)."""
    return connection.execute(
        select(_tokens.c.token_hash, _tokens.c.revoked_at, _orgs.c.id, _orgs.c.name, _orgs.c.siren)
        .join(_orgs, _orgs.c.id == _tokens.c.organisation_id)
        .where(_tokens.c.prefix == prefix)
    ).all()


def tokens(connection: Connection, organisation_id: int | None = None) -> Sequence[Row[Any]]:
    """Tokens, oldest first: prefix, organisation name, creation and revocation dates."""
    query = (
        select(_tokens.c.prefix, _orgs.c.name, _tokens.c.created_at, _tokens.c.revoked_at)
        .join(_orgs, _orgs.c.id == _tokens.c.organisation_id)
        .order_by(_tokens.c.id)
    )
    if organisation_id is not None:
        query = query.where(_orgs.c.id == organisation_id)
    return connection.execute(query).all()


def revoke_tokens(
    connection: Connection, now: datetime, *, organisation_id: int | None = None, prefix: str = ""
) -> int:
    """Revoke the active tokens of an organisation, or the one of a prefix; how many."""
    query = update(_tokens).where(_tokens.c.revoked_at.is_(None)).values(revoked_at=now)
    if organisation_id is not None:
        query = query.where(_tokens.c.organisation_id == organisation_id)
    else:
        query = query.where(_tokens.c.prefix == prefix)
    return connection.execute(query).rowcount
