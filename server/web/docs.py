"""/api/v1/docs: the API's interactive documentation, with Swagger UI served by the server."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from server.web.render import render

router = APIRouter(include_in_schema=False)


def swagger_assets() -> StaticFiles:
    """Swagger UI 5's files (OpenAPI 3.1), as the fastapi-swagger package ships them (no CDN).

    Only the files are used: the package's own page has an inline script, which the
    Content-Security-Policy forbids; `static/api-docs.js` starts Swagger UI instead.
    """
    resources = files("fastapi_swagger") / "resources"
    return StaticFiles(directory=str(resources))


@router.get("/api/v1/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    """Swagger UI on /api/v1/openapi.json."""
    return render(request, "api_docs.html")
