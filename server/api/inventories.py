"""/api/v1/inventories: agents send drafts; people list, read and validate them."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from server import auth, ingest, review
from server.api import deps
from server.api.deps import ERRORS, OrganisationQuery, UserDep
from server.errors import Refusal
from server.store import inventories

router = APIRouter(prefix="/inventories")


class ReceiptOut(BaseModel):
    """Answer to an accepted inventory; a resend gets exactly the same answer."""

    id: str
    organisation_id: int
    received_at: datetime
    findings: int
    observations: int
    url: str
    page: str


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


class ReviewIn(BaseModel):
    """A reviewer's decision on a whole inventory."""

    status: Literal["draft", "validated", "rejected"]


def meta_out(row: Any) -> dict[str, Any]:
    """The listing fields of an inventory row."""
    return {
        "id": row.id,
        "organisation_id": row.organisation_id,
        "status": row.status,
        "received_at": deps.utc(row.received_at),
        "started_at": deps.utc(row.started_at),
        "finished_at": deps.utc(row.finished_at),
        "agent_hostname": row.agent_hostname,
        "findings": row.findings_count,
        "observations": row.observations_count,
    }


def _visible(request: Request, user: auth.User, inventory_id: uuid.UUID) -> Any:
    with deps.engine(request).connect() as connection:
        return review.visible_inventory(connection, user, str(inventory_id))


@router.post(
    "",
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
    engine, limits = deps.engine(request), deps.settings(request)
    organisation = await run_in_threadpool(
        _authenticate_agent, engine, request.headers.get("authorization")
    )
    content_type = request.headers.get("content-type", "application/json")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise Refusal(
            415,
            "type de contenu attendu : application/json",
            "expected content type: application/json",
        )
    length = request.headers.get("content-length")
    encoding = request.headers.get("content-encoding", "").strip().lower()
    body = await ingest.receive(
        request.stream(),
        encoding,
        int(length) if length and length.isdigit() else None,
        limits.max_body_bytes,
    )
    # Receiving costs at most max_body_bytes a request; inflating and parsing cost some 14 times
    # the inflated size, so only a few inventories at once get that far (503 after a long wait).
    async with ingest.ingest_slot(request.app.state):
        receipt = await run_in_threadpool(
            ingest.accept_body, engine, organisation, body, encoding, limits.max_decompressed_bytes
        )
    return JSONResponse(receipt.body, status_code=receipt.status)


def _authenticate_agent(engine: Engine, authorization: str | None) -> Any:
    with engine.connect() as connection:
        return auth.agent_organisation(connection, authorization)


@router.get("", response_model=list[InventoryMeta], responses=ERRORS, tags=["lecture"])
def list_inventories(
    request: Request,
    user: UserDep,
    organisation_id: OrganisationQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> list[dict[str, Any]]:
    """Inventories the caller may see, newest first."""
    if organisation_id is not None and not user.sees(organisation_id):
        return []
    with deps.engine(request).connect() as connection:
        rows = inventories.listing(
            connection, user.visible, organisation_id=organisation_id, limit=limit, offset=offset
        )
    return [meta_out(row) for row in rows]


@router.get("/{inventory_id}", response_model=InventoryOut, responses=ERRORS, tags=["lecture"])
def read_inventory(request: Request, user: UserDep, inventory_id: uuid.UUID) -> dict[str, Any]:
    """One inventory with its full document."""
    row = _visible(request, user, inventory_id)
    with deps.engine(request).connect() as connection:
        text = inventories.document(connection, row.id) or "{}"
    return {**meta_out(row), "document": json.loads(text)}


@router.get(
    "/{inventory_id}/findings",
    response_model=list[dict[str, Any]],
    responses=ERRORS,
    tags=["lecture"],
)
def read_findings(request: Request, user: UserDep, inventory_id: uuid.UUID) -> list[dict[str, Any]]:
    """The findings of one inventory, in the agent's order, from the findings table."""
    row = _visible(request, user, inventory_id)
    with deps.engine(request).connect() as connection:
        return [json.loads(text) for text in inventories.findings_data(connection, row.id)]


@router.post(
    "/{inventory_id}/review",
    response_model=InventoryMeta,
    responses=ERRORS,
    tags=["validation"],
)
def review_inventory(
    request: Request, user: UserDep, inventory_id: uuid.UUID, decision: ReviewIn
) -> dict[str, Any]:
    """Validate, reject or reopen an inventory (reviewers of its organisation, admins).

    Validating keeps the findings as decided now and makes the inventory its organisation's
    current validated one.
    """
    row = review.set_status(deps.engine(request), user, str(inventory_id), decision.status)
    return meta_out(row)
