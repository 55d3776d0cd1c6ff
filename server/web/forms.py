"""What every page handler needs: the signed-in person, and a form checked against forgery."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData, UploadFile

from server import auth
from server.api import deps
from server.errors import Refusal
from server.web.render import csrf_for


def web_user(request: Request) -> auth.User:
    """The signed-in person; without one the page answers with the sign-in page."""
    with deps.engine(request).connect() as connection:
        user = auth.session_user(connection, request.cookies.get(auth.SESSION_COOKIE))
    if user is None:
        raise Refusal(401, "connexion requise", "sign-in required")
    return user


WebUser = Annotated[auth.User, Depends(web_user)]

FORGED = Refusal(
    403,
    "formulaire périmé ou envoyé depuis un autre site : rechargez la page et recommencez "
    "(rien n'a été enregistré)",
    "stale form, or sent from another site: reload the page and try again (nothing was saved)",
)


async def checked_form(request: Request, max_files: int = 0) -> FormData:
    """The submitted form, refused unless it carries this reader's anti-forgery token."""
    form = await request.form(max_files=max_files, max_fields=100, max_part_size=64 * 1024)
    sent = form.get("csrf")
    expected = csrf_for(request)
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, expected):
        raise FORGED
    return form


def text_fields(form: FormData) -> dict[str, str]:
    """The form's text fields (files left out), the last value of each name."""
    return {name: value for name, value in form.items() if not isinstance(value, UploadFile)}
