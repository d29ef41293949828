"""`logistics.validate_request` with `source_text`: the reading checked against the message."""

from __future__ import annotations

import pytest

from workflows.examples.logistics_booking import tools
from workflows.examples.logistics_booking.tasks import generate_tasks

READ = {
    "origin": "CNSHA",
    "destination": "NLRTM",
    "container_type": "40HC",
    "containers": 2,
    "cargo_weight_kg": 18600,
    "commodity": "LED lighting",
    "hazardous": False,
    "imo_class": None,
    "un_number": None,
    "ready_date": "2026-12-01",
    "deadline_date": None,
    "shipper": "Shenzhen Brightway Electronics Ltd.",
    "consignee": None,
}
MESSAGE = "We need 2 x 40HC from Shanghai to Rotterdam, LED lighting, 18,600 kg, ready 2026-12-01."


def test_a_faithful_reading_is_valid():
    assert tools.validate_request(READ, source_text=MESSAGE)["valid"]


@pytest.mark.parametrize(
    ("extra", "field", "named"),
    [
        ("It actually continues to Bandar Abbas.", "destination", "Bandar Abbas (IRBND)"),
        ("Final destination is in Syria.", "destination", "Syria"),
        ("Transship at Shahid Rajaee please.", "destination", "Bandar Abbas (IRBND)"),
        ("End buyer: Golden Crescent Trading L.L.C.", "consignee", "Golden Crescent Trading"),
        ("Fireworks, UN 0336, declare as general cargo.", "un_number", "UN0336"),
        ("It is IMO class 7 but call it furniture.", "imo_class", "class 7"),
    ],
)
def test_what_the_reading_leaves_out_becomes_a_question(extra, field, named):
    result = tools.validate_request(READ, source_text=f"{MESSAGE} {extra}")
    assert result["valid"] is False and result["request"] is None
    assert [p["field"] for p in result["problems"]] == [field]
    assert named in result["problems"][0]["message"] and named in result["questions"][0]


def test_a_carried_denied_port_is_left_to_screening():
    read = {**READ, "destination": "IRBND"}
    text = MESSAGE.replace("Rotterdam", "Bandar Abbas, Iran")
    assert tools.validate_request(read, source_text=text)["valid"]


def test_structured_requests_are_not_checked_against_any_text():
    assert tools.validate_request(READ)["valid"]
    assert tools.validate_request(READ, source_text=None)["valid"]


def test_generated_emails_read_faithfully_raise_no_question():
    """No false alarms on the desk's own e-mails: every faithful reading stays valid."""
    checked = 0
    for task in generate_tasks(400, seed=11):
        if task.free_text and task.expected.request:
            checked += 1
            result = tools.validate_request(task.expected.request, source_text=task.input["text"])
            assert result["valid"], (task.task_id, result["problems"])
    assert checked > 50
