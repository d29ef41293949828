"""The console's session: a signed, expiring cookie holding the tenant and a CSRF token.

The cookie is signed with ``console_secret`` (itsdangerous); nothing is stored
on the server.  A visitor who has not logged in still gets a session (tenant
``None``) so that the login form, too, carries a CSRF token.  Logging in
issues a new session with a new token.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlmodel import Session

from api.deps import Principal, get_db, require
from forgeyard.models import ApiKey, utcnow
from forgeyard.settings import get_settings
from forgeyard.tenants import principal_name

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
    """What the cookie carries; ``tenant_id`` is ``None`` before login.

    ``principal`` is filled from the key's row on every request (never from the
    cookie), so the key's current name, scopes, revocation and expiry apply.
    """

    csrf: str
    tenant_id: str | None = None
    key_id: str | None = None
    principal: Principal | None = field(default=None, compare=False)

    @classmethod
    def new(cls, tenant_id: str | None = None, key_id: str | None = None) -> ConsoleSession:
        return cls(csrf=secrets.token_urlsafe(32), tenant_id=tenant_id, key_id=key_id)

    def acting(self) -> Principal:
        """The logged-in key as the JSON API sees it."""
        assert self.principal is not None, "only for a logged-in session"
        return self.principal

    def need(self, scope: str) -> Principal:
        """The principal, if its key holds ``scope``; the API's own 403 otherwise."""
        return require(scope)(self.acting())


def _aware(moment: datetime) -> datetime:
    # SQLite hands datetimes back without their zone; they are stored in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
    # A revoked or expired key ends its console sessions too, not only its API calls.
    key = db.get(ApiKey, session.key_id)
    if key is None or key.revoked_at is not None or key.tenant_id != session.tenant_id:
        raise LoginRequired(ended=True)
    if key.expires_at is not None and _aware(key.expires_at) <= utcnow():
        raise LoginRequired(ended=True)
    principal = Principal(
        tenant_id=key.tenant_id,
        key_id=key.id,
        name=principal_name(key),
        scopes=tuple(key.scopes or ()),
    )
    return replace(session, principal=principal)


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
