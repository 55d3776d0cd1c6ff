"""/televersement: send a `tiebreak scan` file from the browser, for collectivités whose agent
cannot reach the server. The same checks and the same idempotency as the API: the file must be an
inventory of the chosen organisation, and uploading it twice stores it once."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from server import ingest, review
from server.api import deps
from server.auth import User
from server.errors import Refusal
from server.store import organisations
from server.web.forms import WebUser, checked_form
from server.web.render import english, render

router = APIRouter(include_in_schema=False)


def _page(
    request: Request,
    user: User,
    errors: dict[str, str] | None = None,
    chosen: int | None = None,
    status: int = 200,
) -> HTMLResponse:
    with deps.engine(request).connect() as connection:
        choices = organisations.listing(connection, user.visible)
    return render(
        request,
        "upload.html",
        {"organisations": choices, "chosen": chosen, "errors": errors or {}},
        status=status,
        user=user,
    )


@router.get("/televersement", response_class=HTMLResponse)
def upload_form(request: Request, user: WebUser) -> HTMLResponse:
    """The upload form."""
    return _page(request, user)


@router.post("/televersement")
async def upload(request: Request, user: WebUser) -> Response:
    """Store an uploaded inventory as a draft of the chosen organisation."""
    form = await checked_form(request, max_files=1)
    review.require_reviewer(user)
    reader_english = english(request)
    raw_org = form.get("organisation")
    organisation_id = int(raw_org) if isinstance(raw_org, str) and raw_org.isdigit() else None
    if organisation_id is None or not user.sees(organisation_id):
        message = ("choisissez une organisation", "pick an organisation")
        return _page(request, user, {"organisation": message[reader_english]}, status=422)
    upload_file = form.get("inventaire")
    if not isinstance(upload_file, UploadFile) or not upload_file.filename:
        message = ("choisissez le fichier d'inventaire (.json)", "pick the inventory file (.json)")
        return _page(request, user, {"inventaire": message[reader_english]}, organisation_id, 422)
    engine, limits = deps.engine(request), deps.settings(request)
    try:
        data = await upload_file.read(limits.max_body_bytes + 1)
        if len(data) > limits.max_body_bytes:
            raise Refusal(
                413,
                f"fichier trop volumineux : {limits.max_body_bytes / 1_048_576:.1f} Mo au plus",
                f"file too large: at most {limits.max_body_bytes / 1_048_576:.1f} MB",
            )
        if data[:2] == b"\x1f\x8b":
            data = await ingest.read_body(
                _once(data), "gzip", None, limits.max_body_bytes, limits.max_decompressed_bytes
            )
        with engine.connect() as connection:
            organisation = organisations.get(connection, organisation_id)
        if organisation is None:
            raise Refusal(404, "organisation introuvable", "organisation not found")
        receipt = await run_in_threadpool(ingest.accept, engine, organisation, data, "upload")
    except Refusal as exc:
        problem = exc.say(reader_english)
        if exc.status in (400, 415, 422):
            problem = (
                "ce fichier n'est pas un inventaire tiebreak : " + exc.french
                if not reader_english
                else "this file is not a tiebreak inventory: " + exc.english
            )
        return _page(request, user, {"inventaire": problem}, organisation_id, exc.status)
    return RedirectResponse(f"/inventaires/{receipt.body['id']}?fait=televerse", status_code=303)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
