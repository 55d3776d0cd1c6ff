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

from sqlalchemy import Connection, Engine

from server import db, security
from server.admin import Role
from server.errors import Refusal
from server.store import organisations, users

SESSION_COOKIE = "tiebreak_session"


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
        raise Refusal(
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
        rows = organisations.tokens_with_prefix(connection, prefix)
    for row in rows:
        if security.same_hash(row.token_hash, digest):
            if row.revoked_at is not None:
                raise Refusal(
                    401,
                    f"jeton d'agent {prefix} révoqué : demandez-en un nouveau à l'équipe centrale",
                    f"agent token {prefix} revoked: ask the central team for a new one",
                )
            return row
    raise Refusal(
        401,
        "jeton d'agent inconnu : vérifiez le fichier de jeton de l'agent",
        "unknown agent token: check the agent's token file",
    )


def session_user(connection: Connection, cookie: str | None) -> User | None:
    """The user of a valid session cookie, None if there is none, it expired or the user is
    disabled."""
    if not cookie:
        return None
    row = users.session(connection, security.token_hash(cookie))
    if row is None or row.disabled_at is not None:
        return None
    expires = row.expires_at
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    if expires <= datetime.now(UTC):
        return None
    role = Role(row.role)
    visible = (
        None
        if role is Role.ADMIN
        else organisations.descendants(connection, users.assigned(connection, row.id))
    )
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
    429 until the window has passed, even with the right password. A disabled user is refused
    like a wrong password, so that the answer does not tell which accounts exist.
    """
    now = datetime.now(UTC)
    since = now - timedelta(seconds=window_s)
    user_key, client_key = f"user:{username[:150]}", f"ip:{client[:150]}"
    with engine.connect() as connection:
        counts = users.failure_counts(connection, (user_key, client_key), since)
        row = users.by_name(connection, username)
    if counts.get(user_key, 0) >= attempts or counts.get(client_key, 0) >= 4 * attempts:
        raise Refusal(
            429,
            f"trop de tentatives de connexion : réessayez dans {window_s // 60} minutes",
            f"too many login attempts: try again in {window_s // 60} minutes",
        )
    # argon2 runs outside any transaction: it is slow on purpose and must not hold a lock.
    stored = row.password_hash if row is not None else security.DUMMY_PASSWORD_HASH
    accepted = security.check_password(stored, password)
    if row is not None and row.disabled_at is not None:
        accepted = False
    with db.write_transaction(engine) as connection:
        if row is None or not accepted:
            users.record_failure(connection, (user_key, client_key), now, since)
            cookie = None
        else:
            users.clear_failures(connection, user_key)
            cookie = security.new_session_token()
            users.open_session(
                connection,
                security.token_hash(cookie),
                row.id,
                now,
                now + timedelta(hours=session_hours),
            )
    if cookie is None:
        raise Refusal(
            401, "nom d'utilisateur ou mot de passe incorrect", "wrong user name or password"
        )
    return cookie


def logout(engine: Engine, cookie: str | None) -> None:
    """Close the session of this cookie, if any."""
    if cookie:
        with db.write_transaction(engine) as connection:
            users.close_session(connection, security.token_hash(cookie))


def csrf_token(cookie: str) -> str:
    """The anti-forgery token of a session: derived from its secret cookie, which a page of
    another site can neither read nor guess."""
    return security.token_hash("csrf\x1f" + cookie)[:43]
