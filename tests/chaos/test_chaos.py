"""The chaos suite, small: a whole site survives killed, frozen and cut-off parts.

A site of its own (a private PostgreSQL cluster on its own port, a private
Redis, the API under uvicorn, Celery workers and beat, a stand-in model
server) runs booking runs submitted over HTTP while busy workers are
SIGKILLed at random points, a lease holder is frozen past its lease (twice),
Redis restarts, PostgreSQL is stopped for a while and the API is killed -9
during a burst of POSTs.  Afterwards: nothing lost, nothing done twice, no
500, no reset (``tests/support/chaos.py`` has the machinery; ``bench/chaos.py``
runs the same at a larger scale and prints the figures).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.support.chaos import ChaosPlan, run_chaos

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SMALL = ChaosPlan(
    runs=10,
    burst=6,
    kills=5,
    freezes=2,
    outage_seconds=8.0,
    workers=2,
    concurrency=2,
    seed=11,
)


@pytest.fixture
def site_tools() -> None:
    for tool in ("pg_createcluster", "pg_ctlcluster", "redis-server", "redis-cli"):
        if shutil.which(tool) is None:
            pytest.fail(f"`{tool}` is not installed; the chaos suite starts services of its own")


def test_the_site_keeps_its_guarantees_under_chaos(site_tools, tmp_path: Path) -> None:
    report, logs = run_chaos(SMALL, tmp_path / "chaos", log=lambda m: sys.stderr.write(m + "\n"))
    summary = "\n".join(report.lines())
    sys.stderr.write(summary + "\n")

    # The faults happened as planned.
    assert report.total_kills >= 5, summary
    assert len(report.freezes) == 2 and report.redis_restarts == 1, summary
    assert report.outage_seconds >= SMALL.outage_seconds and report.outage_503s > 0, summary
    assert report.api_kills == 1, summary
    # Every run accepted finished, and finished well; nothing was done twice.
    assert report.submitted >= SMALL.runs + SMALL.burst + SMALL.freezes, summary
    assert report.lost == [] and report.stuck == [] and report.failed == [], summary
    assert set(report.bookings_per_run) == {1}, summary  # at least one booking, none doubled
    assert report.booked_without_booking == [] and report.booking_without_booked == []
    assert report.duplicate_ok_steps == [] and report.ledger_duplicates == [], summary
    assert report.ledger_pending == [], summary
    assert dict(report.runs_per_key) == {1: report.submitted}, summary  # one run per key
    # Every answer was an answer: no 500, every 5xx a 503 with Retry-After, no reset.
    traffic = report.traffic
    assert traffic.statuses[500] == 0 and traffic.bad_5xx == [], summary
    assert traffic.resets == 0 and traffic.timeouts == 0, summary
    # The frozen worker, twice: one ok step per visit, at most one model call past
    # the boundary, one webhook, one booking.
    for round_ in report.freezes:
        assert round_.problems == [], (round_, logs[-20000:])
    assert report.problems() == [], logs[-20000:]
