"""Logging in to the console with a tenant's API key, and out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, status
from fastapi.responses import RedirectResponse, Response

from api.console import session as sessions
from api.console.render import PREFIX, page
from api.console.session import ConsoleSession, require_csrf
from forgeyard.tenants import InvalidKey, authenticate

router = APIRouter()


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _next_page(value: str) -> str:
    # Only a console path, never another site's URL (an open redirect).
    return value if value.startswith(f"{PREFIX}/") and "\\" not in value else f"{PREFIX}/runs"


@router.get("/login")
def login_form(
    request: Request, expired: bool = False, next: Annotated[str, Query(max_length=2000)] = ""
) -> Response:
    """The login form (a fresh anonymous session carries its CSRF token)."""
    session = sessions.current_session(request) or ConsoleSession.new()
    message = "Your session has ended; log in again." if expired else None
    response = page(
        request, "login.html.jinja", session=session, message=message, next_page=_next_page(next)
    )
    sessions.set_cookie(response, session, secure=_secure(request))
    return response


@router.post("/login", dependencies=[Depends(require_csrf)])
def login(
    request: Request,
    api_key: Annotated[str, Form(max_length=500)],
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Check the key; a new session (and CSRF token) for its tenant."""
    try:
        key = authenticate(api_key.strip())
    except InvalidKey as exc:
        session = sessions.current_session(request)
        return page(
            request,
            "login.html.jinja",
            session=session,
            status_code=status.HTTP_401_UNAUTHORIZED,
            message=str(exc),
            next_page=_next_page(next),
        )
    response = RedirectResponse(_next_page(next), status.HTTP_303_SEE_OTHER)
    sessions.set_cookie(
        response, ConsoleSession.new(key.tenant_id, key.id), secure=_secure(request)
    )
    return response


@router.post("/logout", dependencies=[Depends(require_csrf)])
def logout() -> Response:
    """End the session."""
    response = RedirectResponse(f"{PREFIX}/login", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(sessions.COOKIE, path=PREFIX)
    return response


@router.get("/")
def home() -> Response:
    return RedirectResponse(f"{PREFIX}/runs", status.HTTP_303_SEE_OTHER)
