"""Administration: organisations, their agent tokens and the users of the web interface.

These functions back `tiebreak server add-org`, `add-user` and `tokens`; tests call them directly.
Errors are AdminError with a French and an English message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, Row

from inventory import OrganisationType, siren_is_valid
from server import db, security
from server.errors import Refusal
from server.store import audit, users
from server.store import metrics as metrics_store
from server.store import organisations as org_store


class Role(StrEnum):
    """What a user may do: admin all, reviewer validate assigned organisations, viewer read."""

    ADMIN = "admin"
    REVIEWER = "reviewer"
    VIEWER = "viewer"


CLI_ACTOR = "(ligne de commande)"
"""Who the audit log names for changes made with `tiebreak server` on the server's machine."""


class AdminError(Refusal):
    """An administration request that cannot be carried out (400)."""

    def __init__(self, french: str, english: str, field: str | None = None) -> None:
        super().__init__(400, french, english, field=field)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """An agent token as an administrator sees it: never the secret."""

    prefix: str
    organisation: str
    created_at: datetime
    revoked_at: datetime | None


def _now() -> datetime:
    return datetime.now(UTC)


def find_organisation(connection: Connection, reference: str) -> Row[tuple[int, str]]:
    """The organisation whose id, SIREN or exact name is `reference`."""
    rows = org_store.by_reference(connection, reference)
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
    org_store.insert_token(connection, organisation_id, prefix, security.token_hash(token), _now())
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
        if siren is not None and org_store.siren_taken(connection, siren):
            raise AdminError(
                f"une organisation de SIREN {siren} existe déjà",
                f"an organisation with SIREN {siren} already exists",
            )
        parent_id = find_organisation(connection, parent).id if parent else None
        organisation_id = org_store.insert(connection, name, siren, kind.value, parent_id, _now())
        return organisation_id, _issue_token(connection, organisation_id)


def set_parent(engine: Engine, organisation: str, parent: str | None) -> tuple[str, str | None]:
    """Attach an organisation to a parent (a commune to its EPCI…), or detach it when `parent`
    is None; refuses a link that would make a loop. Returns both names."""
    with db.write_transaction(engine) as connection:
        child = find_organisation(connection, organisation)
        above = find_organisation(connection, parent) if parent else None
        if above is not None:

            def parent_of(organisation: int) -> int | None:
                if organisation == child.id:
                    return int(above.id)
                row = org_store.get(connection, organisation)
                return row.parent_id if row is not None else None

            loop = org_store.loop_from(parent_of, child.id)
            if loop:
                names = {row.id: row.name for row in org_store.listing(connection, only=loop)}
                path = " → ".join(names[item] for item in [*loop, child.id])
                raise AdminError(
                    f"rattachement refusé : il ferait une boucle ({path})",
                    f"link refused: it would make a loop ({path})",
                )
        current = org_store.get(connection, child.id)
        old_parent = current.parent_id if current is not None else None
        new_parent = int(above.id) if above is not None else None
        if old_parent != new_parent:
            subtree = org_store.descendants(connection, [child.id])
            metrics_store.move_subtree(connection, subtree, old_parent, new_parent)
            org_store.set_parent(connection, child.id, new_parent)
        return child.name, above.name if above is not None else None


def list_tokens(engine: Engine, organisation: str | None = None) -> list[TokenInfo]:
    """Agent tokens, oldest first, optionally of one organisation."""
    with engine.connect() as connection:
        org_id = find_organisation(connection, organisation).id if organisation else None
        return [TokenInfo(*row) for row in org_store.tokens(connection, org_id)]


def rotate_token(engine: Engine, organisation: str) -> str:
    """Revoke the organisation's active tokens and issue a new one (shown only once)."""
    with db.write_transaction(engine) as connection:
        organisation_id = find_organisation(connection, organisation).id
        org_store.revoke_tokens(connection, _now(), organisation_id=organisation_id)
        return _issue_token(connection, organisation_id)


def revoke_token(engine: Engine, prefix: str) -> None:
    """Revoke the token with this prefix."""
    with db.write_transaction(engine) as connection:
        done = org_store.revoke_tokens(connection, _now(), prefix=prefix)
    if not done:
        raise AdminError(
            f"aucun jeton actif de préfixe {prefix!r}", f"no active token with prefix {prefix!r}"
        )


MIN_PASSWORD = 12
"""Shortest password accepted for a person."""


def _check_username(username: str) -> str:
    username = username.strip()
    if not username or len(username) > 150 or not username.isprintable():
        raise AdminError(
            "nom d'utilisateur vide, trop long ou avec des caractères de contrôle",
            "user name empty, too long (150 at most) or with control characters",
        )
    return username


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AdminError(
            f"mot de passe trop court : {MIN_PASSWORD} caractères au moins",
            f"password too short: {MIN_PASSWORD} characters at least",
        )


def _organisation_ids(connection: Connection, role: Role, references: list[str]) -> set[int]:
    if role is not Role.ADMIN and not references:
        raise AdminError(
            "un relecteur ou lecteur doit être rattaché à au moins une organisation (--org)",
            "a reviewer or viewer must be assigned at least one organisation (--org)",
        )
    return {find_organisation(connection, ref).id for ref in references}


def _user(connection: Connection, username: str) -> Row[Any]:
    row = users.by_name(connection, username)
    if row is None:
        raise AdminError(f"utilisateur {username!r} introuvable", f"user {username!r} not found")
    return row


def _log(connection: Connection, actor: str, action: str, subject: str, **change: Any) -> None:
    audit.append(
        connection,
        at=_now(),
        username=actor,
        action=action,
        subject=f"user:{subject}",
        before=json.dumps(change.get("before"), ensure_ascii=False) if "before" in change else None,
        after=json.dumps(change.get("after"), ensure_ascii=False) if "after" in change else None,
    )


def create_user(
    engine: Engine,
    username: str,
    password: str,
    role: Role,
    organisations: list[str],
    actor: str = CLI_ACTOR,
) -> int:
    """Create a user; reviewers and viewers see only the organisations given and their children."""
    username = _check_username(username)
    _check_password(password)
    password_hash = security.hash_password(password)
    with db.write_transaction(engine) as connection:
        if users.by_name(connection, username) is not None:
            raise AdminError(
                f"l'utilisateur {username!r} existe déjà", f"user {username!r} already exists"
            )
        org_ids = _organisation_ids(connection, role, organisations)
        user_id = users.insert(connection, username, password_hash, role.value, _now())
        users.set_organisations(connection, user_id, org_ids)
        _log(
            connection,
            actor,
            "user.create",
            username,
            after={"role": role.value, "organisations": sorted(org_ids)},
        )
    return user_id


def list_users(engine: Engine) -> list[dict[str, Any]]:
    """Every user: name, role, creation and disabling dates, organisation names."""
    with engine.connect() as connection:
        return users.listing(connection)


def set_disabled(engine: Engine, username: str, disabled: bool, actor: str = CLI_ACTOR) -> None:
    """Disable a user (their sessions end at once) or enable them again."""
    if disabled and username == actor:
        raise AdminError(
            "vous ne pouvez pas désactiver votre propre compte",
            "you cannot disable your own account",
        )
    with db.write_transaction(engine) as connection:
        row = _user(connection, username)
        users.update_user(connection, row.id, disabled_at=_now() if disabled else None)
        if disabled:
            users.close_sessions(connection, row.id)
        _log(
            connection,
            actor,
            "user.disable" if disabled else "user.enable",
            username,
            before={"disabled": row.disabled_at is not None},
            after={"disabled": disabled},
        )


def delete_user(engine: Engine, username: str, actor: str = CLI_ACTOR) -> None:
    """Delete a user; their decisions and the audit log keep their name."""
    with db.write_transaction(engine) as connection:
        row = _user(connection, username)
        if row.username == actor:
            raise AdminError(
                "vous ne pouvez pas supprimer votre propre compte",
                "you cannot delete your own account",
            )
        users.delete_user(connection, row.id)
        _log(connection, actor, "user.delete", username, before={"role": row.role})


def reset_password(engine: Engine, username: str, password: str, actor: str = CLI_ACTOR) -> None:
    """Set a new password; the user's open sessions end."""
    _check_password(password)
    password_hash = security.hash_password(password)
    with db.write_transaction(engine) as connection:
        row = _user(connection, username)
        users.update_user(connection, row.id, password_hash=password_hash)
        users.close_sessions(connection, row.id)
        _log(connection, actor, "user.password", username)


def assign(
    engine: Engine,
    username: str,
    role: Role,
    organisations: list[str],
    actor: str = CLI_ACTOR,
) -> None:
    """Set a user's role and organisations (replacing the previous ones)."""
    if username == actor and role is not Role.ADMIN:
        raise AdminError(
            "vous ne pouvez pas retirer votre propre rôle d'administrateur",
            "you cannot remove your own administrator role",
        )
    with db.write_transaction(engine) as connection:
        row = _user(connection, username)
        org_ids = _organisation_ids(connection, role, organisations)
        before = {"role": row.role, "organisations": sorted(users.assigned(connection, row.id))}
        users.update_user(connection, row.id, role=role.value)
        users.set_organisations(connection, row.id, org_ids)
        _log(
            connection,
            actor,
            "user.assign",
            username,
            before=before,
            after={"role": role.value, "organisations": sorted(org_ids)},
        )
