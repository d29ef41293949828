"""The booking record the `logistics.book` tool writes: the example's one real effect."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from forgeyard.models import utcnow


class Booking(SQLModel, table=True):
    __tablename__ = "bookings"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(unique=True, max_length=32)
    # The effects-ledger key of the call that made it: a retried call finds
    # its booking instead of making a second one.
    idempotency_key: str = Field(unique=True, max_length=300)
    run_id: str | None = Field(default=None, index=True, max_length=32)
    quote_id: str = Field(max_length=64)
    carrier: str = Field(max_length=100)
    origin: str = Field(max_length=5)
    destination: str = Field(max_length=5)
    container_type: str = Field(max_length=16)
    containers: int
    sailing_date: str = Field(max_length=10)
    price_usd: float
    hazardous: bool = False
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
