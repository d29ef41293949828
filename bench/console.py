"""The ops console's runs page with many runs: time per page at 1,000 and at 100,000 runs.

    python bench/console.py [--small 1000] [--large 100000] [--repeat 20] [--db sqlite|URL]

One tenant's runs are written straight into a fresh database (SQLite file by
default, or the PostgreSQL URL given), then the console's ``/ui/runs`` page is
asked for in-process (an httpx client on the ASGI app, logged in): the first
page, a page 10 cursors deep, and a search by status and workflow. Each is
timed ``--repeat`` times at both sizes; printed: min / median / max in ms and
the ratio of the medians (large / small). A page that reads only its 50 rows
through the (tenant, created_at) index stays flat; one that scanned would grow
about 100 x. On PostgreSQL the table is ANALYZEd after the bulk load, as autovacuum
would soon do (without it the planner guesses from empty-table statistics).
Nothing is asserted about time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _fill(count: int, start: int, tenant: str, spec_hash: str) -> None:
    from sqlalchemy import insert, text

    from forgeyard.db import get_engine
    from forgeyard.models import Run, RunStatus, utcnow

    statuses = [RunStatus.succeeded, RunStatus.failed, RunStatus.waiting_approval]
    base = utcnow() - timedelta(days=30)
    rows: list[dict[str, Any]] = []
    with get_engine().begin() as conn:
        for i in range(start, start + count):
            created = base + timedelta(seconds=i)
            rows.append(
                {
                    "id": uuid.uuid4().hex,
                    "tenant_id": tenant,
                    "workflow": "logistics_booking" if i % 2 else "other",
                    "workflow_version": "1.0",
                    "spec_hash": spec_hash,
                    "status": statuses[i % 3],
                    "input": {"request": {"origin": "CNSHA", "n": i}},
                    "config": {},
                    "created_at": created,
                    "updated_at": created,
                }
            )
            if len(rows) == 5000:
                conn.execute(insert(Run), rows)
                rows = []
        if rows:
            conn.execute(insert(Run), rows)
    if get_engine().dialect.name == "postgresql":
        # What autovacuum does soon after a bulk load: fresh statistics for the planner.
        with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("ANALYZE runs"))


def _times(client: Any, url: str, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = client.get(url)
        out.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.text[:500]
    return out


def _deep_url(client: Any, pages: int) -> str:
    import re

    url = "/ui/runs"
    for _ in range(pages):
        found = re.search(r'rel="next" href="([^"]+)"', client.get(url).text)
        assert found, "ran out of pages"
        url = found.group(1).replace("&amp;", "&")
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--db", default="sqlite")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="fy-bench-console-"))
    url = f"sqlite:///{tmp / 'forgeyard.db'}" if args.db == "sqlite" else args.db
    os.environ["DATABASE_URL"] = url
    os.environ["FORGEYARD_DATA_DIR"] = str(tmp)

    from fastapi.testclient import TestClient

    from api.main import create_app
    from forgeyard import db
    from forgeyard.db import session_scope
    from forgeyard.models import WorkflowSpecRecord
    from forgeyard.tenants import create_key, create_tenant
    from tests.support.console import login

    db.upgrade(url)
    tenant = create_tenant(f"bench-{uuid.uuid4().hex[:6]}")
    key = create_key(tenant.id)
    with session_scope() as session:
        spec = WorkflowSpecRecord(hash="b" * 64, name="logistics_booking", version="1.0", source="")
        session.add(spec)
    client = TestClient(create_app())
    login(client, key.token)

    pages = {
        "first page": "/ui/runs",
        "10 pages deep": None,
        "status+workflow": "/ui/runs?status=failed&workflow=logistics_booking",
    }
    results: dict[str, dict[str, list[float]]] = {name: {} for name in pages}
    done = 0
    print(f"database: {url.split('://')[0]}; {args.repeat} requests per page and size")
    for size in (args.small, args.large):
        started = time.perf_counter()
        _fill(size - done, done, tenant.id, "b" * 64)
        done = size
        print(f"  {size:,} runs written in {time.perf_counter() - started:.1f} s")
        for name, page_url in pages.items():
            target = page_url or _deep_url(client, 10)
            results[name][str(size)] = _times(client, target, args.repeat)
    print(f"{'page':<18} {'runs':>8} {'min ms':>8} {'median':>8} {'max':>8}")
    for name, by_size in results.items():
        for size, values in by_size.items():
            print(
                f"{name:<18} {int(size):>8,} {min(values):8.1f} "
                f"{statistics.median(values):8.1f} {max(values):8.1f}"
            )
        small, large = (statistics.median(by_size[str(s)]) for s in (args.small, args.large))
        print(f"{name:<18} ratio {args.large:,} / {args.small:,} runs: {large / small:.2f}")


if __name__ == "__main__":
    main()
