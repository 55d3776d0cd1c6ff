"""People: users, their organisations, their sessions and their failed sign-ins."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, select, update

from server import db

_users, _links, _sessions, _failures = (
    db.users,
    db.user_organisations,
    db.sessions,
    db.login_failures,
)


def by_name(connection: Connection, username: str) -> Row[Any] | None:
    """The user of this name (id, password hash, role, disabled_at)."""
    return connection.execute(
        select(
            _users.c.id,
            _users.c.username,
            _users.c.password_hash,
            _users.c.role,
            _users.c.disabled_at,
        ).where(_users.c.username == username)
    ).first()


def insert(
    connection: Connection, username: str, password_hash: str, role: str, now: datetime
) -> int:
    """Create a user; their id."""
    inserted = connection.execute(
        _users.insert().values(
            username=username, password_hash=password_hash, role=role, created_at=now
        )
    )
    key: Any = inserted.inserted_primary_key
    return int(key[0])


def set_organisations(
    connection: Connection, user_id: int, organisation_ids: Iterable[int]
) -> None:
    """Replace the organisations assigned to a user."""
    connection.execute(delete(_links).where(_links.c.user_id == user_id))
    rows = [{"user_id": user_id, "organisation_id": org} for org in sorted(set(organisation_ids))]
    if rows:
        connection.execute(_links.insert(), rows)


def assigned(connection: Connection, user_id: int) -> set[int]:
    """Organisations assigned to a user (without those below them)."""
    return set(
        connection.scalars(select(_links.c.organisation_id).where(_links.c.user_id == user_id))
    )


def listing(connection: Connection) -> list[dict[str, Any]]:
    """Every user with the names of their organisations, by name."""
    names: dict[int, str] = {
        row.id: row.name
        for row in connection.execute(select(db.organisations.c.id, db.organisations.c.name))
    }
    links: dict[int, list[str]] = {}
    for user_id, org_id in connection.execute(select(_links.c.user_id, _links.c.organisation_id)):
        links.setdefault(user_id, []).append(names.get(org_id, str(org_id)))
    rows = connection.execute(
        select(
            _users.c.id, _users.c.username, _users.c.role, _users.c.created_at, _users.c.disabled_at
        ).order_by(_users.c.username)
    ).all()
    return [dict(row._mapping) | {"organisations": sorted(links.get(row.id, []))} for row in rows]


def update_user(connection: Connection, user_id: int, **values: Any) -> None:
    """Change columns of a user (role, password_hash, disabled_at)."""
    connection.execute(update(_users).where(_users.c.id == user_id).values(**values))


def delete_user(connection: Connection, user_id: int) -> None:
    """Delete a user, their sessions and assignments (decisions and the audit keep their name)."""
    connection.execute(delete(_sessions).where(_sessions.c.user_id == user_id))
    connection.execute(delete(_links).where(_links.c.user_id == user_id))
    connection.execute(delete(_users).where(_users.c.id == user_id))


def close_sessions(connection: Connection, user_id: int) -> None:
    """End every session of a user."""
    connection.execute(delete(_sessions).where(_sessions.c.user_id == user_id))


def session(connection: Connection, token_hash: str) -> Row[Any] | None:
    """The session of this hash with its user (id, username, role, disabled_at, expires_at)."""
    return connection.execute(
        select(
            _users.c.id,
            _users.c.username,
            _users.c.role,
            _users.c.disabled_at,
            _sessions.c.expires_at,
        )
        .join(_users, _users.c.id == _sessions.c.user_id)
        .where(_sessions.c.token_hash == token_hash)
    ).first()


def open_session(
    connection: Connection, token_hash: str, user_id: int, now: datetime, expires: datetime
) -> None:
    """Record a new session, dropping expired ones."""
    connection.execute(delete(_sessions).where(_sessions.c.expires_at <= now))
    connection.execute(
        _sessions.insert().values(
            token_hash=token_hash, user_id=user_id, created_at=now, expires_at=expires
        )
    )


def close_session(connection: Connection, token_hash: str) -> None:
    """Forget one session."""
    connection.execute(delete(_sessions).where(_sessions.c.token_hash == token_hash))


LOGIN_LOCK_KEY = 0x7469_6562_726B  # "tiebrk": PostgreSQL advisory lock of sign-in bookkeeping


def lock_failures(connection: Connection) -> None:
    """Serialise sign-in bookkeeping until the end of this write transaction.

    SQLite's write transactions (BEGIN IMMEDIATE) already run one at a time; on PostgreSQL a
    transaction-level advisory lock does the same for the few milliseconds of counting and
    reserving, so that concurrent attempts cannot all read the same count.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(LOGIN_LOCK_KEY)))


def failure_times(
    connection: Connection, keys: Sequence[str], since: datetime
) -> dict[str, list[datetime]]:
    """The dates of the failed (or pending) sign-ins of each key since a date, oldest first."""
    found: dict[str, list[datetime]] = {key: [] for key in keys}
    for key, at in connection.execute(
        select(_failures.c.key, _failures.c.at)
        .where(_failures.c.key.in_(keys))
        .where(_failures.c.at > since)
        .order_by(_failures.c.at)
    ):
        found[key].append(at if at.tzinfo is not None else at.replace(tzinfo=UTC))
    return found


def reserve_failures(
    connection: Connection, keys: Sequence[str], now: datetime, since: datetime
) -> list[int]:
    """Count an attempt as failed under each key before its password is checked (the ids, to
    take it back if it succeeds); forget failures older than the window."""
    connection.execute(delete(_failures).where(_failures.c.at <= since))
    ids = []
    for key in keys:
        inserted: Any = connection.execute(_failures.insert().values(key=key, at=now))
        ids.append(int(inserted.inserted_primary_key[0]))
    return ids


def release_failures(connection: Connection, ids: Sequence[int]) -> None:
    """Take back reserved failures (the attempt succeeded, or was never checked)."""
    connection.execute(delete(_failures).where(_failures.c.id.in_(ids)))


def clear_failures(connection: Connection, key: str) -> None:
    """Forget the failures of a key (after a successful sign-in)."""
    connection.execute(delete(_failures).where(_failures.c.key == key))
