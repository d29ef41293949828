"""`forgeyard beat` is the site's one sweeper; `forgeyard worker` no longer sweeps unless asked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.service import purge_queue, wait_for
from tests.worker.conftest import REPO

pytestmark = pytest.mark.integration


def _status(tenant, run_id: str) -> str:  # type: ignore[no-untyped-def]
    return tenant.get(f"/v1/runs/{run_id}").json()["status"]


def test_a_lost_message_is_sent_again_by_beat_not_by_a_plain_worker(
    tenant, start_worker, worker_env: dict[str, str], tmp_path: Path
):
    run_id = tenant.submit({"a": 1})["id"]
    purge_queue()  # the message is lost, as with a Redis restart
    start_worker(beat=False)
    # FORGEYARD_REQUEUE_AFTER_SECONDS is 3 and the sweep interval 1: a sweeper
    # would have sent the run again by now; a plain worker does not sweep.
    time.sleep(6)
    assert _status(tenant, run_id) == "queued"

    log_path = tmp_path / "beat.log"
    with log_path.open("wb") as log:
        beat = subprocess.Popen(
            [sys.executable, "-m", "forgeyard", "beat"],
            cwd=REPO,
            env=worker_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for(lambda: _status(tenant, run_id) == "succeeded", 60, "the swept run")
        except AssertionError:
            sys.stderr.write(log_path.read_text(errors="replace"))
            raise
        finally:
            os.killpg(beat.pid, signal.SIGTERM)
            beat.wait(timeout=15)
    assert "beat: Starting" in log_path.read_text()
