"""Tools of the customs_declaration workflow: an import customs declaration desk.

Data (``data/``): ``tariff.csv`` (HS subheadings, keywords, third-country duty
rates, licence requirements) and ``rules.json`` (VAT rate, exchange rates,
incoterms, known countries, embargoed origins, preferential-origin rules).
See ``data/README.md``.

Money is computed with ``Decimal`` and returned as floats rounded to cents
(state and the effects ledger need plain JSON).
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import json
import os
import re
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from workflows.tools import ToolContext, ToolError, tool

from .results import Classification, Duties, Filing, Pending, Screening, Validation

DATA_DIR = Path(__file__).resolve().parent / "data"
CENT = Decimal("0.01")
EORI_RE = re.compile(r"^[A-Z]{2}[A-Z0-9]{1,15}$")
HS_RE = re.compile(r"^[0-9]{6}([0-9]{2,4})?$")
FILINGS_FILE = "declarations.jsonl"


# --------------------------------------------------------------------- data


@lru_cache(maxsize=1)
def tariff() -> dict[str, dict[str, Any]]:
    """HS code (6 digits) -> heading row."""
    rows: dict[str, dict[str, Any]] = {}
    with open(DATA_DIR / "tariff.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            rows[row["hs_code"]] = {
                "hs_code": row["hs_code"],
                "description": row["description"],
                "keywords": [k.strip().lower() for k in row["keywords"].split(";") if k.strip()],
                "duty_rate": Decimal(row["duty_rate"]),
                "licence": row["licence"] or None,
            }
    return rows


@lru_cache(maxsize=1)
def rules() -> dict[str, Any]:
    with open(DATA_DIR / "rules.json", encoding="utf-8") as fh:
        return json.load(fh)


def _money(value: Decimal) -> float:
    return float(value.quantize(CENT, rounding=ROUND_HALF_UP))


def _number(value: Any) -> Decimal | None:
    """A positive-or-zero number from a JSON number or a numeric string, else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            return Decimal(value.strip().replace(",", ""))
        except Exception:  # noqa: BLE001 - any unparsable text is "not a number"
            return None
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


# --------------------------------------------------------------- validation


@tool("customs.validate_declaration", returns=Validation)
def validate_declaration(declaration: dict[str, Any] | None) -> dict[str, Any]:
    """Check a declaration: normalised, or the problems and questions for the importer."""
    decl = declaration if isinstance(declaration, dict) else {}
    r = rules()
    problems: list[str] = []
    questions: list[str] = []

    importer = _text(decl.get("importer_id"))
    if importer is None:
        problems.append("importer_id: missing")
        questions.append("What is the importer's EORI number (e.g. DE123456789012345)?")
    else:
        importer = importer.upper().replace(" ", "")
        if not EORI_RE.match(importer):
            problems.append(f"importer_id: `{importer}` is not an EORI number")
            questions.append(
                f"`{importer}` is not a valid EORI number: "
                "what is the importer's EORI (two-letter country code + up to 15 characters)?"
            )

    origin = _text(decl.get("country_of_origin"))
    if origin is None:
        problems.append("country_of_origin: missing")
        questions.append("What is the country of origin of the goods (ISO code, e.g. CN)?")
    else:
        origin = origin.upper()
        if origin not in r["countries"]:
            problems.append(f"country_of_origin: `{origin}` is not a known ISO 3166 alpha-2 code")
            questions.append(
                f"`{origin}` is not a country code we know: what is the country of origin "
                "(two-letter ISO code)?"
            )

    incoterm = _text(decl.get("incoterm"))
    if incoterm is None:
        problems.append("incoterm: missing")
        questions.append("Under which Incoterm were the goods sold (e.g. FOB, CIF, DAP)?")
    else:
        incoterm = incoterm.upper()
        if incoterm not in r["incoterms"]:
            problems.append(f"incoterm: `{incoterm}` is not an Incoterms 2020 rule")
            questions.append(
                f"`{incoterm}` is not an Incoterm: which one applies ({', '.join(r['incoterms'])})?"
            )

    currency = _text(decl.get("currency"))
    if currency is None:
        problems.append("currency: missing")
        questions.append("In which currency is the invoice (e.g. USD)?")
    else:
        currency = currency.upper()
        if currency not in r["exchange_rates_to_eur"]:
            problems.append(f"currency: no exchange rate for `{currency}`")
            questions.append(
                f"We have no customs exchange rate for `{currency}`: can you provide the "
                f"invoice in one of {', '.join(sorted(r['exchange_rates_to_eur']))}?"
            )

    freight = _number(decl.get("freight_cost"))
    insurance = _number(decl.get("insurance_cost"))
    if decl.get("freight_cost") is not None and (freight is None or freight < 0):
        problems.append("freight_cost: not a non-negative number")
        questions.append(
            "What was the freight cost to the EU border (a number in the invoice currency)?"
        )
    elif incoterm in r["incoterms_adding_freight"] and freight is None:
        problems.append(
            f"freight_cost: required for {incoterm} "
            "(freight to the EU border is part of the customs value)"
        )
        questions.append(
            f"The goods were sold {incoterm}: what did freight to the EU border cost "
            "(in the invoice currency)?"
        )
    if decl.get("insurance_cost") is not None and (insurance is None or insurance < 0):
        problems.append("insurance_cost: not a non-negative number")
        questions.append("What was the insurance cost (a number in the invoice currency)?")

    items = decl.get("line_items")
    lines: list[dict[str, Any]] = []
    if not isinstance(items, list) or not items:
        problems.append("line_items: missing or empty")
        questions.append(
            "Which goods are in the shipment (description, quantity, unit value, net weight)?"
        )
        items = []
    for i, item in enumerate(items, start=1):
        item = item if isinstance(item, dict) else {}
        desc = _text(item.get("description"))
        if desc is None:
            problems.append(f"line_items[{i}].description: missing")
            questions.append(f"Line {i}: what are the goods (a plain description)?")
        qty = _number(item.get("quantity"))
        if qty is None or qty <= 0:
            problems.append(f"line_items[{i}].quantity: missing or not a positive number")
            questions.append(f"Line {i}: how many units ({desc or 'goods'})?")
        unit_value = _number(item.get("unit_value"))
        if unit_value is None or unit_value < 0:
            problems.append(f"line_items[{i}].unit_value: missing or not a non-negative number")
            questions.append(
                f"Line {i}: what is the unit price on the invoice ({desc or 'goods'})?"
            )
        weight = _number(item.get("net_weight_kg"))
        if weight is None or weight <= 0:
            problems.append(f"line_items[{i}].net_weight_kg: missing or not a positive number")
            questions.append(f"Line {i}: what is the net weight in kg ({desc or 'goods'})?")
        hs = _text(item.get("hs_code"))
        if hs is not None:
            hs = hs.replace(".", "").replace(" ", "")
            if not HS_RE.match(hs):
                problems.append(f"line_items[{i}].hs_code: `{hs}` is not a 6-, 8- or 10-digit code")
                questions.append(
                    f"Line {i}: `{hs}` is not an HS code: what is it (or leave it empty "
                    "and we will classify)?"
                )
                hs = None
            elif hs[:6] not in tariff():
                problems.append(f"line_items[{i}].hs_code: `{hs}` is not in our tariff table")
                questions.append(
                    f"Line {i}: HS code `{hs}` is not in our tariff table: please confirm "
                    "the code, or leave it empty and we will classify."
                )
                hs = None
            else:
                hs = hs[:6]
        lines.append(
            {
                "line": i,
                "description": desc,
                "hs_code": hs,
                "classified_by": "importer" if hs else None,
                "quantity": float(qty) if qty is not None else None,
                "unit_value": float(unit_value) if unit_value is not None else None,
                "net_weight_kg": float(weight) if weight is not None else None,
                "licence": _text(item.get("licence")),
            }
        )

    valid = not problems
    normalised = (
        {
            "importer_id": importer,
            "country_of_origin": origin,
            "incoterm": incoterm,
            "currency": currency,
            "freight_cost": float(freight) if freight is not None else 0.0,
            "insurance_cost": float(insurance) if insurance is not None else 0.0,
            "proof_of_origin": bool(decl.get("proof_of_origin")),
            "line_items": lines,
        }
        if valid
        else None
    )
    return {
        "valid": valid,
        "problems": problems,
        "questions": questions,
        "declaration": normalised,
        "unclassified_lines": [ln["line"] for ln in lines if not ln["hs_code"]] if valid else [],
    }


# ----------------------------------------------------------- classification


def candidates_for(description: str | None) -> list[str]:
    """HS codes whose keywords occur in the description; every code when none does."""
    text = (description or "").lower()
    words = set(re.findall(r"[a-z0-9-]+", text))
    found = []
    for code, row in tariff().items():
        for kw in row["keywords"]:
            if (" " in kw and kw in text) or kw in words:
                found.append(code)
                break
    return found or sorted(tariff())


def _codes(classified: Any) -> dict[int, str]:
    out: dict[int, str] = {}
    for entry in classified or []:
        if isinstance(entry, dict) and entry.get("hs_code"):
            out[int(entry["line"])] = str(entry["hs_code"])
    return out


@tool("customs.next_to_classify", returns=Pending)
def next_to_classify(
    declaration: dict[str, Any], classified: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """The next line without an HS code, with the candidate codes from the tariff table."""
    done = _codes(classified)
    for ln in declaration["line_items"]:
        if ln["hs_code"] or ln["line"] in done:
            continue
        codes = candidates_for(ln["description"])
        return {
            "done": False,
            "line": ln["line"],
            "description": ln["description"],
            "candidates": codes,
            "options": [{"hs_code": c, "description": tariff()[c]["description"]} for c in codes],
        }
    return {"done": True, "line": None, "description": None, "candidates": [], "options": []}


@tool("customs.record_classification", returns=Classification)
def record_classification(
    classified: list[dict[str, Any]] | None, line: int, hs_code: str, candidates: list[str]
) -> dict[str, Any]:
    """Add the model's code for one line to the classifications made so far."""
    if hs_code not in candidates:
        raise ToolError(f"refusing HS code {hs_code!r} for line {line}: not one of {candidates}")
    kept = [e for e in (classified or []) if int(e["line"]) != int(line)]
    kept.append({"line": int(line), "hs_code": hs_code, "classified_by": "model"})
    return {"lines": sorted(kept, key=lambda e: e["line"])}


def classified_lines(declaration: dict[str, Any], classified: Any) -> list[dict[str, Any]]:
    """The declaration's lines with every HS code filled in (importer's or model's)."""
    codes = _codes(classified)
    lines = []
    for ln in declaration["line_items"]:
        ln = dict(ln)
        if not ln["hs_code"]:
            if ln["line"] not in codes:
                raise ToolError(f"line {ln['line']} has no HS code and was not classified")
            ln["hs_code"] = codes[ln["line"]]
            ln["classified_by"] = "model"
        lines.append(ln)
    return lines


# ---------------------------------------------------------------- screening


@tool("customs.screen", returns=Screening)
def screen(declaration: dict[str, Any], classified: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Embargoed origins and licence-controlled goods: cleared, or the issues refusing entry."""
    r = rules()
    issues: list[str] = []
    controlled: list[dict[str, Any]] = []
    origin = declaration["country_of_origin"]
    if origin in r["embargoed_origins"]:
        issues.append(f"origin {origin}: {r['embargoed_origins'][origin]}")
    for ln in classified_lines(declaration, classified):
        licence_type = tariff()[ln["hs_code"]]["licence"]
        if licence_type is None:
            continue
        controlled.append(
            {
                "line": ln["line"],
                "hs_code": ln["hs_code"],
                "licence_type": licence_type,
                "licence": ln["licence"],
            }
        )
        if not ln["licence"]:
            issues.append(
                f"line {ln['line']} ({ln['hs_code']}, {ln['description']}): needs a "
                f"{r['licences'][licence_type]}; none was given"
            )
    return {"cleared": not issues, "issues": issues, "licence_controlled": controlled}


# ------------------------------------------------------------------- duties


def _preference(origin: str, hs_code: str, proof: bool) -> dict[str, Any] | None:
    if not proof:
        return None
    chapter = int(hs_code[:2])
    for pref in rules()["preferences"]:
        if origin not in pref["origins"]:
            continue
        chapters = pref["chapters"]
        if chapters != "all" and not (chapters[0] <= chapter <= chapters[1]):
            continue
        return pref
    return None


@tool("customs.compute_duties", returns=Duties)
def compute_duties(
    declaration: dict[str, Any], classified: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """Customs value (CIF, EUR), duty per line (preferential where proven), VAT and totals."""
    r = rules()
    fx = Decimal(str(r["exchange_rates_to_eur"][declaration["currency"]]))
    vat_rate = Decimal(str(r["vat_rate"]))
    lines = classified_lines(declaration, classified)
    values = [Decimal(str(ln["quantity"])) * Decimal(str(ln["unit_value"])) for ln in lines]
    invoice_total = sum(values, Decimal(0))
    transport = Decimal(0)
    if declaration["incoterm"] in r["incoterms_adding_freight"]:
        transport = Decimal(str(declaration["freight_cost"])) + Decimal(
            str(declaration["insurance_cost"])
        )
    out_lines = []
    customs_value = duty = Decimal(0)
    for ln, value in zip(lines, values, strict=True):
        share = transport * value / invoice_total if invoice_total else Decimal(0)
        line_cv = ((value + share) * fx).quantize(CENT, rounding=ROUND_HALF_UP)
        row = tariff()[ln["hs_code"]]
        rate = row["duty_rate"]
        pref = _preference(
            declaration["country_of_origin"], ln["hs_code"], declaration["proof_of_origin"]
        )
        if pref is not None:
            rate = (
                Decimal(str(pref["rate"]))
                if "rate" in pref
                else max(Decimal(0), rate - Decimal(str(pref["reduction"])))
            )
        line_duty = (line_cv * rate).quantize(CENT, rounding=ROUND_HALF_UP)
        customs_value += line_cv
        duty += line_duty
        out_lines.append(
            {
                "line": ln["line"],
                "description": ln["description"],
                "hs_code": ln["hs_code"],
                "classified_by": ln["classified_by"],
                "invoice_value": _money(value),
                "customs_value_eur": _money(line_cv),
                "duty_rate": float(rate),
                "preference": pref["name"] if pref else None,
                "duty_eur": _money(line_duty),
            }
        )
    vat = ((customs_value + duty) * vat_rate).quantize(CENT, rounding=ROUND_HALF_UP)
    return {
        "currency": declaration["currency"],
        "exchange_rate": float(fx),
        "invoice_total": _money(invoice_total),
        "transport_added": _money(transport),
        "customs_value_eur": _money(customs_value),
        "duty_eur": _money(duty),
        "vat_rate": float(vat_rate),
        "vat_eur": _money(vat),
        "total_due_eur": _money(duty + vat),
        "lines": out_lines,
    }


# ------------------------------------------------------------------- filing


def default_filings_dir() -> Path:
    """``$FORGEYARD_DATA_DIR/customs_filings`` (Forgeyard's data directory)."""
    try:
        from forgeyard.settings import get_settings

        return Path(get_settings().data_dir) / "customs_filings"
    except Exception:  # noqa: BLE001 - fall back to the documented default
        return Path(os.environ.get("FORGEYARD_DATA_DIR", ".forgeyard")) / "customs_filings"


def read_filings(filings_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Every declaration filed in the directory (for tests and operators)."""
    path = Path(filings_dir or default_filings_dir()) / FILINGS_FILE
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@tool("customs.file_declaration", side_effect=True, returns=Filing)
def file_declaration(
    declaration: dict[str, Any],
    duties: dict[str, Any],
    screening: dict[str, Any],
    approval: dict[str, Any] | None,
    filings_dir: str | None = None,
    *,
    ctx: ToolContext,
) -> dict[str, Any]:
    """Lodge the declaration: one record per idempotency key, however often it is called.

    Records are JSON lines in ``<filings_dir>/declarations.jsonl`` (default
    ``$FORGEYARD_DATA_DIR/customs_filings``), written under an exclusive file
    lock after looking for an earlier record with the same key.
    """
    if not ctx.idempotency_key:
        raise ToolError("refusing to file without an idempotency key")
    if not screening or not screening.get("cleared"):
        raise ToolError("refusing to file a declaration that did not clear screening")
    if approval is not None and not approval.get("approved"):
        raise ToolError("refusing to file a declaration that was not approved")
    directory = Path(filings_dir or default_filings_dir())
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILINGS_FILE
    with open(directory / (FILINGS_FILE + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for record in read_filings(directory):
            if record["idempotency_key"] == ctx.idempotency_key:
                return record
        record = {
            "reference": "IMD-"
            + hashlib.sha256(ctx.idempotency_key.encode()).hexdigest()[:10].upper(),
            "idempotency_key": ctx.idempotency_key,
            "run_id": ctx.run_id,
            "filed_at": datetime.now(UTC).isoformat(),
            "importer_id": declaration["importer_id"],
            "country_of_origin": declaration["country_of_origin"],
            "incoterm": declaration["incoterm"],
            "customs_value_eur": duties["customs_value_eur"],
            "duty_eur": duties["duty_eur"],
            "vat_eur": duties["vat_eur"],
            "total_due_eur": duties["total_due_eur"],
            "lines": [
                {
                    k: ln[k]
                    for k in ("line", "hs_code", "classified_by", "customs_value_eur", "duty_eur")
                }
                for ln in duties["lines"]
            ],
            "licences": [c["licence"] for c in screening.get("licence_controlled", [])],
            "approved_by": (approval or {}).get("by"),
        }
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    return record
