"""Administration pages: users (create, disable, delete, reset password, assign organisations)
and the audit log with its export. Administrators only: for anyone else these pages do not exist
(404, as an unknown address).

Every form posts back with the anti-forgery token; a valid post redirects to the users page with
a notice (so reloading never posts twice), an invalid one shows the page again with status 422,
the message beside the field and the values typed kept (never the password). Changes go through
`server.admin`, which writes the audit log in the same transaction, naming the signed-in admin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from server import admin
from server.admin import AdminError, Role
from server.api import deps
from server.auth import User
from server.errors import Refusal
from server.exports import audit_csv_chunks
from server.store import audit, organisations, users
from server.web.forms import WebUser, checked_form, text_fields
from server.web.render import english, render, translator

router = APIRouter(include_in_schema=False)

USERS_PAGE = "/admin/utilisateurs"
JOURNAL_SHOWN = 200
"""How many audit entries the journal page shows (the newest); the CSV export has them all."""

ROLES = tuple(role.value for role in Role)


def _require_admin(user: User) -> None:
    """Anyone but an administrator is told the page does not exist."""
    if user.role is not Role.ADMIN:
        raise Refusal(404, "adresse inconnue", "no such address")


def _notices(request: Request) -> dict[str, str]:
    t = translator(request)
    return {
        "cree": t("Utilisateur créé.", "User created."),
        "desactive": t(
            "Utilisateur désactivé : ses sessions sont fermées.",
            "User disabled: their sessions are closed.",
        ),
        "active": t("Utilisateur réactivé.", "User enabled."),
        "supprime": t("Utilisateur supprimé.", "User deleted."),
        "mot-de-passe": t(
            "Mot de passe changé : les sessions de l'utilisateur sont fermées.",
            "Password changed: the user's sessions are closed.",
        ),
        "attribue": t("Rôle et organisations enregistrés.", "Role and organisations saved."),
    }


def _users_page(
    request: Request,
    user: User,
    *,
    form_name: str = "",
    errors: Mapping[str, tuple[str, str]] | None = None,
    form: Mapping[str, Any] | None = None,
    status: int = 200,
    notice: str | None = None,
) -> HTMLResponse:
    with deps.engine(request).connect() as connection:
        people = users.listing(connection)
        for person in people:
            person["organisation_ids"] = users.assigned(connection, person["id"])
        choices = organisations.listing(connection)
    english_reader = english(request)
    return render(
        request,
        "admin_users.html",
        {
            "people": people,
            "organisations": choices,
            "roles": ROLES,
            "min_password": admin.MIN_PASSWORD,
            "form_name": form_name,
            "errors": {name: pair[english_reader] for name, pair in (errors or {}).items()},
            "form": form or {},
            "notice": notice,
        },
        status=status,
        user=user,
    )


@router.get(USERS_PAGE, response_class=HTMLResponse)
def users_page(request: Request, user: WebUser, fait: str = "") -> HTMLResponse:
    """Every user, with the forms to change them, and the form to create one."""
    _require_admin(user)
    return _users_page(request, user, notice=_notices(request).get(fait))


def _invalid(field: str, french: str, english: str) -> AdminError:
    """A form value refused before reaching `server.admin`, naming its field."""
    return AdminError(french, english, field=field)


def _role(form: Mapping[str, str]) -> Role:
    value = form.get("role", "")
    if value not in ROLES:
        raise _invalid("role", "choisissez un rôle", "pick a role")
    return Role(value)


def _password(form: Mapping[str, str]) -> str:
    password = form.get("password", "")
    if len(password) < admin.MIN_PASSWORD:
        raise _invalid(
            "password",
            f"mot de passe trop court : {admin.MIN_PASSWORD} caractères au moins",
            f"password too short: {admin.MIN_PASSWORD} characters at least",
        )
    if len(password) > 1024:
        raise _invalid(
            "password",
            "mot de passe trop long : 1024 caractères au plus",
            "password too long: 1024 characters at most",
        )
    return password


def _chosen(form: FormData) -> list[str]:
    return [value for value in form.getlist("organisations") if isinstance(value, str)]


def _organisations(engine: Engine, form: FormData, role: Role) -> list[str]:
    """The organisations chosen (their numbers), each of them known."""
    chosen = _chosen(form)
    with engine.connect() as connection:
        known = {str(row.id) for row in organisations.listing(connection)}
    if any(value not in known for value in chosen):
        raise _invalid("organisations", "organisation inconnue", "unknown organisation")
    if role is not Role.ADMIN and not chosen:
        raise _invalid(
            "organisations",
            "un relecteur ou un lecteur doit suivre au moins une organisation",
            "a reviewer or viewer must be assigned at least one organisation",
        )
    return chosen


async def _change(
    request: Request,
    user: User,
    form_name: Callable[[Mapping[str, str]], str],
    default_field: str,
    done: str,
    act: Callable[[FormData, Mapping[str, str]], None],
) -> Response:
    """Check the form, carry out the change, and redirect; or show the page again with the
    message beside its field."""
    _require_admin(user)
    raw = await checked_form(request)
    form = text_fields(raw)
    try:
        await run_in_threadpool(act, raw, form)
    except AdminError as problem:
        field = problem.field or default_field
        kept: dict[str, Any] = {name: value for name, value in form.items() if name != "password"}
        kept["organisations"] = _chosen(raw)
        return _users_page(
            request,
            user,
            form_name=form_name(form),
            errors={field: (problem.french, problem.english)},
            form=kept,
            status=422,
        )
    return RedirectResponse(f"{USERS_PAGE}?fait={done}", status_code=303)


def _target(form: Mapping[str, str]) -> str:
    """The user a per-user form is about."""
    return form.get("utilisateur", "")


def _per_user(form: Mapping[str, str]) -> str:
    return "u:" + _target(form)


@router.post(USERS_PAGE + "/creer")
async def create(request: Request, user: WebUser) -> Response:
    """Create a user."""
    engine = deps.engine(request)

    def act(raw: FormData, form: Mapping[str, str]) -> None:
        role = _role(form)
        chosen = _organisations(engine, raw, role)
        password = _password(form)
        admin.create_user(
            engine, form.get("username", ""), password, role, chosen, actor=user.username
        )

    return await _change(request, user, lambda _form: "creer", "username", "cree", act)


@router.post(USERS_PAGE + "/desactiver")
async def disable(request: Request, user: WebUser) -> Response:
    """Disable a user: their sessions end at once."""
    engine = deps.engine(request)

    def act(_raw: FormData, form: Mapping[str, str]) -> None:
        target = _target(form)
        if target == user.username:
            raise _invalid(
                "utilisateur",
                "vous ne pouvez pas désactiver votre propre compte",
                "you cannot disable your own account",
            )
        admin.set_disabled(engine, target, True, actor=user.username)

    return await _change(request, user, _per_user, "utilisateur", "desactive", act)


@router.post(USERS_PAGE + "/activer")
async def enable(request: Request, user: WebUser) -> Response:
    """Enable a disabled user again."""
    engine = deps.engine(request)

    def act(_raw: FormData, form: Mapping[str, str]) -> None:
        admin.set_disabled(engine, _target(form), False, actor=user.username)

    return await _change(request, user, _per_user, "utilisateur", "active", act)


@router.post(USERS_PAGE + "/supprimer")
async def delete(request: Request, user: WebUser) -> Response:
    """Delete a user (the confirmation box must be ticked)."""
    engine = deps.engine(request)

    def act(_raw: FormData, form: Mapping[str, str]) -> None:
        if form.get("confirm") != "oui":
            raise _invalid(
                "confirm",
                "cochez la case pour confirmer la suppression",
                "tick the box to confirm the deletion",
            )
        admin.delete_user(engine, _target(form), actor=user.username)

    return await _change(request, user, _per_user, "utilisateur", "supprime", act)


@router.post(USERS_PAGE + "/mot-de-passe")
async def new_password(request: Request, user: WebUser) -> Response:
    """Set a new password for a user; their sessions end."""
    engine = deps.engine(request)

    def act(_raw: FormData, form: Mapping[str, str]) -> None:
        password = _password(form)
        admin.reset_password(engine, _target(form), password, actor=user.username)

    return await _change(request, user, _per_user, "utilisateur", "mot-de-passe", act)


@router.post(USERS_PAGE + "/attribuer")
async def assign(request: Request, user: WebUser) -> Response:
    """Set a user's role and organisations."""
    engine = deps.engine(request)

    def act(raw: FormData, form: Mapping[str, str]) -> None:
        target, role = _target(form), _role(form)
        chosen = _organisations(engine, raw, role)
        if target == user.username and role is not Role.ADMIN:
            raise _invalid(
                "role",
                "vous ne pouvez pas retirer votre propre rôle d'administrateur",
                "you cannot remove your own administrator role",
            )
        admin.assign(engine, target, role, chosen, actor=user.username)

    return await _change(request, user, _per_user, "utilisateur", "attribue", act)


@router.get("/admin/journal", response_class=HTMLResponse)
def journal(request: Request, user: WebUser) -> HTMLResponse:
    """The newest entries of the audit log."""
    _require_admin(user)
    with deps.engine(request).connect() as connection:
        entries = audit.latest(connection, JOURNAL_SHOWN)
    return render(request, "audit.html", {"entries": entries, "shown": JOURNAL_SHOWN}, user=user)


@router.get("/admin/journal.csv")
def journal_csv(request: Request, user: WebUser) -> Response:
    """The whole audit log as CSV, streamed."""
    _require_admin(user)
    engine = deps.engine(request)

    def chunks() -> Iterator[str]:
        with engine.connect() as connection:
            yield from audit_csv_chunks(audit.every(connection))

    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="tiebreak-journal.csv"'},
    )
