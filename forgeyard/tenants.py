"""Tenants and their API keys.

A key looks like ``fy_<key id>_<secret>``.  Only the SHA-256 of the whole key
is stored: the secret part carries 256 random bits, so a fast hash is enough
(a slow password hash protects guessable secrets, which these are not) and a
key is found by its hash with one indexed lookup.

A key has a name (its principal: the name recorded when it approves a run),
scopes (:data:`SCOPES`; ``admin`` implies all of them) and an optional expiry.

Errors::

    TenantError
    ├── TenantNotFound        no tenant with that id
    ├── TenantExists          a tenant with that id already exists
    ├── KeyNotFound           no key with that id
    └── InvalidKey            a presented key is unknown, malformed or revoked
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from forgeyard.db import session_scope
from forgeyard.models import ApiKey, Tenant, utcnow

__all__ = [
    "ADMIN",
    "SCOPES",
    "CreatedKey",
    "InvalidKey",
    "KeyNotFound",
    "TenantError",
    "TenantExists",
    "TenantNotFound",
    "authenticate",
    "create_key",
    "create_tenant",
    "hash_key",
    "list_keys",
    "list_tenants",
    "check_scopes",
    "has_scope",
    "principal_name",
    "revoke_key",
]

ADMIN = "admin"
#: What a key may do. ``admin`` implies every other scope.
SCOPES: dict[str, str] = {
    "runs:read": "read runs, traces, events, diffs and the catalog",
    "runs:submit": "start, cancel, replay and fork runs",
    "runs:approve": "approve or reject a run that waits for a person",
    "labels:write": "label runs for the reward workbench",
    ADMIN: "everything, including registering workflows and reward models, "
    "training jobs and adapter promotion",
}

_TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class TenantError(Exception):
    """A tenant or key request that cannot be carried out."""


class TenantNotFound(TenantError):
    pass


class TenantExists(TenantError):
    pass


class KeyNotFound(TenantError):
    pass


class InvalidKey(TenantError):
    pass


@dataclass(frozen=True)
class CreatedKey:
    """A new key: ``token`` is the only copy of the secret, show it once."""

    id: str
    tenant_id: str
    token: str
    name: str = ""
    scopes: tuple[str, ...] = (ADMIN,)
    expires_at: datetime | None = None


def check_scopes(scopes: Iterable[str]) -> list[str]:
    """``scopes`` as a sorted list without repeats; :class:`TenantError` naming an unknown one."""
    chosen = sorted(set(scopes))
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown:
        raise TenantError(f"Unknown scope(s) {', '.join(unknown)}; scopes: {', '.join(SCOPES)}.")
    if not chosen:
        raise TenantError(f"A key needs at least one scope; scopes: {', '.join(SCOPES)}.")
    return chosen


def _aware(moment: datetime) -> datetime:
    # SQLite hands datetimes back without their zone; every one stored is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def principal_name(key: ApiKey) -> str:
    """Who acts with ``key``, as recorded in traces: its name, else ``key:<id>``."""
    return key.name or f"key:{key.id}"


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_tenant(tenant_id: str, name: str | None = None) -> Tenant:
    """Create tenant ``tenant_id`` (lower-case letters, digits, ``-`` and ``_``)."""
    if not _TENANT_ID.match(tenant_id):
        raise TenantError(
            f"Tenant id `{tenant_id}` is not allowed: use 1-64 lower-case letters, digits, "
            "`-` or `_`, starting with a letter or digit."
        )
    tenant = Tenant(id=tenant_id, name=name or tenant_id)
    try:
        with session_scope() as session:
            session.add(tenant)
    except IntegrityError:
        raise TenantExists(f"Tenant `{tenant_id}` already exists.") from None
    return tenant


def list_tenants() -> list[Tenant]:
    with session_scope() as session:
        return list(session.exec(select(Tenant).order_by(Tenant.id)))


def create_key(
    tenant_id: str,
    name: str = "",
    *,
    scopes: Iterable[str] = (ADMIN,),
    expires_at: datetime | None = None,
) -> CreatedKey:
    """Create an API key for ``tenant_id``; the returned token is not stored anywhere.

    Raises:
        TenantError: an unknown scope, no scope, or an expiry in the past.
        TenantNotFound: no such tenant.
    """
    chosen = check_scopes(scopes)
    if expires_at is not None and _aware(expires_at) <= utcnow():
        raise TenantError(f"The expiry {expires_at.isoformat()} is in the past.")
    key_id = secrets.token_hex(6)
    token = f"fy_{key_id}_{secrets.token_urlsafe(32)}"
    with session_scope() as session:
        if session.get(Tenant, tenant_id) is None:
            raise TenantNotFound(
                f"No tenant `{tenant_id}`; create it with `forgeyard tenants create {tenant_id}`."
            )
        session.add(
            ApiKey(
                id=key_id,
                tenant_id=tenant_id,
                name=name,
                key_hash=hash_key(token),
                scopes=chosen,
                expires_at=expires_at,
            )
        )
    return CreatedKey(
        id=key_id,
        tenant_id=tenant_id,
        token=token,
        name=name,
        scopes=tuple(chosen),
        expires_at=expires_at,
    )


def list_keys(tenant_id: str | None = None) -> list[ApiKey]:
    with session_scope() as session:
        query = select(ApiKey).order_by(ApiKey.created_at)  # type: ignore[arg-type]
        if tenant_id is not None:
            query = query.where(ApiKey.tenant_id == tenant_id)
        return list(session.exec(query))


def revoke_key(key_id: str) -> ApiKey:
    """Revoke a key by its id (the part after ``fy_``); revoking twice is harmless."""
    with session_scope() as session:
        key = session.get(ApiKey, key_id)
        if key is None:
            raise KeyNotFound(f"No API key `{key_id}` (see `forgeyard keys list`).")
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            session.add(key)
    return key


def authenticate(token: str) -> ApiKey:
    """The (unrevoked) key record of a presented key; :class:`InvalidKey` otherwise."""
    with session_scope() as session:
        key = session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(token))).first()
    if key is None:
        raise InvalidKey("Unknown API key.")
    if key.revoked_at is not None:
        raise InvalidKey(f"API key `{key.id}` was revoked.")
    if key.expires_at is not None and _aware(key.expires_at) <= utcnow():
        raise InvalidKey(f"API key `{key.id}` expired at {key.expires_at.isoformat()}.")
    return key


def has_scope(key_scopes: Iterable[str], scope: str) -> bool:
    """Whether a key with ``key_scopes`` may do what ``scope`` names."""
    granted = set(key_scopes)
    return ADMIN in granted or scope in granted
