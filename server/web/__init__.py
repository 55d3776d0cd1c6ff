"""The web pages for people: sign-in, review queue, inventory and finding pages, upload,
administration. Server-rendered with Jinja2 (templates in `templates/`), styled and scripted
only by files in `static/`, in French with English available.
"""

from __future__ import annotations

from fastapi import APIRouter

from server.web import admin, docs, review, signin, upload
from server.web.docs import swagger_assets
from server.web.render import STATIC_DIR, error_page

__all__ = ["STATIC_DIR", "error_page", "router", "swagger_assets"]


def router() -> APIRouter:
    """Every page."""
    pages = APIRouter(include_in_schema=False)
    for module in (signin, review, upload, admin, docs):
        pages.include_router(module.router)
    return pages
