"""Secrets: agent tokens, session tokens and user passwords.

An agent token is `tbk_<prefix>_<secret>`: the 8-character prefix is stored in clear so that an
administrator can tell tokens apart, the whole token only as a SHA-256 hash (it has 256 bits of
entropy, so a slow hash would add nothing) compared in constant time. Passwords, which people
choose, are hashed with argon2.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

TOKEN_PREFIX = "tbk_"  # noqa: S105 (a marker, not a secret)

# argon2id with 19 MiB of memory, 2 iterations, 1 degree of parallelism: the first of the
# equivalent minimum configurations of OWASP's Password Storage Cheat Sheet ("Use Argon2id with a
# minimum configuration of 19 MiB of memory, an iteration count of 2, and 1 degree of
# parallelism", https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html).
# About 30 ms and 19 MiB per check, where argon2-cffi's default (RFC 9106 low-memory: 64 MiB,
# t=3, p=4) took 240 ms and 64 MiB: forty concurrent sign-ins then needed 2.5 GiB.
ARGON2_TIME_COST, ARGON2_MEMORY_KIB, ARGON2_PARALLELISM = 2, 19 * 1024, 1

_hasher = PasswordHasher(
    time_cost=ARGON2_TIME_COST,
    memory_cost=ARGON2_MEMORY_KIB,
    parallelism=ARGON2_PARALLELISM,
    type=Type.ID,
)

PASSWORD_CHECK_SLOTS = max(2, min(4, (os.cpu_count() or 2) // 2))
"""How many sign-ins (and so password checks) run at once in a serving process: half the cores,
2 to 4, so that a storm of sign-ins never takes the CPU, the memory or the threads that
ingestion and the health check need (each check holds 19 MiB)."""

PASSWORD_CHECK_WAIT_S = 5.0
"""How long a sign-in waits for a free slot before the server answers 503 (busy)."""

_slots = threading.BoundedSemaphore(PASSWORD_CHECK_SLOTS)
# Checks run in threads of their own: the memory argon2 frees stays in these few threads' malloc
# arenas instead of spreading over every thread of the server's pool.
_checkers = ThreadPoolExecutor(PASSWORD_CHECK_SLOTS, thread_name_prefix="password-check")


class Busy(Exception):
    """No password check slot became free in time."""


def new_agent_token() -> tuple[str, str]:
    """A fresh agent token and its public prefix."""
    prefix = secrets.token_hex(4)
    return f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}", prefix


def token_prefix(token: str) -> str | None:
    """The public prefix of a well-formed agent token, None if it is not one."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    prefix, _, secret = token.removeprefix(TOKEN_PREFIX).partition("_")
    if len(prefix) != 8 or not secret:
        return None
    return prefix


def token_hash(token: str) -> str:
    """SHA-256 of a high-entropy token (agent or session), hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def same_hash(left: str, right: str) -> bool:
    """Constant-time comparison of two hashes."""
    return hmac.compare_digest(left.encode(), right.encode())


def new_session_token() -> str:
    """A fresh session cookie value."""
    return secrets.token_urlsafe(32)


def hash_password(password: str) -> str:
    """The argon2 hash of `password`."""
    return _hasher.hash(password)


def check_password(stored: str, password: str) -> bool:
    """True when `password` matches the stored argon2 hash."""
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """True when a stored hash was made with other parameters than today's (or is not argon2)."""
    try:
        return _hasher.check_needs_rehash(stored)
    except (InvalidHashError, ValueError):
        return True


@asynccontextmanager
async def sign_in_slot() -> AsyncIterator[None]:
    """One of the few sign-in slots of this process, for the whole of a sign-in (its
    bookkeeping transactions and its password check); `Busy` past `PASSWORD_CHECK_WAIT_S`.

    Waiting happens on the event loop, not in a worker thread, so that sign-ins queued behind
    the slots take none of the threads that ingestion and the health check need (a hundred
    threads queueing on SQLite's write lock or on argon2 did).
    """
    deadline = time.monotonic() + PASSWORD_CHECK_WAIT_S
    pause = 0.002
    while not _slots.acquire(blocking=False):
        if time.monotonic() >= deadline:
            raise Busy
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.05)
    try:
        yield
    finally:
        _slots.release()


async def check_password_async(stored: str, password: str) -> bool:
    """`check_password` in one of the password-checking threads (call it in a sign-in slot)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_checkers, check_password, stored, password)


# Verifying against this hash when the user does not exist takes as long as a real check, so the
# response time does not tell which user names exist.
DUMMY_PASSWORD_HASH = hash_password(secrets.token_urlsafe(16))
