"""FORGEYARD_LOG_FORMAT: JSON lines carrying the run context, or plain text."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from agents.runner import execute_run, start_run
from forgeyard.models import RunStatus
from forgeyard.telemetry import context
from forgeyard.telemetry.logs import configure_logging
from tests.support.specs import spec_yaml
from workflows.loader import load_spec_text


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    yield stream
    for handler in [h for h in root.handlers if getattr(h, "_forgeyard_handler", False)]:
        root.removeHandler(handler)
    root.setLevel(level)


def test_a_run_with_json_logs_writes_parseable_lines_with_run_tenant_and_node(sqlite_db, captured):
    configure_logging("json", "INFO", stream=captured)
    run = start_run(load_spec_text(spec_yaml()), {"a": 2, "b": 1}, tenant_id="acme")
    assert execute_run(run.id).status == RunStatus.succeeded

    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    steps = [line for line in lines if line["logger"] == "forgeyard.agents"]
    assert [line["node"] for line in steps] == ["add", "check", "pay", "gate", "done"]
    for line in steps:
        assert line["run_id"] == run.id
        assert line["tenant_id"] == "acme"
        assert line["attempt"] == 1
        assert line["level"] == "INFO" and line["time"]
    # Outside the run the context is gone again.
    assert context.current() == {}


def test_text_logs_are_plain_lines(captured):
    configure_logging("text", "INFO", stream=captured)
    with context.bound(run_id="r1"):
        logging.getLogger("forgeyard.test").info("hello %s", "there")
    line = captured.getvalue().strip()
    assert line.endswith("INFO forgeyard.test: hello there")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_configuring_twice_keeps_one_handler(captured):
    configure_logging("text", "INFO", stream=captured)
    configure_logging("json", "INFO", stream=captured)
    logging.getLogger("forgeyard.test").warning("once")
    assert len(captured.getvalue().splitlines()) == 1
