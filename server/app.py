"""The central server's application: the API (`server.api`), the web pages (`server.web`), the
static files they use and the security headers every answer carries.

Every asset is served by the server itself, the API documentation's included: the networks of a
collectivité are often closed to the internet.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from inventory import Inventory
from server import api, dashboards, db, migrations, web
from server.errors import Refusal
from server.i18n import wants_english
from server.settings import Settings
from server.version import __version__

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _register_errors(app: FastAPI) -> None:
    def answer(request: Request, error: Refusal) -> Response:
        if not _is_api(request):
            return web.error_page(request, error)
        body: dict[str, Any] = {"detail": error.say(wants_english(request))}
        if error.errors:
            body["errors"] = error.errors
        return JSONResponse(body, status_code=error.status, headers=error.headers)

    async def on_refusal(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refusal)
        return answer(request, exc)

    async def on_validation(request: Request, exc: Exception) -> Response:
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
            Refusal(
                422,
                f"requête invalide, champ(s) {names} : {errors[0]['message']}",
                f"invalid request, field(s) {names}: {errors[0]['message']}",
                errors,
            ),
        )

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        messages = {
            404: ("adresse inconnue", "no such address"),
            405: ("méthode non autorisée sur cette adresse", "method not allowed here"),
        }
        french, english = messages.get(exc.status_code, (str(exc.detail), str(exc.detail)))
        headers = dict(exc.headers) if exc.headers else None
        return answer(request, Refusal(exc.status_code, french, english, headers=headers))

    async def on_database_busy(request: Request, exc: Exception) -> Response:
        return answer(
            request,
            Refusal(
                503,
                "base de données momentanément indisponible : réessayez dans une minute "
                "(rien n'a été enregistré)",
                "database momentarily unavailable: retry in a minute (nothing was stored)",
                headers={"Retry-After": "60"},
            ),
        )

    app.add_exception_handler(Refusal, on_refusal)
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
    dashboards.fill_missing(engine)  # figures of inventories validated before dashboards
    app = FastAPI(
        title="tiebreak",
        version=__version__,
        description=(
            "Serveur central tiebreak : reçoit les inventaires des agents et les donne à lire et "
            "valider. Central tiebreak server: receives agents' inventories for review."
        ),
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.settings = settings
    _register_errors(app)
    _document_openapi(app)
    app.include_router(api.router())
    app.include_router(web.router())
    app.mount("/static/swagger-ui", web.swagger_assets(), name="swagger-ui")
    app.mount("/static", StaticFiles(directory=web.STATIC_DIR), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for name, value in _HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith(("/static/", "/api/v1/openapi.json")):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app


def warm_up() -> None:
    """Load the catalog and what pages derive from it, then freeze what exists so far.

    Called once per serving process: the catalog's many long-lived objects then leave the
    garbage collector's generations, whose full passes otherwise add 150 to 250 ms to a
    request now and then (measured on an inventory page of 300 findings).
    """
    import gc

    from fingerprints.engine import default_engine

    web.warm_up()
    default_engine()
    gc.collect()
    gc.freeze()


def app_from_environment() -> FastAPI:
    """Application factory of each worker process (`tiebreak server run --workers N`)."""
    from server.settings import from_environment

    app = create_app(from_environment())
    warm_up()
    return app
