"""/api/v1/docs: the API's interactive documentation, with Swagger UI served by the server."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from server.web.render import render

router = APIRouter(include_in_schema=False)


def swagger_assets() -> StaticFiles:
    """Swagger UI's files, from the swagger-ui-bundle package (no CDN)."""
    from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

    return StaticFiles(directory=swagger_ui_path)


@router.get("/api/v1/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    """Swagger UI on /api/v1/openapi.json."""
    return render(request, "api_docs.html")
