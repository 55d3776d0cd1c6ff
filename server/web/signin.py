"""Signing in and out of the web pages, and the language switch."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from server import auth
from server.api import deps
from server.api.session import open_session, secure_cookies
from server.errors import Refusal
from server.web.forms import FORGED, checked_form, text_fields
from server.web.render import (
    LANGUAGE_COOKIE,
    LOGIN_CSRF_COOKIE,
    english,
    new_login_csrf,
    render,
    safe_next,
)

router = APIRouter(include_in_schema=False)


def _login_page(
    request: Request,
    next_path: str,
    *,
    problem: str | None = None,
    username: str = "",
    status: int = 200,
    expired: bool = False,
) -> HTMLResponse:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or new_login_csrf()
    response = render(
        request,
        "login.html",
        {
            "next": safe_next(next_path),
            "problem": problem,
            "username": username,
            "expired": expired,
            "csrf": token,
        },
        status=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/connexion",
    )
    return response


@router.get("/connexion", response_class=HTMLResponse)
def login_form(request: Request, suivant: str = "/revue", expiree: str = "") -> Response:
    """The sign-in page."""
    return _login_page(request, suivant, expired=expiree == "1")


@router.post("/connexion")
async def login(request: Request) -> Response:
    """Check the credentials and open a session."""
    form = text_fields(await request.form(max_files=0, max_fields=10, max_part_size=4096))
    token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    next_path = safe_next(form.get("suivant"))
    if not token or not hmac.compare_digest(form.get("csrf", ""), token):
        return _login_page(request, next_path, problem=FORGED.say(english(request)), status=403)
    username, password = form.get("username", ""), form.get("password", "")
    if not username or not password or len(username) > 150 or not username.isprintable():
        problem = "nom d'utilisateur ou mot de passe incorrect", "wrong user name or password"
        return _login_page(
            request,
            next_path,
            problem=problem[english(request)],
            username=username[:150],
            status=401,
        )
    response = RedirectResponse(next_path, status_code=303)
    try:
        await open_session(request, response, username, password)
    except Refusal as exc:
        page = _login_page(
            request,
            next_path,
            problem=exc.say(english(request)),
            username=username,
            status=exc.status,
        )
        for name, value in (exc.headers or {}).items():
            page.headers[name] = value
        return page
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/connexion")
    return response


@router.post("/deconnexion")
async def logout(request: Request) -> Response:
    """Close the session."""
    await checked_form(request)
    auth.logout(deps.engine(request), request.cookies.get(auth.SESSION_COOKIE))
    response = RedirectResponse("/connexion", status_code=303)
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response


@router.get("/langue")
def language(l: str = "fr", suivant: str = "/revue") -> Response:  # noqa: E741 (the form's name)
    """Switch the pages' language (a cookie; French by default)."""
    response = RedirectResponse(safe_next(suivant), status_code=303)
    response.set_cookie(
        LANGUAGE_COOKIE, "en" if l == "en" else "fr", samesite="lax", path="/", max_age=365 * 86400
    )
    return response


@router.get("/")
def home() -> Response:
    """The review queue is the home page."""
    return RedirectResponse("/revue", status_code=303)
