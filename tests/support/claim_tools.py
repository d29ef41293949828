"""Tools of the marine cargo claim spec the typo checks run on (tests/workflows/test_paths.py)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from typing_extensions import TypedDict

from workflows.tools import tool


class Policy(BaseModel):
    """What ``claims.check_policy`` returns: a pydantic model, stored as its JSON."""

    policy_id: str
    covered: bool
    limit_usd: float
    exclusions: list[str] = []


class Survey(TypedDict):
    damage_usd: float
    cause: str


class Assessment(TypedDict):
    payable_usd: float
    survey: Survey


@tool("claims.check_policy")
def check_policy(claim: dict) -> Policy:
    """Whether the policy covers the claim."""
    return Policy(policy_id=claim.get("policy", "P-1"), covered=True, limit_usd=50000)


@tool("claims.assess")
def assess(claim: dict, limit_usd: float) -> Assessment:
    """The payable amount."""
    damage = float(claim.get("damage_usd", 0))
    return {"payable_usd": min(damage, limit_usd), "survey": {"damage_usd": damage, "cause": "wet"}}


@tool(
    "claims.file",
    returns={
        "type": "object",
        "properties": {"claim_ref": {"type": "string"}},
        "required": ["claim_ref"],
    },
)
def file(amount: float) -> dict[str, Any]:
    """File the payout (declared by a JSON Schema)."""
    return {"claim_ref": f"CLM-{int(amount)}"}


@tool("claims.notes")
def notes(claim: dict) -> dict[str, Any]:
    """Free-form notes: no declared result type."""
    return {"text": str(claim)}
