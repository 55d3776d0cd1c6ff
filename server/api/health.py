"""GET /api/v1/health: the server and its database answer."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel

from server.api import deps
from server.version import __version__

router = APIRouter(tags=["système"])


class HealthOut(BaseModel):
    """The server answers and its database too."""

    status: Literal["ok"]
    version: str


@router.get("/health", response_model=HealthOut)
def health(request: Request) -> HealthOut:
    """The server and its database answer."""
    with deps.engine(request).connect() as connection:
        connection.exec_driver_sql("SELECT 1")
    return HealthOut(status="ok", version=__version__)
