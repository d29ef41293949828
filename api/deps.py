"""Request dependencies: database session and the authenticated tenant."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from forgeyard.db import get_engine
from forgeyard.tenants import InvalidKey, authenticate, has_scope, principal_name


def get_db() -> Iterator[Session]:
    with Session(get_engine(), expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db)]

_bearer = HTTPBearer(auto_error=False, description="A tenant's API key (`forgeyard keys create`).")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant, the key it used, that key's name and scopes."""

    tenant_id: str
    key_id: str
    name: str = ""
    scopes: tuple[str, ...] = ("admin",)

    def may(self, scope: str) -> bool:
        return has_scope(self.scopes, scope)


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
    return Principal(
        tenant_id=key.tenant_id,
        key_id=key.id,
        name=principal_name(key),
        scopes=tuple(key.scopes or ()),
    )


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(scope: str) -> Callable[[Principal], Principal]:
    """A dependency: the caller, who must hold ``scope`` (403 naming it otherwise)."""

    def check(principal: PrincipalDep) -> Principal:
        if not principal.may(scope):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"This API key (`{principal.key_id}`) lacks the scope `{scope}`; "
                f"it has: {', '.join(principal.scopes) or 'none'}. Create a key with it: "
                f"`forgeyard keys create {principal.tenant_id} --scope {scope}`.",
            )
        return principal

    return check


ReaderDep = Annotated[Principal, Depends(require("runs:read"))]
SubmitterDep = Annotated[Principal, Depends(require("runs:submit"))]
ApproverDep = Annotated[Principal, Depends(require("runs:approve"))]
LabellerDep = Annotated[Principal, Depends(require("labels:write"))]
AdminDep = Annotated[Principal, Depends(require("admin"))]
