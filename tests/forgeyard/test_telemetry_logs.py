"""FORGEYARD_LOG_FORMAT: JSON lines carrying the run context, or plain text."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.runner import execute_run, start_run
from forgeyard.models import RunStatus
from forgeyard.telemetry import context
from forgeyard.telemetry.logs import configure_logging
from tests.support.specs import spec_yaml
from workflows.loader import load_spec_text

REPO = Path(__file__).resolve().parents[2]


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


@pytest.mark.parametrize(
    "setup",
    [
        "import api.main",  # the API configures logging at import (each uvicorn process)
        # A worker: Celery's setup_logging hook, as `celery worker` sends it.
        "from celery import signals; import worker.app; "
        "signals.setup_logging.send(sender=None, loglevel='INFO', logfile=None, "
        "format='', colorize=False)",
    ],
    ids=["api", "worker"],
)
def test_the_api_and_the_workers_apply_the_json_format(setup, tmp_path):
    code = f"{setup}; import logging; logging.getLogger('forgeyard.x').info('hello')"
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO),
        "FORGEYARD_LOG_FORMAT": "json",
        "FORGEYARD_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert {"logger": "forgeyard.x", "message": "hello", "level": "INFO"}.items() <= lines[
        -1
    ].items()
