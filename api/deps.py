"""Request dependencies: database session and the authenticated tenant."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from forgeyard.db import get_engine
from forgeyard.tenants import InvalidKey, authenticate


def get_db() -> Iterator[Session]:
    with Session(get_engine(), expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db)]

_bearer = HTTPBearer(auto_error=False, description="A tenant's API key (`forgeyard keys create`).")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant and the id of the key it used."""

    tenant_id: str
    key_id: str


def get_principal(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Missing API key: send `Authorization: Bearer <key>` (see `forgeyard keys create`).",
            headers=challenge,
        )
    try:
        key = authenticate(credentials.credentials)
    except InvalidKey as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), headers=challenge) from None
    return Principal(tenant_id=key.tenant_id, key_id=key.id)


PrincipalDep = Annotated[Principal, Depends(get_principal)]
