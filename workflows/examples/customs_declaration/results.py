"""What the customs desk's tools return, declared so specs' paths into them are checked.

Plain dicts at run time; ``typing_extensions.TypedDict`` so pydantic describes
them as JSON Schema for the loader (``duties.customs_value_eur`` is checked).
"""

from __future__ import annotations

from typing import Any

from typing_extensions import TypedDict

__all__ = [
    "Classification",
    "Declaration",
    "Duties",
    "Filing",
    "Pending",
    "Screening",
    "Validation",
]


class Line(TypedDict):
    line: int
    description: str | None
    hs_code: str | None
    classified_by: str | None
    quantity: float | None
    unit_value: float | None
    net_weight_kg: float | None
    licence: str | None


class Declaration(TypedDict):
    """A normalised declaration."""

    importer_id: str
    country_of_origin: str
    incoterm: str
    currency: str
    freight_cost: float
    insurance_cost: float
    proof_of_origin: bool
    line_items: list[Line]


class Validation(TypedDict):
    """``customs.validate_declaration``."""

    valid: bool
    problems: list[str]
    questions: list[str]
    declaration: Declaration | None
    unclassified_lines: list[int]


class Option(TypedDict):
    hs_code: str
    description: str


class Pending(TypedDict):
    """``customs.next_to_classify``: the next line to classify, or ``done``."""

    done: bool
    line: int | None
    description: str | None
    candidates: list[str]
    options: list[Option]


class Classified(TypedDict):
    line: int
    hs_code: str
    classified_by: str


class Classification(TypedDict):
    """``customs.record_classification``."""

    lines: list[Classified]


class Controlled(TypedDict):
    line: int
    hs_code: str
    licence_type: str
    licence: str | None


class Screening(TypedDict):
    """``customs.screen``."""

    cleared: bool
    issues: list[str]
    licence_controlled: list[Controlled]


class DutyLine(TypedDict):
    line: int
    description: str | None
    hs_code: str
    classified_by: str | None
    invoice_value: float
    customs_value_eur: float
    duty_rate: float
    preference: str | None
    duty_eur: float


class Duties(TypedDict):
    """``customs.compute_duties``."""

    currency: str
    exchange_rate: float
    invoice_total: float
    transport_added: float
    customs_value_eur: float
    duty_eur: float
    vat_rate: float
    vat_eur: float
    total_due_eur: float
    lines: list[DutyLine]


class FiledLine(TypedDict):
    line: int
    hs_code: str
    classified_by: str | None
    customs_value_eur: float
    duty_eur: float


class Filing(TypedDict):
    """``customs.file_declaration``: the filed record."""

    reference: str
    idempotency_key: str
    run_id: str
    filed_at: str
    importer_id: str
    country_of_origin: str
    incoterm: str
    customs_value_eur: float
    duty_eur: float
    vat_eur: float
    total_due_eur: float
    lines: list[FiledLine]
    licences: list[Any]
    approved_by: str | None
