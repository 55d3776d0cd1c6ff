"""Secrets: agent tokens, session tokens and user passwords.

An agent token is `tbk_<prefix>_<secret>`: the 8-character prefix is stored in clear so that an
administrator can tell tokens apart, the whole token only as a SHA-256 hash (it has 256 bits of
entropy, so a slow hash would add nothing) compared in constant time. Passwords, which people
choose, are hashed with argon2.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

TOKEN_PREFIX = "tbk_"  # noqa: S105 (a marker, not a secret)

_hasher = PasswordHasher()


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


# Verifying against this hash when the user does not exist takes as long as a real check, so the
# response time does not tell which user names exist.
DUMMY_PASSWORD_HASH = hash_password(secrets.token_urlsafe(16))
