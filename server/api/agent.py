"""GET /api/v1/agent: an agent checks its token without sending anything.

`tiebreak status --check` and the TUI's "test" action call it: 200 with the token's organisation
(id, name, SIREN), 401 for a missing, unknown or revoked token.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from server import auth
from server.api import deps
from server.api.deps import ERRORS

router = APIRouter(prefix="/agent", tags=["agents"])


class AgentOrganisation(BaseModel):
    """The organisation whose inventories the token sends."""

    id: int
    name: str
    siren: str | None


class AgentOut(BaseModel):
    """The token is valid: here is its organisation."""

    organisation: AgentOrganisation


def _organisation(request: Request, authorization: str | None) -> AgentOrganisation:
    with deps.engine(request).connect() as connection:
        row = auth.agent_organisation(connection, authorization)
    return AgentOrganisation(id=row.id, name=row.name, siren=row.siren)


@router.get(
    "",
    response_model=AgentOut,
    responses={401: ERRORS[401]},
    summary="Vérifier le jeton d'agent / check the agent token",
)
async def check_token(request: Request) -> AgentOut:
    """The organisation of the agent token in `Authorization: Bearer`; 401 without a valid one."""
    organisation = await run_in_threadpool(
        _organisation, request, request.headers.get("authorization")
    )
    return AgentOut(organisation=organisation)
