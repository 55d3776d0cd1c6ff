"""/api/v1/session: people sign in and out; the session is an HttpOnly, SameSite=Strict cookie."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from server import auth
from server.admin import Role
from server.api import deps
from server.api.deps import ERRORS, UserDep

router = APIRouter(prefix="/session", tags=["session"])


class LoginIn(BaseModel):
    """Credentials of a person."""

    # No control characters: a user name never has one, and PostgreSQL text refuses NUL.
    username: str = Field(min_length=1, max_length=150, pattern=r"^[^\x00-\x1f\x7f]+$")
    password: str = Field(min_length=1, max_length=1024)


class SessionOut(BaseModel):
    """The signed-in person; `organisations` is null for an administrator (all of them)."""

    username: str
    role: Role
    organisations: list[int] | None


def _out(user: auth.User) -> SessionOut:
    organisations = None if user.visible is None else sorted(user.visible)
    return SessionOut(username=user.username, role=user.role, organisations=organisations)


def client_address(request: Request) -> str:
    """The caller's address: X-Forwarded-For is believed only from a `--trusted-proxy`."""
    peer = request.client.host if request.client else "unknown"
    trusted = deps.settings(request).trusted_proxies
    return auth.client_address(peer, request.headers.get("x-forwarded-for"), trusted)


def secure_cookies(request: Request) -> bool:
    """Cookies are `Secure` with `--secure-cookies`, or whenever the caller came over HTTPS:
    to this server, or to a trusted proxy that says so in X-Forwarded-Proto."""
    settings = deps.settings(request)
    if settings.secure_cookies or request.url.scheme == "https":
        return True
    peer = request.client.host if request.client else "unknown"
    proto = request.headers.get("x-forwarded-proto")
    return auth.forwarded_https(peer, proto, settings.trusted_proxies)


async def open_session(request: Request, response: Response, username: str, password: str) -> str:
    """Check the credentials, set the session cookie on `response`; the cookie's value."""
    limits = deps.settings(request)
    cookie = await auth.login(
        deps.engine(request),
        username,
        password,
        client_address(request),
        attempts=limits.login_attempts,
        window_s=limits.login_window_s,
        session_hours=limits.session_hours,
    )
    response.set_cookie(
        auth.SESSION_COOKIE,
        cookie,
        max_age=limits.session_hours * 3600,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/",
    )
    return cookie


def _signed_in(request: Request, cookie: str) -> auth.User | None:
    with deps.engine(request).connect() as connection:
        return auth.session_user(connection, cookie)


@router.post("", response_model=SessionOut, responses=ERRORS)
async def sign_in(request: Request, response: Response, credentials: LoginIn) -> SessionOut:
    """Sign in; the session is an HttpOnly, SameSite=Strict cookie. Rate-limited: 429 with
    Retry-After when attempts come too fast, 503 when the server is busy checking others."""
    cookie = await open_session(request, response, credentials.username, credentials.password)
    user = await run_in_threadpool(_signed_in, request, cookie)
    assert user is not None
    return _out(user)


@router.get("", response_model=SessionOut, responses=ERRORS)
def who_am_i(user: UserDep) -> SessionOut:
    """The signed-in person."""
    return _out(user)


@router.delete("", status_code=204)
def sign_out(request: Request) -> Response:
    """Close the session (nothing happens without one)."""
    auth.logout(deps.engine(request), request.cookies.get(auth.SESSION_COOKIE))
    response = Response(status_code=204)
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response
