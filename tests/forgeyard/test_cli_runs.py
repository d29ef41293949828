"""`forgeyard runs list|show|approve|resume|diff`: filters, full ids, id prefixes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from agents.runner import execute_run, start_run
from forgeyard.app import console as console_module
from forgeyard.app.cli import app
from forgeyard.app.moments import parse_moment
from forgeyard.models import RunStatus
from tests.support.runs import desk_spec, record_desk_run, set_times
from tests.support.specs import spec_yaml
from workflows.loader import load_spec_text

cli = CliRunner()


@pytest.fixture
def narrow_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console_module.console, "width", 80)


def test_runs_list_filters_and_prints_full_ids_at_80_columns(any_db, narrow_terminal):
    now = datetime.now(UTC)
    old = record_desk_run({"a": 2, "request": {"origin": "CNSHA"}}, tenant_id="acme")
    mdou = record_desk_run({"a": 3, "request": {"origin": "CNSHA"}}, tenant_id="acme")
    maeu = record_desk_run({"a": 4}, tenant_id="globex", carrier="MAEU", adapter="globex-v1")
    queued = record_desk_run({"a": 5}, tenant_id="acme", key="order-4711", execute=False)
    set_times(old.id, created=now - timedelta(days=3), finished=now - timedelta(days=3))

    def listed(*args: str) -> list[str]:
        result = cli.invoke(app, ["runs", "list", *args, "--json"])
        assert result.exit_code == 0, result.output
        return [r["id"] for r in json.loads(result.output)["items"]]

    assert listed() == [queued.id, maeu.id, mdou.id, old.id]
    assert listed("--status", "queued") == [queued.id]
    assert listed("--status", "queued", "--status", "succeeded", "--tenant", "acme") == [
        queued.id,
        mdou.id,
        old.id,
    ]
    assert listed("--since", "2d") == [queued.id, maeu.id, mdou.id]
    assert listed("--until", "1d") == [old.id]
    assert listed("--since", (now - timedelta(days=4)).date().isoformat(), "--limit", "1") == [
        queued.id
    ]
    assert listed("--key", "order-4711") == [queued.id]
    assert listed("--where", "input.request.origin=CNSHA", "--where", "input.a=3") == [mdou.id]
    assert listed("--where", "output.carrier=MAEU") == [maeu.id]
    assert listed("--adapter", "globex-v1", "--node", "choose") == [maeu.id]
    assert listed("--model", "tiny-desk", "--reached", "done", "--workflow", "desk") == [
        maeu.id,
        mdou.id,
        old.id,
    ]

    table = cli.invoke(app, ["runs", "list", "--limit", "2"])
    assert table.exit_code == 0, table.output
    assert queued.id in table.output and maeu.id in table.output  # whole, on one line
    assert max(len(line) for line in table.output.splitlines() if "more:" not in line) <= 80
    assert "more: add --cursor " in table.output
    cursor = table.output.split("--cursor ", 1)[1].split()[0]
    rest = cli.invoke(app, ["runs", "list", "--limit", "2", "--cursor", cursor, "--json"])
    assert [r["id"] for r in json.loads(rest.output)["items"]] == [mdou.id, old.id]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--since", "yesterday"], "--since: `yesterday` is neither an age"),
        (["--where", "input.a"], "where: `input.a`: expected FIELD=VALUE"),
        (["--where", "order.a=1"], "starts with `input.` or `output.`"),
        (["--status", "done"], "status: `done` is not a run status"),
        (["--node", "choose"], "node: says where `adapter` or `model` answered"),
        (["--limit", "0"], "limit: must be between 1 and 200"),
        (["--cursor", "nope"], "cursor: not a cursor of this search"),
    ],
)
def test_runs_list_bad_filters_exit_2_naming_them(sqlite_db, args, needle):
    result = cli.invoke(app, ["runs", "list", *args])
    assert result.exit_code == 2, result.output
    assert needle in result.output and "Traceback" not in result.output


def test_parse_moment_ages_and_dates():
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert parse_moment("2h", "--since", now=now) == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert parse_moment("3d", "--since", now=now) == datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert parse_moment("1w", "--since", now=now) == datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert parse_moment("2026-11-03", "--since") == datetime(2026, 11, 3, tzinfo=UTC)
    assert parse_moment("2026-11-03T09:00+01:00", "--since") == datetime(
        2026, 11, 3, 8, 0, tzinfo=UTC
    )


def test_show_approve_and_resume_take_a_unique_id_prefix(any_db):
    adder = load_spec_text(spec_yaml())
    waiting = start_run(adder, {"a": 7}, fields={"id": "abc1" + "0" * 28})
    execute_run(waiting.id)
    stopped = start_run(adder, {"a": 1}, fields={"id": "abc2" + "0" * 28})
    start_run(desk_spec(), {"a": 1}, fields={"id": "abd3" + "0" * 28})

    shown = cli.invoke(app, ["runs", "show", "abc1"])
    assert shown.exit_code == 0, shown.output
    assert waiting.id in shown.output and "waiting for approval" in shown.output

    ambiguous = cli.invoke(app, ["runs", "show", "abc"])
    assert ambiguous.exit_code == 2
    assert "run id prefix `abc` matches 2 or more runs" in ambiguous.output
    assert waiting.id in ambiguous.output and stopped.id in ambiguous.output
    none = cli.invoke(app, ["runs", "approve", "ffff"])
    assert none.exit_code == 2 and "No run `ffff` (no run id starts with it)" in none.output

    approved = cli.invoke(app, ["runs", "approve", "abc1", "--by", "ops"])
    assert approved.exit_code == 0, approved.output
    assert "succeeded" in approved.output
    resumed = cli.invoke(app, ["runs", "resume", "abc2"])
    assert resumed.exit_code == 0, resumed.output
    shown = json.loads(cli.invoke(app, ["runs", "show", "abc2", "--json"]).output)
    assert shown["run"]["status"] == RunStatus.succeeded


def test_runs_diff_prints_the_first_divergence_and_json(any_db, narrow_terminal):
    a = record_desk_run({"a": 2}, carrier="MDOU")
    b = record_desk_run({"a": 2}, carrier="MAEU")
    same = record_desk_run({"a": 2}, carrier="MDOU")
    shown = cli.invoke(app, ["runs", "diff", a.id[:12], b.id])
    assert shown.exit_code == 0, shown.output
    assert a.id in shown.output and b.id in shown.output
    assert "first divergence at step 1: `choose` (visit 0) differs in completion, output" in (
        shown.output
    )
    assert "~ output.carrier 'MDOU' → 'MAEU'" in shown.output.replace('"', "'")
    as_json = json.loads(cli.invoke(app, ["runs", "diff", a.id, same.id, "--json"]).output)
    assert as_json["identical"] is True and as_json["first_divergence"] is None
    other = record_desk_run({"a": 2}, spec=desk_spec("desk2"))
    flagged = cli.invoke(app, ["runs", "diff", a.id, other.id])
    assert "runs of different workflows" in flagged.output
    missing = cli.invoke(app, ["runs", "diff", a.id, "ffff"])
    assert missing.exit_code == 2 and "No run `ffff`" in missing.output
