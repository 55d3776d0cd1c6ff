"""Administration: organisations, their agent tokens and the users of the web interface.

These functions back `tiebreak server add-org`, `add-user` and `tokens`; tests call them directly.
Errors are AdminError with a French and an English message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, Row, select, update

from inventory import OrganisationType, siren_is_valid
from server import db, security


class Role(StrEnum):
    """What a user may do: admin all, reviewer validate assigned organisations, viewer read."""

    ADMIN = "admin"
    REVIEWER = "reviewer"
    VIEWER = "viewer"


class AdminError(Exception):
    """An administration request that cannot be carried out."""

    def __init__(self, french: str, english: str) -> None:
        super().__init__(french)
        self.french = french
        self.english = english


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """An agent token as an administrator sees it: never the secret."""

    prefix: str
    organisation: str
    created_at: datetime
    revoked_at: datetime | None


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id(key: Any) -> int:
    return int(key[0])


def find_organisation(connection: Connection, reference: str) -> Row[tuple[int, str]]:
    """The organisation whose id, SIREN or exact name is `reference`."""
    table = db.organisations
    query = select(table.c.id, table.c.name)
    if reference.isdigit() and len(reference) == 9:
        query = query.where(table.c.siren == reference)
    elif reference.isdigit():
        query = query.where(table.c.id == int(reference))
    else:
        query = query.where(table.c.name == reference)
    rows = connection.execute(query).all()
    if len(rows) != 1:
        many = len(rows) > 1
        raise AdminError(
            f"organisation {reference!r} "
            + ("ambiguë : donnez son SIREN ou son numéro" if many else "introuvable"),
            f"organisation {reference!r} "
            + ("is ambiguous: give its SIREN or number" if many else "not found"),
        )
    return rows[0]


def _issue_token(connection: Connection, organisation_id: int) -> str:
    token, prefix = security.new_agent_token()
    connection.execute(
        db.agent_tokens.insert().values(
            organisation_id=organisation_id,
            prefix=prefix,
            token_hash=security.token_hash(token),
            created_at=_now(),
        )
    )
    return token


def create_organisation(
    engine: Engine,
    name: str,
    siren: str | None = None,
    kind: OrganisationType = OrganisationType.COMMUNE,
    parent: str | None = None,
) -> tuple[int, str]:
    """Create an organisation; return its id and its first agent token (shown only once)."""
    name = name.strip()
    if not name or len(name) > 300:
        raise AdminError(
            "nom d'organisation vide ou trop long (300 caractères au plus)",
            "organisation name empty or too long (300 characters at most)",
        )
    if siren is not None:
        siren = siren.replace(" ", "")
        if not siren_is_valid(siren):
            raise AdminError(
                f"SIREN invalide {siren!r} : 9 chiffres avec une clé de Luhn correcte",
                f"invalid SIREN {siren!r}: 9 digits with a valid Luhn key",
            )
    with db.write_transaction(engine) as connection:
        if siren is not None and connection.scalar(
            select(db.organisations.c.id).where(db.organisations.c.siren == siren)
        ):
            raise AdminError(
                f"une organisation de SIREN {siren} existe déjà",
                f"an organisation with SIREN {siren} already exists",
            )
        parent_id = find_organisation(connection, parent).id if parent else None
        inserted = connection.execute(
            db.organisations.insert().values(
                name=name, siren=siren, type=kind.value, parent_id=parent_id, created_at=_now()
            )
        )
        organisation_id = int(_new_id(inserted.inserted_primary_key))
        return organisation_id, _issue_token(connection, organisation_id)


def list_tokens(engine: Engine, organisation: str | None = None) -> list[TokenInfo]:
    """Agent tokens, oldest first, optionally of one organisation."""
    tokens, orgs = db.agent_tokens, db.organisations
    query = (
        select(tokens.c.prefix, orgs.c.name, tokens.c.created_at, tokens.c.revoked_at)
        .join(orgs, orgs.c.id == tokens.c.organisation_id)
        .order_by(tokens.c.id)
    )
    with engine.connect() as connection:
        if organisation is not None:
            query = query.where(orgs.c.id == find_organisation(connection, organisation).id)
        return [TokenInfo(*row) for row in connection.execute(query)]


def rotate_token(engine: Engine, organisation: str) -> str:
    """Revoke the organisation's active tokens and issue a new one (shown only once)."""
    with db.write_transaction(engine) as connection:
        organisation_id = find_organisation(connection, organisation).id
        connection.execute(
            update(db.agent_tokens)
            .where(db.agent_tokens.c.organisation_id == organisation_id)
            .where(db.agent_tokens.c.revoked_at.is_(None))
            .values(revoked_at=_now())
        )
        return _issue_token(connection, organisation_id)


def revoke_token(engine: Engine, prefix: str) -> None:
    """Revoke the token with this prefix."""
    with db.write_transaction(engine) as connection:
        done = connection.execute(
            update(db.agent_tokens)
            .where(db.agent_tokens.c.prefix == prefix)
            .where(db.agent_tokens.c.revoked_at.is_(None))
            .values(revoked_at=_now())
        ).rowcount
    if not done:
        raise AdminError(
            f"aucun jeton actif de préfixe {prefix!r}", f"no active token with prefix {prefix!r}"
        )


def create_user(
    engine: Engine, username: str, password: str, role: Role, organisations: list[str]
) -> int:
    """Create a user; reviewers and viewers see only the organisations given and their children."""
    username = username.strip()
    if not username or len(username) > 150 or not username.isprintable():
        raise AdminError(
            "nom d'utilisateur vide, trop long ou avec des caractères de contrôle",
            "user name empty, too long (150 at most) or with control characters",
        )
    if len(password) < 12:
        raise AdminError(
            "mot de passe trop court : 12 caractères au moins",
            "password too short: 12 characters at least",
        )
    if role is not Role.ADMIN and not organisations:
        raise AdminError(
            "un relecteur ou lecteur doit être rattaché à au moins une organisation (--org)",
            "a reviewer or viewer must be assigned at least one organisation (--org)",
        )
    password_hash = security.hash_password(password)
    with db.write_transaction(engine) as connection:
        if connection.scalar(select(db.users.c.id).where(db.users.c.username == username)):
            raise AdminError(
                f"l'utilisateur {username!r} existe déjà", f"user {username!r} already exists"
            )
        org_ids = {find_organisation(connection, ref).id for ref in organisations}
        inserted = connection.execute(
            db.users.insert().values(
                username=username, password_hash=password_hash, role=role.value, created_at=_now()
            )
        )
        user_id = _new_id(inserted.inserted_primary_key)
        for org_id in sorted(org_ids):
            connection.execute(
                db.user_organisations.insert().values(user_id=user_id, organisation_id=org_id)
            )
    return user_id
