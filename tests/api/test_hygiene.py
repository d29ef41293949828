"""Input hygiene: bodies no store can hold are 422s naming the field, and nothing is created.

Bodies are sent as raw JSON text, since an HTTP client's own JSON encoder
refuses a lone surrogate before it could reach the server.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlmodel import SQLModel, select

from api.hygiene import _parse_problem
from forgeyard.db import session_scope
from forgeyard.models import Run, WorkflowRegistration
from forgeyard.records.rewards import LabelRecord, RewardModelRecord
from forgeyard.records.training import TrainingJobRecord
from tests.support.specs import spec_yaml

BIG = str(10**40)


def _count(table: type[SQLModel]) -> int:
    with session_scope() as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


def _post_raw(tenant, url: str, text: str):  # type: ignore[no-untyped-def]
    return tenant.post(url, content=text.encode(), headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ('{"input": {"a": 1, "b": "\\ud800"}}', "input.b", "invalid Unicode"),
        ('{"input": {"a": "x\\u0000y"}}', "input.a", "NUL"),
        ('{"input": {"\\udfff": 1}}', "input.\\udfff", "invalid Unicode"),
        (f'{{"input": {{"a": {BIG}}}}}', "input.a", "64-bit"),
        (f'{{"input": {{"a": -{BIG}}}}}', "input.a", "64-bit"),
        ('{"input": {"a": 1e999}}', "input.a", "not finite"),
        ('{"input": {"a": NaN}}', "body", "NaN is not a JSON number"),
        ('{"input": {"a": 1}, "config": {"limit": [1, "\\ud800"]}}', "config.limit[1]", "Unicode"),
        ('{"input": {"a": 1}, "config": {"limit": "lots"}}', "config.limit", "must be a number"),
    ],
)
def test_a_run_body_nothing_can_store_is_a_422_naming_the_field(tenant, body, field, says):
    response = _post_raw(tenant, "/v1/workflows/adder/runs", body)
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    assert problems[0]["field"] == field and says in problems[0]["message"]
    assert _count(Run) == 0  # nothing created, nothing sent to a worker


def test_the_largest_and_smallest_64_bit_integers_pass(tenant):
    for value in (2**63 - 1, -(2**63)):
        response = _post_raw(tenant, "/v1/workflows/adder/runs", f'{{"input": {{"a": {value}}}}}')
        assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    ("url", "body", "field", "table"),
    [
        ("/v1/workflows", '{"yaml": "name: x\\u0000"}', "yaml", WorkflowRegistration),
        ("/v1/reward-models", '{"yaml": "name: \\ud800"}', "yaml", RewardModelRecord),
        ("/v1/runs/r1/labels", '{"score": 0.5, "note": "\\ud800"}', "note", LabelRecord),
        (
            "/v1/training-jobs",
            f'{{"reward_model": "x", "base_model": "m", "max_steps": {BIG}}}',
            "max_steps",
            TrainingJobRecord,
        ),
    ],
)
def test_every_body_that_stores_json_gets_the_same_checks(tenant, url, body, field, table):
    before = _count(table)
    response = _post_raw(tenant, url, body)
    assert response.status_code == 422, response.text
    assert response.json()["problems"][0]["field"] == field
    assert _count(table) == before


def test_the_shipped_threshold_must_be_a_number(tenant):
    body = {
        "input": {"text": "Two 40HC containers of furniture from Shanghai to Rotterdam, ready now"},
        "config": {"approval_threshold_usd": "lots"},
    }
    response = tenant.post("/v1/workflows/logistics_booking/runs", json=body)
    assert response.status_code == 422, response.text
    problem = response.json()["problems"][0]
    assert problem["field"] == "config.approval_threshold_usd"
    assert "must be a number like its default 20000" in problem["message"]
    assert _count(Run) == 0


def test_valid_unicode_and_config_overrides_still_pass(tenant):
    assert _parse_problem('{"note": "\\ud83d\\ude00 \u00e9\u4e2d"}'.encode()) is None
    response = tenant.post(
        "/v1/workflows/adder/runs", json={"input": {"a": 1}, "config": {"limit": 2.5}}
    )
    assert response.status_code == 202, response.text
    assert tenant.post("/v1/workflows", json={"yaml": spec_yaml(version="2")}).status_code in (
        200,
        201,
    )
