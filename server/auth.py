"""Who is calling: an agent with its token, or a person with a session cookie.

Agents may only send inventories; people read, and reviewers and administrators validate. A
reviewer or viewer sees the organisations assigned to them and those below them (the communes of
a métropole); an administrator sees everything. Something a caller may not see does not exist for
them: 404, never 403, so that identifiers of other organisations cannot be probed.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool

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


ADDRESS_FACTOR = 4
"""An address may fail this many times `attempts` over the window, across user names."""


def _retry(seconds: float) -> Refusal:
    wait = max(1, math.ceil(seconds))
    return Refusal(
        429,
        f"trop de tentatives de connexion : réessayez dans {wait} secondes",
        f"too many login attempts: try again in {wait} seconds",
        headers={"Retry-After": str(wait)},
    )


@dataclass(frozen=True, slots=True)
class _Attempt:
    keys: tuple[str, str]
    reserved: list[int]
    user: Any


def _reserve(
    engine: Engine, username: str, client: str, now: datetime, attempts: int, window_s: int
) -> _Attempt:
    """Refuse an attempt that comes too soon, else count it as failed before it is checked.

    Failures count per (user name, client address) pair and per address. Past `attempts`
    failures of a pair over the window, the pair waits 2, 4, 8… seconds (up to the window)
    after its last failure: an attacker slows down to a crawl while the owner, from their own
    address, still signs in. Past `ADDRESS_FACTOR * attempts` failures of an address across
    user names, that address waits until the oldest of them leaves the window. Counting and
    reserving happen in one serialised write transaction, so that a hundred attempts at once
    get exactly as many checks as one after the other.
    """
    pair = hashlib.sha256(f"{username}\x1f{client}".encode("utf-8", "surrogatepass")).hexdigest()
    pair_key, address_key = f"pair:{pair}", f"ip:{client[:150]}"
    since = now - timedelta(seconds=window_s)
    address_limit = ADDRESS_FACTOR * attempts
    with db.write_transaction(engine) as connection:
        users.lock_failures(connection)
        times = users.failure_times(connection, (pair_key, address_key), since)
        failures = times[pair_key]
        if len(failures) >= attempts:
            delay = min(2 ** (len(failures) - attempts + 1), window_s)
            wait = (failures[-1] + timedelta(seconds=delay) - now).total_seconds()
            if wait > 0:
                raise _retry(wait)
        failures = times[address_key]
        if len(failures) >= address_limit:
            oldest = failures[len(failures) - address_limit]
            raise _retry((oldest + timedelta(seconds=window_s) - now).total_seconds())
        reserved = users.reserve_failures(connection, (pair_key, address_key), now, since)
        user = users.by_name(connection, username)
    return _Attempt((pair_key, address_key), reserved, user)


def _conclude(
    engine: Engine, attempt: _Attempt, password: str, now: datetime, session_hours: int
) -> str:
    """Take back the reserved failure and open a session; upgrade an old password hash."""
    row = attempt.user
    cookie = security.new_session_token()
    with db.write_transaction(engine) as connection:
        users.clear_failures(connection, attempt.keys[0])
        users.release_failures(connection, attempt.reserved)
        if security.needs_rehash(row.password_hash):
            users.update_user(connection, row.id, password_hash=security.hash_password(password))
        users.open_session(
            connection,
            security.token_hash(cookie),
            row.id,
            now,
            now + timedelta(hours=session_hours),
        )
    return cookie


def _release(engine: Engine, attempt: _Attempt) -> None:
    with db.write_transaction(engine) as connection:
        users.release_failures(connection, attempt.reserved)


async def login(
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

    The whole sign-in waits for one of the few sign-in slots (`security.sign_in_slot`; 503
    when none frees up in time); see `_reserve` for the throttling (429). The password check
    runs outside any transaction: it is slow on purpose and must not hold a lock. A disabled
    user is refused like a wrong password, so that the answer does not tell which accounts
    exist.
    """
    try:
        async with security.sign_in_slot():
            return await _login(
                engine, username, password, client, attempts, window_s, session_hours
            )
    except security.Busy:
        raise Refusal(
            503,
            "serveur occupé par d'autres connexions : réessayez dans quelques secondes",
            "server busy with other sign-ins: try again in a few seconds",
            headers={"Retry-After": "5"},
        ) from None


async def _login(
    engine: Engine,
    username: str,
    password: str,
    client: str,
    attempts: int,
    window_s: int,
    session_hours: int,
) -> str:
    now = datetime.now(UTC)
    attempt = await run_in_threadpool(_reserve, engine, username, client, now, attempts, window_s)
    row = attempt.user
    stored = row.password_hash if row is not None else security.DUMMY_PASSWORD_HASH
    try:
        accepted = await security.check_password_async(stored, password)
    except BaseException:
        await run_in_threadpool(_release, engine, attempt)
        raise
    if row is None or row.disabled_at is not None or not accepted:
        raise Refusal(
            401, "nom d'utilisateur ou mot de passe incorrect", "wrong user name or password"
        )
    return await run_in_threadpool(_conclude, engine, attempt, password, now, session_hours)


def client_address(peer: str, forwarded_for: str | None, trusted: Sequence[str]) -> str:
    """The client's address: the peer's, or when the peer is a trusted proxy the right-most
    address of X-Forwarded-For that is not itself a trusted proxy.

    Without trusted proxies (the default) X-Forwarded-For is ignored: anyone can write it.
    """
    networks = _networks(tuple(trusted))
    if not forwarded_for or not _trusted(peer, networks):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop[:100]
    return hops[0][:100] if hops else peer


def forwarded_https(peer: str, forwarded_proto: str | None, trusted: Sequence[str]) -> bool:
    """True when a trusted proxy says, in X-Forwarded-Proto, that the client used HTTPS."""
    if not forwarded_proto or not _trusted(peer, _networks(tuple(trusted))):
        return False
    return forwarded_proto.split(",")[-1].strip().lower() == "https"


@functools.lru_cache(maxsize=8)
def _networks(
    trusted: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in trusted)


def _trusted(
    address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return False
    return any(ip in network for network in networks)


def logout(engine: Engine, cookie: str | None) -> None:
    """Close the session of this cookie, if any."""
    if cookie:
        with db.write_transaction(engine) as connection:
            users.close_session(connection, security.token_hash(cookie))


def csrf_token(cookie: str) -> str:
    """The anti-forgery token of a session: derived from its secret cookie, which a page of
    another site can neither read nor guess."""
    return security.token_hash("csrf\x1f" + cookie)[:43]
