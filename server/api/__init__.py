"""The HTTP API, versioned under /api/v1: one router per resource.

Agents send inventories with their token; people sign in and read what their role lets them see.
Every refusal answers `{"detail": "..."}` in French, or in English with `Accept-Language: en`,
plus `errors` (field, message) for an invalid request. The OpenAPI description is at
/api/v1/openapi.json and browsable at /api/v1/docs, with every asset served by the server.
"""

from __future__ import annotations

from fastapi import APIRouter

from server.api import agent, health, inventories, organisations, session


def router() -> APIRouter:
    """Every API route, under /api/v1."""
    api = APIRouter(prefix="/api/v1")
    for module in (agent, health, inventories, organisations, session):
        api.include_router(module.router)
    return api
