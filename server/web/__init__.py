"""The web pages for people: sign-in, review queue, inventory and finding pages, upload,
administration. Server-rendered with Jinja2 (templates in `templates/`), styled and scripted
only by files in `static/`, in French with English available.
"""

from __future__ import annotations

from fastapi import APIRouter

from server.web import admin, catalog, dashboards, docs, review, signin, upload
from server.web.docs import swagger_assets
from server.web.render import STATIC_DIR, error_page

__all__ = ["STATIC_DIR", "error_page", "router", "swagger_assets", "warm_up"]


def warm_up() -> None:
    """Build what pages reuse (catalog lists, templates) before the first request."""
    from server.web.render import _environment

    review.catalog_datalist()
    catalog.library()
    for template in (
        "inventory.html",
        "finding.html",
        "queue.html",
        "login.html",
        "organisation.html",
        "territory.html",
        "alternatives.html",
    ):
        _environment.get_template(template)


def router() -> APIRouter:
    """Every page."""
    pages = APIRouter(include_in_schema=False)
    for module in (signin, review, dashboards, upload, admin, docs, catalog):
        pages.include_router(module.router)
    return pages
