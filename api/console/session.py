"""The console's session: a signed, expiring cookie holding the tenant and a CSRF token.

The cookie is signed with ``console_secret`` (itsdangerous); nothing is stored
on the server.  A visitor who has not logged in still gets a session (tenant
``None``) so that the login form, too, carries a CSRF token.  Logging in
issues a new session with a new token.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlmodel import Session

from api.deps import Principal, get_db
from forgeyard.models import ApiKey
from forgeyard.settings import get_settings

__all__ = [
    "COOKIE",
    "ConsoleSession",
    "CsrfFailed",
    "LoginRequired",
    "UserDep",
    "current_session",
    "require_csrf",
]

COOKIE = "forgeyard_console"
_SALT = "forgeyard.console.session"


class LoginRequired(Exception):
    """No valid session (missing, forged, expired or its key revoked): back to the login page."""

    def __init__(self, *, ended: bool) -> None:
        super().__init__("log in first")
        self.ended = ended  # a session was presented (expired, forged, revoked), not none


class CsrfFailed(Exception):
    """A form came without this session's CSRF token, or with another one."""


@dataclass(frozen=True)
class ConsoleSession:
    """What the cookie carries; ``tenant_id`` is ``None`` before login."""

    csrf: str
    tenant_id: str | None = None
    key_id: str | None = None

    @classmethod
    def new(cls, tenant_id: str | None = None, key_id: str | None = None) -> ConsoleSession:
        return cls(csrf=secrets.token_urlsafe(32), tenant_id=tenant_id, key_id=key_id)

    @property
    def principal(self) -> Principal:
        assert self.tenant_id is not None and self.key_id is not None
        return Principal(tenant_id=self.tenant_id, key_id=self.key_id)

    @property
    def who(self) -> str:
        """How decisions and labels made in the console are signed."""
        return f"console:api-key:{self.key_id}"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().console_secret, salt=_SALT)


def encode(session: ConsoleSession) -> str:
    return _serializer().dumps([session.csrf, session.tenant_id, session.key_id])


def decode(cookie: str | None) -> ConsoleSession | None:
    """The session in a cookie, or ``None`` if it is missing, forged or expired."""
    if not cookie:
        return None
    try:
        # max_age makes the signed timestamp an expiry: SignatureExpired is a BadSignature.
        csrf, tenant_id, key_id = _serializer().loads(
            cookie, max_age=get_settings().console_session_seconds
        )
    except (BadSignature, ValueError, TypeError):
        return None
    return ConsoleSession(csrf=str(csrf), tenant_id=tenant_id, key_id=key_id)


def current_session(request: Request) -> ConsoleSession | None:
    """This request's session, if its cookie is valid (logged in or not)."""
    return decode(request.cookies.get(COOKIE))


def _logged_in(request: Request, db: Annotated[Session, Depends(get_db)]) -> ConsoleSession:
    session = current_session(request)
    if session is None or session.tenant_id is None or session.key_id is None:
        raise LoginRequired(ended=session is None and COOKIE in request.cookies)
    # A revoked key ends its console sessions too, not only its API calls.
    key = db.get(ApiKey, session.key_id)
    if key is None or key.revoked_at is not None or key.tenant_id != session.tenant_id:
        raise LoginRequired(ended=True)
    return session


UserDep = Annotated[ConsoleSession, Depends(_logged_in)]


async def require_csrf(request: Request) -> None:
    """Refuse a form whose ``csrf`` field is not this session's token (403)."""
    session = current_session(request)
    form = await request.form()  # Starlette keeps it: the route's Form fields read it again
    sent = form.get("csrf")
    if session is None or not isinstance(sent, str) or not hmac.compare_digest(sent, session.csrf):
        raise CsrfFailed()


def set_cookie(response, session: ConsoleSession, *, secure: bool) -> None:  # type: ignore[no-untyped-def]
    response.set_cookie(
        COOKIE,
        encode(session),
        max_age=get_settings().console_session_seconds,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/ui",
    )
