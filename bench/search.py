"""Run search: how a page's time grows from 1,000 to 100,000 runs in the database.

    python bench/search.py [--small 1000] [--large 100000] [--postgres URL] [--repeat 7]

A fresh database (SQLite in a temporary directory, or a new PostgreSQL
database on the server at ``--postgres``, dropped afterwards) is migrated and
filled with ``--small`` runs of one tenant (four steps each, a tenth of the
runs in a second tenant); each query below is timed (median of ``--repeat``,
a page of 50 through :func:`agents.search.search_runs`); then the database
is filled up to ``--large`` runs and the same queries are timed again. The
anchor is each query at ``--small`` runs; printed is the ratio large/small.
On PostgreSQL the tables are analysed after each fill (as autovacuum would
soon do in service). With the indexes of migration 0005 a page is read in
index order and its time stays flat; the field filters (``where``) have no
index and may scan the tenant's runs. Nothing is asserted about time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import insert, text  # noqa: E402

from agents.search import RunQuery, search_runs  # noqa: E402
from forgeyard import db  # noqa: E402
from forgeyard.models import Run, Step, WorkflowSpecRecord  # noqa: E402
from forgeyard.settings import get_settings  # noqa: E402

PORTS = ["CNSHA", "DEHAM", "NLRTM", "SGSIN", "USLAX", "BEANR", "KRPUS", "JPTYO"]
CARRIERS = ["MDOU", "MAEU", "NRDU", "HLCU"]
STATUSES = ["succeeded"] * 7 + ["failed", "waiting_approval", "cancelled"]
QUERIES: dict[str, dict[str, Any]] = {
    "newest first (no filter)": {},
    "status=failed": {"status": ["failed"]},
    "workflow=desk": {"workflow": "desk"},
    "reached=too_big": {"reached": "too_big"},
    "adapter=acme-v2": {"adapter": "acme-v2"},
    "where input.request.origin=CNSHA": {"where": ["input.request.origin=CNSHA"]},
    "where output.carrier=NRDU + status": {
        "where": ["output.carrier=NRDU"],
        "status": ["succeeded"],
    },
}


def fill(start: int, stop: int) -> None:
    """Runs ``start``..``stop``: one a minute, the newest last."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    engine = db.get_engine()
    batch = 5000
    for first in range(start, stop, batch):
        runs, steps = [], []
        for i in range(first, min(first + batch, stop)):
            run_id = uuid.uuid4().hex
            status = STATUSES[i % len(STATUSES)]
            big = i % 13 == 0
            created = t0 + timedelta(minutes=i)
            runs.append(
                {
                    "id": run_id,
                    "tenant_id": "acme" if i % 10 else "globex",
                    "workflow": "desk" if i % 3 else "other",
                    "workflow_version": "1",
                    "spec_hash": "bench",
                    "status": status,
                    "input": {"a": i, "request": {"origin": PORTS[i % len(PORTS)]}},
                    "config": {},
                    "output": {"carrier": CARRIERS[i % len(CARRIERS)]}
                    if status == "succeeded"
                    else None,
                    "created_at": created,
                    "finished_at": created + timedelta(seconds=30),
                    "updated_at": created,
                    "webhook_attempts": 0,
                    "executions": 1,
                }
            )
            adapter = ["acme-v1", "acme-v2", None][i % 3]
            for seq, (node, kind) in enumerate(
                [("add", "tool"), ("choose", "llm"), ("check", "route"), ("done", "end")], 1
            ):
                if big and node == "done":
                    node = "too_big"
                steps.append(
                    {
                        "run_id": run_id,
                        "seq": seq,
                        "node": node,
                        "kind": kind,
                        "visit": 0,
                        "attempt": 1,
                        "status": "ok",
                        "input": {"a": i},
                        "output": {"ok": True},
                        "model": "tiny" if kind == "llm" else None,
                        "adapter": adapter if kind == "llm" else None,
                        "started_at": created,
                    }
                )
        with engine.begin() as connection:
            connection.execute(insert(Run.__table__), runs)  # type: ignore[attr-defined]
            connection.execute(insert(Step.__table__), steps)  # type: ignore[attr-defined]


def analyse() -> None:
    # PostgreSQL's autovacuum gathers planner statistics soon after a bulk load;
    # without them the planner guesses a handful of rows and picks bitmap scans.
    # Done here at once so both sizes are timed with statistics, as in service.
    if db.get_engine().dialect.name == "postgresql":
        with db.get_engine().begin() as connection:
            connection.execute(text("ANALYZE runs"))
            connection.execute(text("ANALYZE steps"))


def timings(repeat: int) -> dict[str, float]:
    out = {}
    for name, filters in QUERIES.items():
        query = RunQuery.of(**filters)
        search_runs("acme", query, limit=50)  # warm the cache and the plan
        seconds = []
        for _ in range(repeat):
            start = time.perf_counter()
            page = search_runs("acme", query, limit=50)
            seconds.append(time.perf_counter() - start)
        assert page.runs, name  # every query finds something: a page is really read
        out[name] = statistics.median(seconds)
    return out


def use_database(url: str, data_dir: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["FORGEYARD_DATA_DIR"] = data_dir
    get_settings.cache_clear()
    db.get_engine.cache_clear()
    db.upgrade(url)
    with db.session_scope() as session:
        session.add(WorkflowSpecRecord(hash="bench", name="desk", version="1", source="{}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--postgres", help="postgresql://user@host:port/db of a server to make a database on"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        admin = None
        if args.postgres:
            import psycopg

            name = f"forgeyard_bench_{uuid.uuid4().hex[:8]}"
            admin = psycopg.connect(args.postgres, autocommit=True)
            admin.execute(f'CREATE DATABASE "{name}"')
            base = args.postgres.rsplit("/", 1)[0].split("://", 1)[1]
            url = f"postgresql+psycopg://{base}/{name}"
        else:
            url = f"sqlite:///{tmp}/bench.db"
        try:
            use_database(url, tmp)
            started = time.perf_counter()
            fill(0, args.small)
            analyse()
            small = timings(args.repeat)
            fill(args.small, args.large)
            filled = time.perf_counter() - started
            analyse()
            large = timings(args.repeat)
        finally:
            db.get_engine().dispose()
            if admin is not None:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.close()
    dialect = "PostgreSQL" if args.postgres else "SQLite"
    print(f"{dialect}: {args.small:,} vs {args.large:,} runs (filled in {filled:.0f} s)")
    print(f"{'query (page of 50, tenant acme)':40} {'small ms':>9} {'large ms':>9} {'ratio':>7}")
    for name in QUERIES:
        ratio = large[name] / small[name]
        print(f"{name:40} {small[name] * 1e3:9.2f} {large[name] * 1e3:9.2f} {ratio:7.2f}")


if __name__ == "__main__":
    main()
