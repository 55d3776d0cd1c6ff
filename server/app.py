"""The HTTP API of the central server (FastAPI), versioned under /api/v1.

Agents send inventories with their token; people sign in and read what their role lets them see.
Every refusal answers `{"detail": "..."}` in French, or in English with `Accept-Language: en`,
plus `errors` (field, message) for an invalid inventory. The OpenAPI description is at
/api/v1/openapi.json and browsable at /api/v1/docs.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from inventory import Inventory
from server import auth, db, ingest, migrations
from server.admin import Role
from server.i18n import say
from server.settings import Settings

try:
    __version__ = version("tiebreak")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"


class ApiError(Exception):
    """A refusal with its HTTP status, in French and English."""

    def __init__(
        self,
        status: int,
        french: str,
        english: str,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(french)
        self.status, self.french, self.english = status, french, english
        self.errors = errors or []
        self.headers = headers


class FieldError(BaseModel):
    """One invalid field of a request."""

    field: str
    message: str


class ErrorOut(BaseModel):
    """Every refusal: a message for a person, and the invalid fields when there are some."""

    detail: str
    errors: list[FieldError] = []


class ReceiptOut(BaseModel):
    """Answer to an accepted inventory; a resend gets exactly the same answer."""

    id: str
    organisation_id: int
    received_at: datetime
    findings: int
    observations: int
    url: str


class OrganisationOut(BaseModel):
    """An organisation (collectivité)."""

    id: int
    name: str
    siren: str | None
    type: str
    parent_id: int | None


class InventoryMeta(BaseModel):
    """What the server knows about a received inventory, without its content."""

    id: str
    organisation_id: int
    status: str
    received_at: datetime
    started_at: datetime
    finished_at: datetime
    agent_hostname: str
    findings: int
    observations: int


class InventoryOut(InventoryMeta):
    """A received inventory with the document exactly as the agent sent it."""

    document: dict[str, Any]


class LoginIn(BaseModel):
    """Credentials of a person."""

    # No control characters: a user name never has one, and PostgreSQL text refuses NUL.
    username: str = Field(min_length=1, max_length=150, pattern=r"^[^\x00-\x1f\x7f]+$")
    password: str = Field(min_length=1, max_length=1024)


class SessionOut(BaseModel):
    """The signed-in person; `organisations` is null for an administrator (all of them)."""

    username: str
    role: Role
    organisations: list[int] | None


class ReviewIn(BaseModel):
    """A reviewer's decision on a whole inventory."""

    status: Literal["draft", "validated", "rejected"]


class HealthOut(BaseModel):
    """The server answers and its database too."""

    status: Literal["ok"]
    version: str


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429, 503)
}


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def current_user(request: Request) -> auth.User:
    """The signed-in person, or 401 (403 for an agent token, which only sends)."""
    with _engine(request).connect() as connection:
        user = auth.session_user(connection, request.cookies.get(auth.SESSION_COOKIE))
    if user is not None:
        return user
    if request.headers.get("authorization"):
        raise ApiError(
            403,
            "un jeton d'agent sert seulement à envoyer des inventaires ; "
            "pour lire, connectez-vous (POST /api/v1/session)",
            "an agent token can only send inventories; sign in to read (POST /api/v1/session)",
        )
    raise ApiError(
        401,
        "connexion requise (POST /api/v1/session), ou session expirée",
        "sign-in required (POST /api/v1/session), or session expired",
    )


UserDep = Annotated[auth.User, Depends(current_user)]
_MAX_ID = 2**31 - 1  # database integers are 32-bit on PostgreSQL
OrganisationPath = Annotated[int, Path(ge=1, le=_MAX_ID)]
OrganisationQuery = Annotated[int | None, Query(ge=1, le=_MAX_ID)]

_NOT_FOUND_INVENTORY = ("inventaire introuvable", "inventory not found")
_NOT_FOUND_ORGANISATION = ("organisation introuvable", "organisation not found")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_META_COLUMNS = (
    db.inventories.c.id,
    db.inventories.c.organisation_id,
    db.inventories.c.status,
    db.inventories.c.received_at,
    db.inventories.c.started_at,
    db.inventories.c.finished_at,
    db.inventories.c.agent_hostname,
    db.inventories.c.findings_count,
    db.inventories.c.observations_count,
)


def _meta(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "organisation_id": row.organisation_id,
        "status": row.status,
        "received_at": _utc(row.received_at),
        "started_at": _utc(row.started_at),
        "finished_at": _utc(row.finished_at),
        "agent_hostname": row.agent_hostname,
        "findings": row.findings_count,
        "observations": row.observations_count,
    }


def _visible_inventory(request: Request, user: auth.User, inventory_id: uuid.UUID) -> Any:
    with _engine(request).connect() as connection:
        row = connection.execute(
            select(*_META_COLUMNS, db.inventories.c.document).where(
                db.inventories.c.id == str(inventory_id)
            )
        ).first()
    if row is None or not user.sees(row.organisation_id):
        raise ApiError(404, *_NOT_FOUND_INVENTORY)
    return row


def _organisation_out(row: Any) -> OrganisationOut:
    return OrganisationOut(
        id=row.id, name=row.name, siren=row.siren, type=row.type, parent_id=row.parent_id
    )


def _register_errors(app: FastAPI) -> None:
    def answer(request: Request, error: ApiError) -> JSONResponse:
        body: dict[str, Any] = {"detail": say(request, error.french, error.english)}
        if error.errors:
            body["errors"] = error.errors
        return JSONResponse(body, status_code=error.status, headers=error.headers)

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return answer(request, exc)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {
                "field": ".".join(str(p) for p in e["loc"] if p != "body") or "(corps)",
                "message": str(e["msg"]),
            }
            for e in exc.errors()
        ]
        names = ", ".join(e["field"] for e in errors[:5])
        return answer(
            request,
            ApiError(
                422,
                f"requête invalide, champ(s) {names} : {errors[0]['message']}",
                f"invalid request, field(s) {names}: {errors[0]['message']}",
                errors,
            ),
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        messages = {
            404: ("adresse inconnue", "no such address"),
            405: ("méthode non autorisée sur cette adresse", "method not allowed here"),
        }
        french, english = messages.get(exc.status_code, (str(exc.detail), str(exc.detail)))
        headers = dict(exc.headers) if exc.headers else None
        return answer(request, ApiError(exc.status_code, french, english, headers=headers))

    async def on_database_busy(request: Request, exc: Exception) -> JSONResponse:
        return answer(
            request,
            ApiError(
                503,
                "base de données momentanément indisponible : réessayez dans une minute "
                "(rien n'a été enregistré)",
                "database momentarily unavailable: retry in a minute (nothing was stored)",
                headers={"Retry-After": "60"},
            ),
        )

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(OperationalError, on_database_busy)
    app.add_exception_handler(PoolTimeoutError, on_database_busy)


def _document_openapi(app: FastAPI) -> None:
    """Describe the inventory body, which the route reads itself to enforce size limits."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            inventory_schema = Inventory.model_json_schema(
                by_alias=True, ref_template="#/components/schemas/{model}"
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(inventory_schema.pop("$defs", {}))
            components["Inventory"] = inventory_schema
            post = schema["paths"]["/api/v1/inventories"]["post"]
            post["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Inventory"}}
                },
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings, engine: Engine | None = None) -> FastAPI:
    """The web application on the settings' database, migrated to the latest schema."""
    engine = engine or db.make_engine(settings.database_url)
    migrations.migrate(engine)
    app = FastAPI(
        title="tiebreak",
        version=__version__,
        description=(
            "Serveur central tiebreak : reçoit les inventaires des agents et les donne à lire et "
            "valider. Central tiebreak server: receives agents' inventories for review."
        ),
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.settings = settings
    _register_errors(app)
    _document_openapi(app)

    @app.get("/api/v1/health", response_model=HealthOut, tags=["système"])
    def health(request: Request) -> HealthOut:
        """The server and its database answer."""
        with _engine(request).connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        return HealthOut(status="ok", version=__version__)

    @app.post(
        "/api/v1/inventories",
        status_code=201,
        response_model=ReceiptOut,
        responses=ERRORS,
        tags=["agents"],
        summary="Envoyer un inventaire (jeton d'agent) / send an inventory (agent token)",
    )
    async def receive_inventory(request: Request) -> JSONResponse:
        """Store a draft inventory of the token's organisation; idempotent on its id.

        JSON body, optionally `Content-Encoding: gzip`. A resend of an inventory already received
        answers as the first time and stores nothing.
        """
        engine, limits = _engine(request), _settings(request)
        try:
            organisation = await run_in_threadpool(
                _authenticate_agent, engine, request.headers.get("authorization")
            )
            content_type = request.headers.get("content-type", "application/json")
            if content_type.split(";")[0].strip().lower() != "application/json":
                raise ingest.IngestError(
                    415,
                    "type de contenu attendu : application/json",
                    "expected content type: application/json",
                )
            length = request.headers.get("content-length")
            raw = await ingest.read_body(
                request.stream(),
                request.headers.get("content-encoding", "").strip().lower(),
                int(length) if length and length.isdigit() else None,
                limits.max_body_bytes,
                limits.max_decompressed_bytes,
            )
            receipt = await run_in_threadpool(_accept, engine, organisation, raw)
        except (ingest.IngestError, auth.AuthFailure) as exc:
            errors = getattr(exc, "errors", None)
            raise ApiError(exc.status, exc.french, exc.english, errors) from None
        return JSONResponse(receipt.body, status_code=receipt.status)

    @app.get(
        "/api/v1/inventories",
        response_model=list[InventoryMeta],
        responses=ERRORS,
        tags=["lecture"],
    )
    def list_inventories(
        request: Request,
        user: UserDep,
        organisation_id: OrganisationQuery = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    ) -> list[dict[str, Any]]:
        """Inventories the caller may see, newest first."""
        query = select(*_META_COLUMNS).order_by(
            db.inventories.c.received_at.desc(), db.inventories.c.id
        )
        if organisation_id is not None:
            if not user.sees(organisation_id):
                return []
            query = query.where(db.inventories.c.organisation_id == organisation_id)
        elif user.visible is not None:
            query = query.where(db.inventories.c.organisation_id.in_(sorted(user.visible)))
        with _engine(request).connect() as connection:
            rows = connection.execute(query.limit(limit).offset(offset)).all()
        return [_meta(row) for row in rows]

    @app.get(
        "/api/v1/inventories/{inventory_id}",
        response_model=InventoryOut,
        responses=ERRORS,
        tags=["lecture"],
    )
    def read_inventory(request: Request, user: UserDep, inventory_id: uuid.UUID) -> dict[str, Any]:
        """One inventory with its full document."""
        row = _visible_inventory(request, user, inventory_id)
        return {**_meta(row), "document": json.loads(row.document)}

    @app.get(
        "/api/v1/inventories/{inventory_id}/findings",
        response_model=list[dict[str, Any]],
        responses=ERRORS,
        tags=["lecture"],
    )
    def read_findings(
        request: Request, user: UserDep, inventory_id: uuid.UUID
    ) -> list[dict[str, Any]]:
        """The findings of one inventory, in the agent's order."""
        row = _visible_inventory(request, user, inventory_id)
        found: list[dict[str, Any]] = json.loads(row.document)["findings"]
        return found

    @app.post(
        "/api/v1/inventories/{inventory_id}/review",
        response_model=InventoryMeta,
        responses=ERRORS,
        tags=["validation"],
    )
    def review_inventory(
        request: Request, user: UserDep, inventory_id: uuid.UUID, decision: ReviewIn
    ) -> dict[str, Any]:
        """Mark an inventory validated or rejected (reviewers of its organisation, admins)."""
        row = _visible_inventory(request, user, inventory_id)
        if user.role is Role.VIEWER:
            raise ApiError(
                403,
                "un lecteur ne peut pas valider : il faut le rôle relecteur ou administrateur",
                "a viewer cannot validate: the reviewer or admin role is needed",
            )
        with db.write_transaction(_engine(request)) as connection:
            connection.execute(
                update(db.inventories)
                .where(db.inventories.c.id == row.id)
                .values(status=decision.status)
            )
        return {**_meta(row), "status": decision.status}

    @app.get(
        "/api/v1/organisations",
        response_model=list[OrganisationOut],
        responses=ERRORS,
        tags=["lecture"],
    )
    def list_organisations(request: Request, user: UserDep) -> list[OrganisationOut]:
        """Organisations the caller may see."""
        query = select(db.organisations).order_by(db.organisations.c.name, db.organisations.c.id)
        if user.visible is not None:
            query = query.where(db.organisations.c.id.in_(sorted(user.visible)))
        with _engine(request).connect() as connection:
            return [_organisation_out(row) for row in connection.execute(query)]

    @app.get(
        "/api/v1/organisations/{organisation_id}",
        response_model=OrganisationOut,
        responses=ERRORS,
        tags=["lecture"],
    )
    def read_organisation(
        request: Request, user: UserDep, organisation_id: OrganisationPath
    ) -> OrganisationOut:
        """One organisation."""
        if not user.sees(organisation_id):
            raise ApiError(404, *_NOT_FOUND_ORGANISATION)
        with _engine(request).connect() as connection:
            row = connection.execute(
                select(db.organisations).where(db.organisations.c.id == organisation_id)
            ).first()
        if row is None:
            raise ApiError(404, *_NOT_FOUND_ORGANISATION)
        return _organisation_out(row)

    @app.post(
        "/api/v1/session",
        response_model=SessionOut,
        responses=ERRORS,
        tags=["session"],
    )
    def sign_in(request: Request, response: Response, credentials: LoginIn) -> SessionOut:
        """Sign in; the session is an HttpOnly, SameSite=Strict cookie. Rate-limited."""
        limits = _settings(request)
        try:
            cookie = auth.login(
                _engine(request),
                credentials.username,
                credentials.password,
                request.client.host if request.client else "unknown",
                attempts=limits.login_attempts,
                window_s=limits.login_window_s,
                session_hours=limits.session_hours,
            )
        except auth.AuthFailure as exc:
            headers = {"Retry-After": str(limits.login_window_s)} if exc.status == 429 else None
            raise ApiError(exc.status, exc.french, exc.english, headers=headers) from None
        response.set_cookie(
            auth.SESSION_COOKIE,
            cookie,
            max_age=limits.session_hours * 3600,
            httponly=True,
            samesite="strict",
            secure=limits.secure_cookies,
            path="/",
        )
        with _engine(request).connect() as connection:
            user = auth.session_user(connection, cookie)
        assert user is not None
        return _session_out(user)

    @app.get("/api/v1/session", response_model=SessionOut, responses=ERRORS, tags=["session"])
    def who_am_i(user: UserDep) -> SessionOut:
        """The signed-in person."""
        return _session_out(user)

    @app.delete("/api/v1/session", status_code=204, tags=["session"])
    def sign_out(request: Request) -> Response:
        """Close the session (nothing happens without one)."""
        auth.logout(_engine(request), request.cookies.get(auth.SESSION_COOKIE))
        response = Response(status_code=204)
        response.delete_cookie(auth.SESSION_COOKIE, path="/")
        return response

    return app


def app_from_environment() -> FastAPI:
    """Application factory of each worker process (`tiebreak server run --workers N`)."""
    from server.settings import from_environment

    return create_app(from_environment())


def _session_out(user: auth.User) -> SessionOut:
    organisations = None if user.visible is None else sorted(user.visible)
    return SessionOut(username=user.username, role=user.role, organisations=organisations)


def _authenticate_agent(engine: Engine, authorization: str | None) -> Any:
    with engine.connect() as connection:
        return auth.agent_organisation(connection, authorization)


def _accept(engine: Engine, organisation: Any, raw: bytes) -> ingest.Receipt:
    document = ingest.decode(raw)
    inventory = ingest.parse_inventory(document.text)
    ingest.check_organisation(organisation, inventory)
    return ingest.store(engine, organisation.id, inventory, document)
