"""How pages are rendered: Jinja2 with autoescaping everywhere, the reader's language, the
anti-forgery token of every form, and the signed-in person.

Everything an agent sent (banners, DNS values, package names) is attacker-controlled: templates
never mark a value safe, and the Content-Security-Policy forbids inline script.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from fingerprints.jurisdiction import country_name
from server import auth
from server.errors import Refusal
from server.i18n import wants_english
from server.labels import LABELS, UI
from server.version import __version__

# Attribute access is Jinja's fast path (a dict key goes through a failed getattr first).
UI_NAMESPACES = {language: SimpleNamespace(**words) for language, words in UI.items()}
LABEL_NAMESPACES = {language: SimpleNamespace(**names) for language, names in LABELS.items()}

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
LANGUAGE_COOKIE = "tiebreak_lang"
LOGIN_CSRF_COOKIE = "tiebreak_login_csrf"

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def english(request: Request) -> bool:
    """The reader's language: the switch's cookie, else the browser's Accept-Language."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in ("fr", "en"):
        return chosen == "en"
    return wants_english(request)


def translator(request: Request) -> Callable[[str, str], str]:
    """`t(french, english)` in the reader's language."""
    if english(request):
        return lambda _french, english_text: english_text
    return lambda french, _english: french


def _local_time(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _euros(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.2f}".replace(",", "\u202f").replace(".", ",") + " €"


_environment.filters["when"] = _local_time
_environment.filters["euros"] = _euros


def safe_next(target: str | None) -> str:
    """A local path to go back to after signing in; anything else becomes the queue."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/revue"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return "/revue"
    return target


def csrf_for(request: Request) -> str:
    """The anti-forgery token to put in this reader's forms."""
    cookie = request.cookies.get(auth.SESSION_COOKIE)
    if cookie:
        return auth.csrf_token(cookie)
    return request.cookies.get(LOGIN_CSRF_COOKIE) or ""


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status: int = 200,
    user: auth.User | None = None,
) -> HTMLResponse:
    """A page from its template, in the reader's language."""
    values = {
        "request": request,
        "t": translator(request),
        "lang": "en" if english(request) else "fr",
        "labels": LABEL_NAMESPACES["en" if english(request) else "fr"],
        "ui": UI_NAMESPACES["en" if english(request) else "fr"],
        "user": user,
        "csrf": csrf_for(request),
        "path": request.url.path,
        "here": quote(
            str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
            safe="/?=&",
        ),
        "version": __version__,
        # "France (FR)" in the reader's language, "?" when unknown.
        "country": lambda code: country_name(code, english(request)),
        "errors": {},
        "notice": None,
    }
    values.update(context or {})
    body = _environment.get_template(template).render(values)
    return HTMLResponse(body, status_code=status)


def login_redirect(request: Request, expired: bool = False) -> RedirectResponse:
    """Send the reader to the sign-in page, coming back here afterwards."""
    target = request.url.path
    if request.method == "GET" and request.url.query:
        target += "?" + request.url.query
    if request.method != "GET":
        target = safe_next(urlsplit(request.headers.get("referer", "")).path or "/revue")
    suffix = "&expiree=1" if expired else ""
    return RedirectResponse(f"/connexion?suivant={quote(target, safe='')}{suffix}", status_code=303)


def error_page(request: Request, error: Refusal) -> Response:
    """A refusal as a page (or, when sign-in is needed, the sign-in page)."""
    if error.status == 401:
        return login_redirect(request, expired=bool(request.cookies.get(auth.SESSION_COOKIE)))
    response = render(request, "error.html", {"error": error}, status=error.status)
    for name, value in (error.headers or {}).items():
        response.headers[name] = value
    return response


def new_login_csrf() -> str:
    """A fresh token for the sign-in form (double-submit cookie)."""
    return secrets.token_urlsafe(24)
