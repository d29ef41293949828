"""Run search: every filter, together, over JSON fields, paginated; bad filters named.

Each test runs on SQLite and on PostgreSQL (the `any_db` fixture): the JSON
comparisons are each database's own operators.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect

from agents.runner import RunNotFound, start_run
from agents.search import (
    AmbiguousRunId,
    CursorInvalid,
    QueryInvalid,
    RunQuery,
    parse_where,
    resolve_run,
    search_runs,
)
from forgeyard.db import get_engine
from forgeyard.models import Run
from tests.support.runs import desk_spec, record_desk_run, set_times

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


@dataclass
class Corpus:
    cnsha: Run  # succeeded, answered by adapter acme-v2, output carrier MDOU
    deham: Run  # succeeded, base model, carrier MAEU
    big: Run  # succeeded at too_big (a > limit)
    queued: Run  # never executed, submitted with an idempotency key
    other_workflow: Run
    other_tenant: Run


@pytest.fixture
def corpus(any_db: str) -> Corpus:
    cnsha = record_desk_run(
        {"a": 2, "request": {"origin": "CNSHA", "containers": 2}, "tags": ["reefer", "rush"]},
        tenant_id="acme",
        adapter="acme-v2",
        carrier="MDOU",
    )
    deham = record_desk_run(
        {"a": 3, "request": {"origin": "DEHAM", "containers": 10}, "rush": True, "note": None},
        tenant_id="acme",
        carrier="MAEU",
        model_name="tiny-other",
    )
    big = record_desk_run({"a": 50, "request": {"origin": "1"}}, tenant_id="acme")
    queued = record_desk_run(
        {"a": 4.5, "request": {"origin": "CNSHA"}},
        tenant_id="acme",
        key="order-4711",
        execute=False,
    )
    other_workflow = record_desk_run({"a": 2}, tenant_id="acme", spec=desk_spec("desk2"))
    other_tenant = record_desk_run(
        {"a": 2, "request": {"origin": "CNSHA"}}, tenant_id="globex", adapter="acme-v2"
    )
    corpus = Corpus(cnsha, deham, big, queued, other_workflow, other_tenant)
    # One run a day, finishing an hour after it started (the queued one never does).
    for day, run in enumerate([cnsha, deham, big, queued, other_workflow, other_tenant]):
        created = T0 + timedelta(days=day)
        finished = None if run is queued else created + timedelta(hours=1)
        set_times(run.id, created=created, finished=finished)
    return corpus


def ids(tenant: str | None = "acme", **filters) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.id for r in search_runs(tenant, RunQuery.of(**filters), limit=200).runs]


def test_each_filter_alone(corpus: Corpus) -> None:
    c = corpus
    acme_all = [c.other_workflow.id, c.queued.id, c.big.id, c.deham.id, c.cnsha.id]
    assert ids() == acme_all  # newest first, this tenant's only
    assert ids(status=["queued"]) == [c.queued.id]
    assert ids(status=["queued", "succeeded"]) == acme_all
    assert ids(status=["failed"]) == []
    assert ids(workflow="desk2") == [c.other_workflow.id]
    assert ids(idempotency_key="order-4711") == [c.queued.id]
    assert ids(idempotency_key="order-0") == []
    # Inclusive after, exclusive before.
    assert ids(created_after=T0 + timedelta(days=1)) == acme_all[:4]
    assert ids(created_before=T0 + timedelta(days=1)) == [c.cnsha.id]
    assert ids(finished_after=T0 + timedelta(days=2)) == [c.other_workflow.id, c.big.id]
    assert ids(finished_before=T0 + timedelta(hours=2)) == [c.cnsha.id]
    # A naive datetime is UTC.
    assert ids(created_before=datetime(2026, 11, 4, 9, 0)) == [c.cnsha.id]
    assert ids(adapter="acme-v2") == [c.cnsha.id]
    assert ids(model="tiny-other") == [c.deham.id]
    assert ids(adapter="acme-v2", node="choose") == [c.cnsha.id]
    assert ids(adapter="acme-v2", node="add") == []
    assert ids(reached="too_big") == [c.big.id]
    assert ids(reached="choose") == [c.other_workflow.id, c.big.id, c.deham.id, c.cnsha.id]
    # The operator's view (no tenant): everyone's runs.
    assert ids(None, adapter="acme-v2") == [c.other_tenant.id, c.cnsha.id]


def test_where_on_input_and_output_fields(corpus: Corpus) -> None:
    c = corpus
    assert ids(where=["input.request.origin=CNSHA"]) == [c.queued.id, c.cnsha.id]
    assert ids(where=["output.carrier=MDOU"]) == [c.other_workflow.id, c.cnsha.id]
    assert ids(where=["output.carrier=MAEU"]) == [c.deham.id]
    # Numbers match by value, whatever their spelling; arrays by index.
    assert ids(where=["input.a=3"]) == [c.deham.id]
    assert ids(where=["input.a=3.0"]) == [c.deham.id]
    assert ids(where=["input.a=4.5"]) == [c.queued.id]
    assert ids(where=["input.request.containers=10"]) == [c.deham.id]
    assert ids(where=["input.tags.1=rush"]) == [c.cnsha.id]
    assert ids(where=["input.rush=true"]) == [c.deham.id]
    assert ids(where=["input.note=null"]) == [c.deham.id]
    # A numeric value also matches a string of that text; a non-number string
    # next to a numeric value is no error (PostgreSQL would refuse to cast it).
    assert ids(where=["input.request.origin=1"]) == [c.big.id]
    assert ids(where=["output.rejected=50"]) == [c.big.id]
    assert ids(where=["input.a=CNSHA"]) == []
    # A missing field, or an unfinished run's output, matches nothing.
    assert ids(where=["input.nope.deeper=1"]) == []
    assert ids(where=["output.a=4.5"]) == []
    # Several where filters all hold.
    assert ids(where=["input.request.origin=CNSHA", "output.carrier=MDOU"]) == [c.cnsha.id]


def test_filters_combine(corpus: Corpus) -> None:
    c = corpus
    assert ids(status=["succeeded"], where=["input.request.origin=CNSHA"]) == [c.cnsha.id]
    assert ids(
        workflow="desk",
        reached="done",
        created_after=T0 + timedelta(hours=1),
        where=["output.carrier=MAEU"],
    ) == [c.deham.id]
    assert ids(adapter="acme-v2", where=["output.carrier=MAEU"]) == []
    assert ids("globex", adapter="acme-v2", where=["input.request.origin=CNSHA"]) == [
        c.other_tenant.id
    ]


def test_pagination_keeps_order_across_pages_and_ties(corpus: Corpus) -> None:
    # Equal creation times: the id breaks the tie, no run is skipped or repeated.
    for run in (corpus.cnsha, corpus.deham, corpus.big):
        set_times(run.id, created=T0, finished=T0)
    expected = ids(reached="choose")
    seen, cursor = [], None
    while True:
        page = search_runs("acme", RunQuery.of(reached="choose"), cursor=cursor, limit=2)
        assert len(page.runs) <= 2
        seen += [r.id for r in page.runs]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == expected and len(seen) == 4


@pytest.mark.parametrize(
    ("text", "field", "needle"),
    [
        ("input.a", "where", "expected FIELD=VALUE"),
        ("state.a=1", "where", "starts with `input.` or `output.`"),
        ("input=1", "where", "name a field inside input"),
        ("input..a=1", "where", "path segment ``"),
        ('input.a"b=1', "where", 'path segment `a"b`'),
        ("input.$.a=1", "where", "path segment `$`"),
        ("input.a=x\x00", "where", "NUL"),
        ("input.a=\ud800", "where", "lone surrogate"),
    ],
)
def test_malformed_where_is_refused_naming_the_field(any_db: str, text, field, needle) -> None:
    with pytest.raises(QueryInvalid) as raised:
        RunQuery.of(where=[text])
    assert raised.value.field == field and needle in str(raised.value)


def test_other_bad_filters_are_refused_naming_the_field(any_db: str) -> None:
    cases = [
        (dict(status=["bogus"]), "status"),
        (dict(node="choose"), "node"),
        (dict(workflow="a\x00"), "workflow"),
        (dict(adapter="\udc80"), "adapter"),
        (dict(created_after=T0, created_before=T0), "created_before"),
        (dict(where=[f"input.a={i}" for i in range(21)]), "where"),
    ]
    for filters, field in cases:
        with pytest.raises(QueryInvalid) as raised:
            RunQuery.of(**filters)
        assert raised.value.field == field, filters
    with pytest.raises(CursorInvalid):
        search_runs("acme", cursor="%%%")
    with pytest.raises(QueryInvalid) as raised:
        search_runs("acme", limit=0)
    assert raised.value.field == "limit"


def test_parse_where_keeps_everything_after_the_first_equals_sign() -> None:
    match = parse_where("input.formula=a=b")
    assert (match.root, match.path, match.value) == ("input", ("formula",), "a=b")
    assert parse_where("output.items.0.sku=X").path == ("items", 0, "sku")


def test_resolve_run_by_unique_prefix(any_db: str) -> None:
    spec = desk_spec()
    made = [
        start_run(spec, {"a": 1}, tenant_id="acme", fields={"id": run_id})
        for run_id in ("abc10000", "abc20000", "abd30000")
    ]
    assert resolve_run("abc10000").id == made[0].id
    assert resolve_run("abd").id == made[2].id
    assert resolve_run("abc2", tenant_id="acme").id == made[1].id
    with pytest.raises(AmbiguousRunId) as raised:
        resolve_run("ab")
    assert raised.value.candidates == ["abc10000", "abc20000", "abd30000"]
    assert "abc20000" in str(raised.value)
    with pytest.raises(RunNotFound, match="No run `zz`"):
        resolve_run("zz")
    with pytest.raises(RunNotFound):
        resolve_run("abd", tenant_id="globex")
    # LIKE wildcards in a prefix are literal.
    with pytest.raises(RunNotFound):
        resolve_run("a%")


def test_the_search_indexes_exist(any_db: str) -> None:
    inspector = inspect(get_engine())
    runs = {i["name"]: i["column_names"] for i in inspector.get_indexes("runs")}
    steps = {i["name"]: i["column_names"] for i in inspector.get_indexes("steps")}
    assert runs["ix_runs_tenant_created"] == ["tenant_id", "created_at", "id"]
    assert runs["ix_runs_tenant_status_created"] == ["tenant_id", "status", "created_at"]
    assert runs["ix_runs_tenant_workflow_created"] == ["tenant_id", "workflow", "created_at"]
    assert runs["ix_runs_tenant_finished"] == ["tenant_id", "finished_at"]
    assert steps["ix_steps_run_node"] == ["run_id", "node"]
    assert steps["ix_steps_adapter_run"] == ["adapter", "run_id"]
    assert steps["ix_steps_model_run"] == ["model", "run_id"]


def test_migration_0005_goes_down_and_up_again(any_db: str) -> None:
    from alembic import command
    from alembic.config import Config

    from forgeyard.db import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", any_db)
    cfg.attributes["configure_logger"] = False
    get_engine().dispose()
    command.downgrade(cfg, "0004")

    def names() -> set[str]:
        return {i["name"] for i in inspect(get_engine()).get_indexes("runs")}

    assert "ix_runs_tenant_created" not in names() and "ix_runs_tenant_id" in names()
    command.upgrade(cfg, "head")
    assert "ix_runs_tenant_created" in names()
