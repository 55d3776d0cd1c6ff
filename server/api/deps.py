"""What API routes share: the database, the settings, the signed-in person, error shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from pydantic import BaseModel
from sqlalchemy import Engine

from server import auth
from server.errors import Refusal
from server.settings import Settings


class FieldError(BaseModel):
    """One invalid field of a request."""

    field: str
    message: str


class ErrorOut(BaseModel):
    """Every refusal: a message for a person, and the invalid fields when there are some."""

    detail: str
    errors: list[FieldError] = []


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429, 503)
}

_MAX_ID = 2**31 - 1  # database integers are 32-bit on PostgreSQL
OrganisationPath = Annotated[int, Path(ge=1, le=_MAX_ID)]
OrganisationQuery = Annotated[int | None, Query(ge=1, le=_MAX_ID)]


def engine(request: Request) -> Engine:
    """The application's database engine."""
    made: Engine = request.app.state.engine
    return made


def settings(request: Request) -> Settings:
    """The application's settings."""
    chosen: Settings = request.app.state.settings
    return chosen


def current_user(request: Request) -> auth.User:
    """The signed-in person, or 401 (403 for an agent token, which only sends)."""
    with engine(request).connect() as connection:
        user = auth.session_user(connection, request.cookies.get(auth.SESSION_COOKIE))
    if user is not None:
        return user
    if request.headers.get("authorization"):
        raise Refusal(
            403,
            "un jeton d'agent sert seulement à envoyer des inventaires ; "
            "pour lire, connectez-vous (POST /api/v1/session)",
            "an agent token can only send inventories; sign in to read (POST /api/v1/session)",
        )
    raise Refusal(
        401,
        "connexion requise (POST /api/v1/session), ou session expirée",
        "sign-in required (POST /api/v1/session), or session expired",
    )


UserDep = Annotated[auth.User, Depends(current_user)]


def utc(value: datetime) -> datetime:
    """A database timestamp as an aware UTC datetime (SQLite returns naive ones)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
