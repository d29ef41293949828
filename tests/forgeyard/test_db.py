"""Schema upgrades: many processes may start at once on a fresh database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from forgeyard import db

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.integration
def test_concurrent_upgrades_of_a_fresh_postgres_database_all_succeed(empty_postgres):
    # What a site's first start does: API, workers and the migration Job each
    # migrate.  Without the advisory lock most of these fail on duplicate tables.
    code = f"from forgeyard import db; db.upgrade({empty_postgres!r})"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0, 0], "\n".join(outputs)
    assert db.current_revision(empty_postgres) == db.head_revision()
