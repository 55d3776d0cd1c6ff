"""Organisations, their hierarchy, and their agent tokens."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, or_, select, update

from server import db

_orgs, _tokens = db.organisations, db.agent_tokens


def by_reference(connection: Connection, reference: str) -> Sequence[Row[Any]]:
    """Organisations whose id, SIREN (9 digits) or exact name is `reference`."""
    query = select(_orgs.c.id, _orgs.c.name)
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
    """`roots` and every organisation below them (the communes of a métropole, …), walked in
    the database (a recursive query on the parent index; UNION stops at a loop)."""
    start = sorted(set(roots))
    if not start:
        return frozenset()
    below = select(_orgs.c.id).where(_orgs.c.id.in_(start)).cte("below", recursive=True)
    below = below.union(select(_orgs.c.id).join(below, _orgs.c.parent_id == below.c.id))
    return frozenset(connection.scalars(select(below.c.id)))


def chain_up(
    parent_of: Callable[[int], int | None], start: int, limit: int = 100_000
) -> tuple[list[int], int | None]:
    """`start`, its parent, the parent's parent… each once, and the parent the walk stopped at:
    None at the top, else one already in the chain (a loop) or the one past `limit`."""
    chain, seen = [start], {start}
    current = parent_of(start)
    while current is not None and current not in seen and len(chain) <= limit:
        chain.append(current)
        seen.add(current)
        current = parent_of(current)
    return chain, current


def loop_from(
    parent_of: Callable[[int], int | None], start: int, limit: int = 100_000
) -> list[int] | None:
    """The organisations of a loop of parent links through `start`, or None: its parent, the
    parent's parent… followed until the top, or back to `start`."""
    chain, stop = chain_up(parent_of, start, limit)
    return chain if stop == start else None


def _parent_reader(connection: Connection) -> Callable[[int], int | None]:
    def parent_of(child: int) -> int | None:
        parent: int | None = connection.scalar(select(_orgs.c.parent_id).where(_orgs.c.id == child))
        return parent

    return parent_of


def loop_through(connection: Connection, organisation_id: int) -> list[int] | None:
    """The loop of parent links through this organisation, read from the database, or None."""
    return loop_from(_parent_reader(connection), organisation_id)


def ancestors(connection: Connection, organisation_id: int) -> list[int]:
    """The organisation, its parent, the parent's parent… (each once, even in a loop)."""
    return chain_up(_parent_reader(connection), organisation_id)[0]


def outside_tree(connection: Connection) -> dict[int, int | None]:
    """Organisations that no walk down from a top organisation reaches (they sit in a loop of
    parent links or below one), with their parents; normally none."""
    # Walking down from the tops never enters a loop (a loop's members have their parents in
    # it), so UNION ALL, which skips UNION's de-duplication, always ends.
    reached = select(_orgs.c.id).where(_orgs.c.parent_id.is_(None)).cte("reached", recursive=True)
    reached = reached.union_all(select(_orgs.c.id).join(reached, _orgs.c.parent_id == reached.c.id))
    reach, every = connection.execute(
        select(
            select(func.count()).select_from(reached).scalar_subquery(),
            select(func.count()).select_from(_orgs).scalar_subquery(),
        )
    ).one()
    if reach == every:  # the usual case, answered by two counts
        return {}
    # An anti-join, hashed: NOT IN (SELECT … FROM reached) rescans the CTE for every row.
    rows = connection.execute(
        select(_orgs.c.id, _orgs.c.parent_id)
        .outerjoin(reached, reached.c.id == _orgs.c.id)
        .where(reached.c.id.is_(None))
    )
    return {row.id: row.parent_id for row in rows}


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
