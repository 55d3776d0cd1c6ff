"""Who is calling: an agent with its token, or a person with a session cookie.

Agents may only send inventories; people read, and reviewers and administrators validate. A
reviewer or viewer sees the organisations assigned to them and those below them (the communes of
a métropole); an administrator sees everything. Something a caller may not see does not exist for
them: 404, never 403, so that identifiers of other organisations cannot be probed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select

from server import db, security
from server.admin import Role

SESSION_COOKIE = "tiebreak_session"


@dataclass(frozen=True, slots=True)
class AuthFailure(Exception):
    """Authentication refused: HTTP status and a French and English reason."""

    status: int
    french: str
    english: str


@dataclass(frozen=True, slots=True)
class User:
    """A signed-in person and the organisations they may see (None: all)."""

    id: int
    username: str
    role: Role
    visible: frozenset[int] | None

    def sees(self, organisation_id: int) -> bool:
        """True when this user may read the organisation's data."""
        return self.visible is None or organisation_id in self.visible


def agent_organisation(connection: Connection, authorization: str | None) -> Any:
    """The organisation row of the agent token in an `Authorization: Bearer` header."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthFailure(
            401,
            "jeton d'agent manquant : envoyez l'en-tête « Authorization: Bearer <jeton> » "
            "([server] token_file dans la configuration de l'agent)",
            "missing agent token: send the header 'Authorization: Bearer <token>' "
            "([server] token_file in the agent's configuration)",
        )
    prefix = security.token_prefix(token)
    digest = security.token_hash(token)
    rows: Sequence[Any] = []
    if prefix is not None:
        tokens, orgs = db.agent_tokens, db.organisations
        rows = connection.execute(
            select(tokens.c.token_hash, tokens.c.revoked_at, orgs.c.id, orgs.c.name, orgs.c.siren)
            .join(orgs, orgs.c.id == tokens.c.organisation_id)
            .where(tokens.c.prefix == prefix)
        ).all()
    for row in rows:
        if security.same_hash(row.token_hash, digest):
            if row.revoked_at is not None:
                raise AuthFailure(
                    401,
                    f"jeton d'agent {prefix} révoqué : demandez-en un nouveau à l'équipe centrale",
                    f"agent token {prefix} revoked: ask the central team for a new one",
                )
            return row
    raise AuthFailure(
        401,
        "jeton d'agent inconnu : vérifiez le fichier de jeton de l'agent",
        "unknown agent token: check the agent's token file",
    )


def _visible(connection: Connection, user_id: int) -> frozenset[int]:
    assigned = set(
        connection.scalars(
            select(db.user_organisations.c.organisation_id).where(
                db.user_organisations.c.user_id == user_id
            )
        )
    )
    children: dict[int, list[int]] = {}
    for org_id, parent_id in connection.execute(
        select(db.organisations.c.id, db.organisations.c.parent_id)
    ):
        if parent_id is not None:
            children.setdefault(parent_id, []).append(org_id)
    seen: set[int] = set()
    pending = list(assigned)
    while pending:
        current = pending.pop()
        if current not in seen:
            seen.add(current)
            pending.extend(children.get(current, []))
    return frozenset(seen)


def session_user(connection: Connection, cookie: str | None) -> User | None:
    """The user of a valid session cookie, None if there is none or it expired."""
    if not cookie:
        return None
    row = connection.execute(
        select(db.users.c.id, db.users.c.username, db.users.c.role, db.sessions.c.expires_at)
        .join(db.users, db.users.c.id == db.sessions.c.user_id)
        .where(db.sessions.c.token_hash == security.token_hash(cookie))
    ).first()
    if row is None:
        return None
    expires = row.expires_at
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    if expires <= datetime.now(UTC):
        return None
    role = Role(row.role)
    visible = None if role is Role.ADMIN else _visible(connection, row.id)
    return User(row.id, row.username, role, visible)


def login(
    engine: Engine,
    username: str,
    password: str,
    client: str,
    *,
    attempts: int,
    window_s: int,
    session_hours: int,
) -> str:
    """Check the password and open a session; return the cookie value.

    Failures are counted per user name and per client address over `window_s` seconds; past
    `attempts` failures for the name (or four times that for the address) login is refused with
    429 until the window has passed, even with the right password.
    """
    now = datetime.now(UTC)
    since = now - timedelta(seconds=window_s)
    user_key, client_key = f"user:{username[:150]}", f"ip:{client[:150]}"
    failures = db.login_failures
    with engine.connect() as connection:
        counts = {
            key: count
            for key, count in connection.execute(
                select(failures.c.key, func.count())
                .where(failures.c.key.in_((user_key, client_key)))
                .where(failures.c.at > since)
                .group_by(failures.c.key)
            )
        }
        row = connection.execute(
            select(db.users.c.id, db.users.c.password_hash).where(db.users.c.username == username)
        ).first()
    if counts.get(user_key, 0) >= attempts or counts.get(client_key, 0) >= 4 * attempts:
        raise AuthFailure(
            429,
            f"trop de tentatives de connexion : réessayez dans {window_s // 60} minutes",
            f"too many login attempts: try again in {window_s // 60} minutes",
        )
    # argon2 runs outside any transaction: it is slow on purpose and must not hold a lock.
    stored = row.password_hash if row is not None else security.DUMMY_PASSWORD_HASH
    accepted = security.check_password(stored, password)
    with db.write_transaction(engine) as connection:
        if row is None or not accepted:
            connection.execute(
                failures.insert(), [{"key": user_key, "at": now}, {"key": client_key, "at": now}]
            )
            connection.execute(delete(failures).where(failures.c.at <= since))
            cookie = None
        else:
            connection.execute(delete(failures).where(failures.c.key == user_key))
            connection.execute(delete(db.sessions).where(db.sessions.c.expires_at <= now))
            cookie = security.new_session_token()
            connection.execute(
                db.sessions.insert().values(
                    token_hash=security.token_hash(cookie),
                    user_id=row.id,
                    created_at=now,
                    expires_at=now + timedelta(hours=session_hours),
                )
            )
    if cookie is None:
        raise AuthFailure(
            401, "nom d'utilisateur ou mot de passe incorrect", "wrong user name or password"
        )
    return cookie


def logout(engine: Engine, cookie: str | None) -> None:
    """Close the session of this cookie, if any."""
    if cookie:
        with db.write_transaction(engine) as connection:
            connection.execute(
                delete(db.sessions).where(db.sessions.c.token_hash == security.token_hash(cookie))
            )
