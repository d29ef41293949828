"""The logistics booking tools on the real reference data."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import Session, create_engine, select

from workflows.examples.logistics_booking import tools
from workflows.examples.logistics_booking._validate import MISSING_QUESTIONS
from workflows.examples.logistics_booking.models import Booking
from workflows.tools import ToolContext, ToolError, registry

EXAMPLE = Path(tools.__file__).parent
DROP = object()  # marks a field the factory leaves out


def make_request(**overrides: Any) -> dict[str, Any]:
    """A valid Shanghai → Rotterdam request; ``field=DROP`` leaves a field out."""
    request = {
        "origin": "CNSHA",
        "destination": "NLRTM",
        "container_type": "40HC",
        "containers": 4,
        "cargo_weight_kg": 52000,
        "commodity": "furniture",
        "hazardous": False,
        "ready_date": "2026-11-30",
        "deadline_date": None,
        "shipper": "Ningbo Evergrand Furniture Co., Ltd.",
        "consignee": "Nordic Home Retail AB",
    }
    request.update(overrides)
    return {k: v for k, v in request.items() if v is not DROP}


def make_dg_request(**overrides: Any) -> dict[str, Any]:
    return make_request(
        **{
            "destination": "DEHAM",
            "container_type": "20GP",
            "containers": 2,
            "cargo_weight_kg": 31500,
            "commodity": "paint",
            "hazardous": True,
            "imo_class": "3",
            "un_number": "UN1263",
            **overrides,
        }
    )


def normalized(**overrides: Any) -> dict[str, Any]:
    result = tools.validate_request(make_request(**overrides))
    assert result["valid"], result["problems"]
    return result["request"]


def example_input(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLE / "inputs" / f"{name}.json").read_text())


# --- validate_request -------------------------------------------------------------------


def test_valid_request_is_normalized() -> None:
    result = tools.validate_request(
        make_request(
            origin="shanghai",
            destination="Port of Rotterdam",
            container_type="40' HC",
            containers="4",
            cargo_weight_kg="52,000 kg",
            hazardous="no",
            ready_date="2026-11-30",
            deadline_date="2027-01-20",
            commodity="  flat-pack   furniture ",
        )
    )
    assert result == {
        "valid": True,
        "request": {
            "origin": "CNSHA",
            "destination": "NLRTM",
            "container_type": "40HC",
            "containers": 4,
            "cargo_weight_kg": 52000.0,
            "commodity": "flat-pack furniture",
            "hazardous": False,
            "imo_class": None,
            "un_number": None,
            "ready_date": "2026-11-30",
            "deadline_date": "2027-01-20",
            "shipper": "Ningbo Evergrand Furniture Co., Ltd.",
            "consignee": "Nordic Home Retail AB",
        },
        "problems": [],
        "questions": [],
    }


@pytest.mark.parametrize(
    ("text", "locode"),
    [
        ("cnsha", "CNSHA"),
        ("CN SHA", "CNSHA"),
        ("Shanghai (CNSHA)", "CNSHA"),
        ("Hamburg, Germany", "DEHAM"),
        ("Saigon", "VNSGN"),
        ("Ho Chi Minh", "VNSGN"),
        ("JNPT", "INNSA"),
        ("Antwerpen", "BEANR"),
        ("Rotterdam Maasvlakte", "NLRTM"),
    ],
)
def test_port_names_and_aliases_resolve(text: str, locode: str) -> None:
    assert (
        normalized(origin=text, destination="USLAX" if locode == "NLRTM" else "NLRTM")["origin"]
        == locode
    )


@pytest.mark.parametrize(
    ("text", "code"),
    [("40ft high cube", "40HC"), ("40HQ", "40HC"), ("20' dry", "20GP"), ("45G1", "40HC"),
     ("40' reefer", "40RF"), ("20 ft standard", "20GP"), ("40 foot GP containers", "40GP")],
)  # fmt: skip
def test_container_spellings_resolve(text: str, code: str) -> None:
    assert normalized(container_type=text, cargo_weight_kg=20000)["container_type"] == code


def test_ambiguous_port_becomes_a_question() -> None:
    result = tools.validate_request(make_request(origin="Port"))
    assert result["valid"] is False
    assert [p["field"] for p in result["problems"]] == ["origin"]
    assert "Port Klang (MYPKG)" in result["problems"][0]["message"]
    assert "Port Said (EGPSD)" in result["problems"][0]["message"]
    assert result["questions"][0].startswith("We could not identify the loading port 'Port'")


def test_unknown_port_names_what_was_given() -> None:
    result = tools.validate_request(make_request(destination="Reykjavik"))
    assert [p["field"] for p in result["problems"]] == ["destination"]
    assert "'Reykjavik'" in result["questions"][0]


REQUIRED = [
    "origin",
    "destination",
    "container_type",
    "containers",
    "cargo_weight_kg",
    "commodity",
    "ready_date",
    "shipper",
]


@pytest.mark.parametrize("field", REQUIRED)
@pytest.mark.parametrize("absent", [DROP, None, "  "])
def test_each_missing_field_yields_one_problem_and_its_question(field: str, absent: Any) -> None:
    result = tools.validate_request(make_request(**{field: absent}))
    assert result["valid"] is False
    assert result["request"] is None
    assert result["problems"] == [{"field": field, "message": f"`{field}` is missing."}]
    expected = MISSING_QUESTIONS[field].format(types="20GP, 40GP, 40HC, 20RF, 40RF, 45HC")
    assert result["questions"] == [expected]


def test_missing_destination_question_is_plain_english() -> None:
    result = tools.validate_request(make_request(destination=DROP))
    assert result["questions"] == [
        "Which destination port should the cargo go to? Please give the port name or its UN/LOCODE."
    ]


def test_all_missing_fields_are_asked_for_in_field_order() -> None:
    result = tools.validate_request({})
    assert [p["field"] for p in result["problems"]] == REQUIRED
    assert len(result["questions"]) == len(REQUIRED)


def test_hazardous_cargo_needs_class_and_un_number() -> None:
    result = tools.validate_request(make_request(hazardous=True))
    assert [p["field"] for p in result["problems"]] == ["imo_class", "un_number"]
    assert "IMO dangerous-goods class" in result["questions"][0]
    assert "UN number" in result["questions"][1]


def test_dangerous_goods_spellings_are_normalized() -> None:
    result = tools.validate_request(make_dg_request(imo_class="Class 3", un_number="un 1263"))
    assert (result["request"]["imo_class"], result["request"]["un_number"]) == ("3", "UN1263")


def test_class_given_without_flag_counts_as_dangerous_goods() -> None:
    request = make_dg_request(hazardous=DROP)
    assert tools.validate_request(request)["request"]["hazardous"] is True


def test_un_number_contradicting_declared_class_is_asked_about() -> None:
    result = tools.validate_request(make_dg_request(imo_class="8"))
    assert [p["field"] for p in result["problems"]] == ["imo_class"]
    assert "UN1263 (PAINT) is class 3, not class 8" in result["problems"][0]["message"]


def test_non_hazardous_with_un_number_is_a_contradiction() -> None:
    result = tools.validate_request(make_dg_request(hazardous=False))
    assert [p["field"] for p in result["problems"]] == ["hazardous"]


def test_overweight_per_container_is_rejected() -> None:
    # 20GP carries at most 28,230 kg: 2 boxes take 56,460 kg, not a kilo more.
    at_limit = make_request(container_type="20GP", containers=2, cargo_weight_kg=56460)
    assert tools.validate_request(at_limit)["valid"] is True
    result = tools.validate_request({**at_limit, "cargo_weight_kg": "56,470 kg"})
    assert [p["field"] for p in result["problems"]] == ["cargo_weight_kg"]
    assert "28,230 kg" in result["problems"][0]["message"]
    assert "too heavy for 2 x 20GP" in result["questions"][0]


@pytest.mark.parametrize("weight", ["1,5 t", "-3", "heavy", True, 0])
def test_unreadable_weights_are_problems(weight: Any) -> None:
    result = tools.validate_request(make_request(cargo_weight_kg=weight))
    assert [p["field"] for p in result["problems"]] == ["cargo_weight_kg"]


def test_weight_in_tonnes_is_converted() -> None:
    assert normalized(cargo_weight_kg="52.5 t")["cargo_weight_kg"] == 52500.0


@pytest.mark.parametrize("count", [0, 51, "two", True, 2.5])
def test_container_count_must_be_1_to_50(count: Any) -> None:
    result = tools.validate_request(make_request(containers=count))
    assert [p["field"] for p in result["problems"]] == ["containers"]


def test_deadline_must_follow_ready_date() -> None:
    result = tools.validate_request(make_request(deadline_date="2026-11-30"))
    assert [p["field"] for p in result["problems"]] == ["deadline_date"]


def test_same_origin_and_destination_is_a_problem() -> None:
    result = tools.validate_request(make_request(destination="Shanghai"))
    assert [p["field"] for p in result["problems"]] == ["destination"]


@pytest.mark.parametrize("request_", [None, "CNSHA to NLRTM", ["CNSHA"]])
def test_validate_raises_only_for_a_non_object(request_: Any) -> None:
    with pytest.raises(ToolError, match="needs `request` to be an object"):
        tools.validate_request(request_)


# --- quote ------------------------------------------------------------------------------


def _csv_rows(name: str) -> list[dict[str, str]]:
    with (EXAMPLE / "data" / name).open(newline="") as f:
        return list(csv.DictReader(f))


def test_quotes_are_sorted_complete_and_deterministic() -> None:
    request = tools.validate_request(example_input("structured")["request"])["request"]
    first, again = tools.quote(request), tools.quote(request)
    assert first == again
    quotes = first["quotes"]
    assert first["count"] == len(quotes) == 9  # three carriers, three sailings each
    assert [q["carrier"] for q in quotes].count("NRDU") == 3
    keys = [(q["price_usd"], q["eta"]) for q in quotes]
    assert keys == sorted(keys)
    assert len({q["quote_id"] for q in quotes}) == len(quotes)
    for q in quotes:
        etd, eta = date.fromisoformat(q["etd"]), date.fromisoformat(q["eta"])
        year, week, _ = etd.isocalendar()
        assert q["sailing_week"] == f"{year}-W{week:02d}"
        assert q["quote_id"] == f"Q-{q['carrier']}-{year}W{week:02d}-40HC"
        assert etd >= date(2026, 11, 30)
        assert (eta - etd).days == q["transit_days"]
        assert q["price_usd"] == q["price_per_container_usd"] * 8
    nrdu = [date.fromisoformat(q["etd"]) for q in quotes if q["carrier"] == "NRDU"]
    assert sorted(nrdu) == [nrdu[0] + timedelta(weeks=k) for k in range(3)]


def test_quote_total_matches_the_rate_files() -> None:
    request = tools.validate_request(example_input("structured")["request"])["request"]
    quotes = {q["quote_id"]: q for q in tools.quote(request)["quotes"]}
    rate = next(
        r
        for r in _csv_rows("rates.csv")
        if (r["carrier"], r["origin"], r["destination"], r["container_type"])
        == ("NRDU", "asia", "europe", "40HC")
    )
    year_end = next(s for s in _csv_rows("season_surcharges.csv") if s["code"] == "YES")
    assert int(year_end["week_from"]) <= 49 <= int(year_end["week_to"])
    # Sailing week 49: base + bunker + year-end surcharge for two TEU, times 8 boxes.
    per_box = int(rate["base_usd"]) + int(rate["baf_usd"]) + 2 * int(year_end["usd_per_teu"])
    assert per_box == 2160 + 480 + 200
    q = quotes["Q-NRDU-2026W49-40HC"]
    assert (q["price_per_container_usd"], q["price_usd"]) == (per_box, per_box * 8)
    assert [c["code"] for c in q["charges"]] == ["BAS", "BAF", "YES"]


def test_peak_season_and_port_specific_rates_apply() -> None:
    # Week 37 is Asia-Europe peak season (PSS 300/TEU); Felixstowe has its own NRDU rate.
    request = normalized(destination="GBFXT", container_type="20GP", ready_date="2026-09-07")
    q = next(q for q in tools.quote(request)["quotes"] if q["quote_id"] == "Q-NRDU-2026W37-20GP")
    assert {c["code"]: c["usd_per_container"] for c in q["charges"]} == {
        "BAS": 1320,
        "BAF": 250,
        "PSS": 300,
    }


def test_dangerous_goods_surcharge_is_added_per_container() -> None:
    request = tools.validate_request(example_input("hazardous")["request"])["request"]
    q = next(q for q in tools.quote(request)["quotes"] if q["carrier"] == "MDOU")
    dgs = [c["usd_per_container"] for c in q["charges"] if c["code"] == "DGS"]
    assert dgs == [600]  # class 6 in dangerous_goods.json
    assert q["price_usd"] == 2 * sum(c["usd_per_container"] for c in q["charges"])


@pytest.mark.parametrize(("origin", "destination"), [("BRSSZ", "AUSYD"), ("ZADUR", "USNYC")])
def test_unserved_lane_has_no_quotes(origin: str, destination: str) -> None:
    assert tools.quote(normalized(origin=origin, destination=destination)) == {
        "quotes": [],
        "count": 0,
    }


def test_deadline_marks_late_sailings() -> None:
    quotes = tools.quote(normalized(deadline_date="2027-01-20"))["quotes"]
    late = {q["quote_id"] for q in quotes if not q["meets_deadline"]}
    assert late == {q["quote_id"] for q in quotes if q["eta"] > "2027-01-20"}
    assert late and len(late) < len(quotes)
    assert all(q["meets_deadline"] for q in tools.quote(normalized())["quotes"])


def test_quote_refuses_an_invalid_request() -> None:
    with pytest.raises(ToolError, match="destination: `destination` is missing"):
        tools.quote(make_request(destination=DROP))


# --- screen -----------------------------------------------------------------------------


def screened(request: dict[str, Any]) -> dict[str, Any]:
    valid = tools.validate_request(request)["request"]
    return tools.screen(valid, tools.quote(valid)["quotes"])


def test_clean_request_is_cleared_with_every_quote_eligible() -> None:
    result = screened(make_request())
    assert result["cleared"] is True and result["issues"] == [] and result["rejected"] == []
    assert result["eligible_quote_ids"] == [q["quote_id"] for q in result["eligible_quotes"]]
    assert len(result["eligible_quote_ids"]) == 9


def test_sanctioned_destination_is_not_cleared() -> None:
    result = screened(make_request(destination="IRBND", container_type="20GP"))
    assert result["cleared"] is False
    assert result["eligible_quotes"] == [] and result["eligible_quote_ids"] == []
    assert len(result["rejected"]) == 3  # the quotes exist; compliance stops them
    assert "Iran (IR), a denied country" in result["issues"][0]
    assert "267/2012" in result["issues"][0]


def test_denied_port_is_not_cleared() -> None:
    result = screened(make_request(destination="RUVVO", container_type="20GP"))
    assert result["cleared"] is False
    assert result["issues"] == [
        "Destination port RUVVO (Vladivostok) is a denied port: Company policy TC-7.2: no "
        "bookings to or from Russian ports (EU Council Regulation (EU) No 833/2014 export "
        "restrictions)."
    ]


def test_denied_consignee_is_not_cleared_despite_spelling() -> None:
    result = screened(make_request(consignee="GOLDEN CRESCENT TRADING L.L.C."))
    assert result["cleared"] is False
    assert "denied party 'Golden Crescent Trading LLC' (DP-0007)" in result["issues"][0]


def test_similar_but_different_party_is_cleared() -> None:
    assert screened(make_request(consignee="Golden Harvest Trading LLC"))["cleared"] is True


def test_forbidden_dangerous_goods_class_is_not_cleared() -> None:
    result = screened(make_dg_request(imo_class="1.4", un_number="UN0336", commodity="fireworks"))
    assert result["cleared"] is False and result["hazardous"] is True
    assert result["issues"][0].startswith("IMO class 1.4 (Explosives) is not carried")


def test_carrier_refusing_a_class_is_rejected_others_stay() -> None:
    result = screened(example_input("hazardous")["request"])
    assert result["cleared"] is True and result["hazardous"] is True
    assert {r["quote_id"].split("-")[1] for r in result["rejected"]} == {"PCLU"}
    assert all("does not accept IMO class 6" in r["reason"] for r in result["rejected"])
    assert {q["carrier"] for q in result["eligible_quotes"]} == {"NRDU", "MDOU"}


def test_quotes_without_capacity_are_rejected() -> None:
    # 35 x 40HC = 70 TEU: PCLU's AEU2 holds 60 TEU per sailing, NRDU 80, MDOU 90.
    result = screened(make_request(containers=35, cargo_weight_kg=350000))
    reasons = {r["quote_id"]: r["reason"] for r in result["rejected"]}
    assert {qid.split("-")[1] for qid in reasons} == {"PCLU"}
    assert all(r.startswith("no capacity: needs 70 TEU") for r in reasons.values())
    assert all(q["capacity_ok"] for q in result["eligible_quotes"])


def test_late_quotes_stay_eligible_and_say_so() -> None:
    result = screened(make_request(deadline_date="2027-01-20"))
    late = [q for q in result["eligible_quotes"] if not q["meets_deadline"]]
    assert result["rejected"] == [] and len(late) == 3


# --- book -------------------------------------------------------------------------------


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    Booking.__table__.create(engine)  # type: ignore[attr-defined]
    with Session(engine) as s:
        yield s
    engine.dispose()


def _ctx(session: Session | None, key: str = "run-1:book:0") -> ToolContext:
    return ToolContext(run_id="run-1", node="book", idempotency_key=key, session=session)


def _request_and_quote(**overrides: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    request = normalized(**overrides)
    return request, screened(request)["eligible_quotes"][0]


def _count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Booking)).one()


def test_book_writes_one_booking_and_returns_it(session: Session) -> None:
    request, chosen = _request_and_quote()
    booking = tools.book(request, chosen, ctx=_ctx(session))
    assert booking == {
        "booking_reference": tools.booking_reference("run-1:book:0"),
        "quote_id": chosen["quote_id"],
        "carrier": chosen["carrier"],
        "carrier_name": chosen["carrier_name"],
        "origin": "CNSHA",
        "destination": "NLRTM",
        "container_type": "40HC",
        "containers": 4,
        "etd": chosen["etd"],
        "eta": chosen["eta"],
        "price_usd": float(chosen["price_usd"]),
        "hazardous": False,
    }
    assert re.fullmatch(r"FYB-[0-9A-F]{8}", booking["booking_reference"])
    row = session.exec(select(Booking)).one()
    assert (row.idempotency_key, row.run_id, row.sailing_date) == (
        "run-1:book:0",
        "run-1",
        chosen["etd"],
    )


def test_book_retried_with_the_same_key_books_once(session: Session) -> None:
    request, chosen = _request_and_quote()
    first = tools.book(request, chosen, ctx=_ctx(session))
    session.commit()
    second = tools.book(request, chosen, ctx=_ctx(session))
    assert second == first
    assert _count(session) == 1


def test_book_with_different_keys_books_twice(session: Session) -> None:
    request, chosen = _request_and_quote()
    a = tools.book(request, chosen, ctx=_ctx(session, "run-1:book:0"))
    b = tools.book(request, chosen, ctx=_ctx(session, "run-2:book:0"))
    assert a["booking_reference"] != b["booking_reference"]
    assert _count(session) == 2


def test_book_leaves_the_commit_to_the_caller(session: Session) -> None:
    request, chosen = _request_and_quote()
    tools.book(request, chosen, ctx=_ctx(session))
    session.rollback()
    assert _count(session) == 0


def test_book_needs_a_session(session: Session) -> None:
    request, chosen = _request_and_quote()
    with pytest.raises(ToolError, match="needs a database session"):
        tools.book(request, chosen, ctx=_ctx(None))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"origin": "CNNGB"}, "has origin='CNNGB' but the request gives 'CNSHA'"),
        ({"destination": "DEHAM"}, "has destination='DEHAM'"),
        ({"price_usd": 1}, "has price_usd=1"),
        ({"quote_id": "Q-XXXX-2026W49-40HC"}, "is not offered for CNSHA→NLRTM"),
    ],
)
def test_book_refuses_a_quote_that_is_not_for_the_request(
    session: Session, change: dict[str, Any], message: str
) -> None:
    request, chosen = _request_and_quote()
    with pytest.raises(ToolError, match=re.escape(message)):
        tools.book(request, {**chosen, **change}, ctx=_ctx(session))
    assert _count(session) == 0


def test_book_refuses_a_quote_of_another_request(session: Session) -> None:
    _, other = _request_and_quote(containers=2, cargo_weight_kg=20000)
    request, _ = _request_and_quote()
    with pytest.raises(ToolError, match="has containers=2"):
        tools.book(request, other, ctx=_ctx(session))


def test_book_rechecks_compliance(session: Session) -> None:
    request = normalized(destination="IRBND", container_type="20GP")
    chosen = tools.quote(request)["quotes"][0]
    with pytest.raises(ToolError, match="Shipment not cleared: Destination port IRBND"):
        tools.book(request, chosen, ctx=_ctx(session))
    dg = tools.validate_request(example_input("hazardous")["request"])["request"]
    refused = next(q for q in tools.quote(dg)["quotes"] if q["carrier"] == "PCLU")
    with pytest.raises(ToolError, match="rejected by screening: Pacific Crest Lines"):
        tools.book(dg, refused, ctx=_ctx(session))
    assert _count(session) == 0


def test_tools_are_registered_with_their_contracts() -> None:
    expected = {
        "logistics.validate_request": (False, ["request", "source_text"]),
        "logistics.quote": (False, ["request"]),
        "logistics.screen": (False, ["request", "quotes"]),
        "logistics.book": (True, ["request", "quote"]),
    }
    for name, (side_effect, params) in expected.items():
        t = registry.get(name)
        assert (t.side_effect, t.parameters) == (side_effect, params), name
