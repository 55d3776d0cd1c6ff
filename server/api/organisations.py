"""/api/v1/organisations: the organisations a person may see."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from server.api import deps
from server.api.deps import ERRORS, OrganisationPath, UserDep
from server.errors import Refusal
from server.store import organisations

router = APIRouter(prefix="/organisations", tags=["lecture"])

_NOT_FOUND = ("organisation introuvable", "organisation not found")


class OrganisationOut(BaseModel):
    """An organisation (collectivité)."""

    id: int
    name: str
    siren: str | None
    type: str
    parent_id: int | None


def _out(row: Any) -> OrganisationOut:
    return OrganisationOut(
        id=row.id, name=row.name, siren=row.siren, type=row.type, parent_id=row.parent_id
    )


@router.get("", response_model=list[OrganisationOut], responses=ERRORS)
def list_organisations(request: Request, user: UserDep) -> list[OrganisationOut]:
    """Organisations the caller may see."""
    with deps.engine(request).connect() as connection:
        return [_out(row) for row in organisations.listing(connection, user.visible)]


@router.get("/{organisation_id}", response_model=OrganisationOut, responses=ERRORS)
def read_organisation(
    request: Request, user: UserDep, organisation_id: OrganisationPath
) -> OrganisationOut:
    """One organisation."""
    if not user.sees(organisation_id):
        raise Refusal(404, *_NOT_FOUND)
    with deps.engine(request).connect() as connection:
        row = organisations.get(connection, organisation_id)
    if row is None:
        raise Refusal(404, *_NOT_FOUND)
    return _out(row)
