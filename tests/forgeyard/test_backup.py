"""`forgeyard backup` / `restore`: the database and the data directory survive their loss."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlmodel import select
from typer.testing import CliRunner

from forgeyard import db
from forgeyard.app.cli import app
from forgeyard.db import session_scope
from forgeyard.models import Run, RunStatus, Step
from forgeyard.records.rewards import RewardModelRecord
from forgeyard.records.training import AdapterRecord
from forgeyard.settings import get_settings
from tests.conftest import PG_ADMIN_URL
from tests.support.adapters import candidate
from tests.support.specs import spec_yaml

cli = CliRunner()


def _site(tmp_path: Path, lora_files: dict[str, bytes]) -> dict[str, object]:
    """A run (with its trace), a reward model and an adapter whose files are in data_dir."""
    spec = tmp_path / "adder.yaml"
    spec.write_text(spec_yaml())
    run_input = tmp_path / "input.json"
    run_input.write_text(json.dumps({"a": 7}))
    ran = cli.invoke(app, ["run", str(spec), "-i", str(run_input), "--approve"])
    assert ran.exit_code == 0, ran.output
    adapter_dir = get_settings().data_dir.resolve() / "training" / "job-1" / "adapter"
    adapter_dir.mkdir(parents=True)
    for name, content in lora_files.items():
        (adapter_dir / name).write_bytes(content)
    adapter = candidate("acme", adapter_dir)
    return {"adapter": adapter.id, "adapter_dir": adapter_dir, **_contents()}


def _contents() -> dict[str, object]:
    with session_scope() as session:
        runs = [(r.id, r.status, r.output) for r in session.exec(select(Run))]
        steps = sorted((s.run_id, s.node, s.attempt) for s in session.exec(select(Step)))
        rms = [r.id for r in session.exec(select(RewardModelRecord))]
        adapters = [(a.id, a.path) for a in session.exec(select(AdapterRecord))]
    return {"runs": runs, "steps": steps, "reward_models": rms, "adapters": adapters}


def _drop(url: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{make_url(url).database}" WITH (FORCE)')


@pytest.fixture
def lora_files(tiny_lora_adapter_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in tiny_lora_adapter_dir.iterdir() if p.is_file()}


def _answer(server, model: str) -> list[int]:  # type: ignore[no-untyped-def]
    response = httpx.post(
        f"{server.base_url}/chat/completions",
        json={
            "model": model,
            "messages": [{"role": "user", "content": "Book a 40ft container to Rotterdam."}],
            "max_tokens": 8,
            "temperature": 0,
            "return_token_ids": True,
        },
        timeout=120,
    )
    assert response.status_code == 200, response.text
    assert response.json()["model"] == model
    return response.json()["choices"][0]["token_ids"]


@pytest.mark.integration
def test_postgres_dropped_then_restored_brings_back_runs_traces_adapters(
    postgres_db, tmp_path, lora_files, model_server
):
    before = _site(tmp_path, lora_files)
    assert before["runs"] and before["runs"][0][1] == RunStatus.succeeded
    assert len(before["steps"]) >= 5 and before["reward_models"] and before["adapters"]
    archive = tmp_path / "site.tar.gz"

    made = cli.invoke(app, ["backup", str(archive)])
    assert made.exit_code == 0, made.output
    assert f"(postgresql, schema {db.head_revision()})" in made.output
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"forgeyard-backup.json", "database.dump"} <= names
    assert "data/training/job-1/adapter/adapter_config.json" in names

    # The disaster: database dropped, data directory gone.
    db.get_engine().dispose()
    _drop(postgres_db)
    shutil.rmtree(get_settings().data_dir / "training")

    restored = cli.invoke(app, ["restore", str(archive)])
    assert restored.exit_code == 0, restored.output
    assert _contents() == {k: before[k] for k in ("runs", "steps", "reward_models", "adapters")}
    adapter_dir = before["adapter_dir"]
    assert isinstance(adapter_dir, Path)
    assert {p.name: p.read_bytes() for p in adapter_dir.iterdir()} == lora_files
    assert db.current_revision() == db.head_revision()

    # The restored adapter still serves: vLLM loads it from its recorded path, and
    # its (random) weights change the answer.
    (_, restored_path), *_ = _contents()["adapters"]  # type: ignore[misc]
    model_server.load_adapter("restored", restored_path)
    try:
        assert _answer(model_server, "restored") != _answer(model_server, model_server.name)
    finally:
        model_server.unload_adapter("restored")

    # Again on the restored database: refused without --force, nothing changed.
    again = cli.invoke(app, ["restore", str(archive)])
    assert again.exit_code == 2 and "pass --force" in again.output
    forced = cli.invoke(app, ["restore", str(archive), "--force"])
    assert forced.exit_code == 0, forced.output
    assert _contents()["runs"] == before["runs"]


def test_sqlite_restored_into_another_data_dir_relocates_adapter_paths(
    sqlite_db, tmp_path, monkeypatch, lora_files
):
    before = _site(tmp_path, lora_files)
    archive = tmp_path / "site.tar"
    assert cli.invoke(app, ["backup", str(archive)]).exit_code == 0
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert "database.sqlite" in names
    assert not any(n.startswith("data/forgeyard.db") for n in names)  # copied via the API

    moved = tmp_path / "elsewhere"
    monkeypatch.setenv("FORGEYARD_DATA_DIR", str(moved))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{moved / 'forgeyard.db'}")
    get_settings.cache_clear()
    db.get_engine.cache_clear()
    try:
        restored = cli.invoke(app, ["restore", str(archive)])
        assert restored.exit_code == 0, restored.output
        after = _contents()
    finally:
        db.get_engine().dispose()
    assert after["runs"] == before["runs"] and after["steps"] == before["steps"]
    ((adapter_id, path),) = after["adapters"]
    assert adapter_id == before["adapter"]
    assert Path(path) == moved.resolve() / "training" / "job-1" / "adapter"
    assert (Path(path) / "adapter_config.json").read_bytes() == lora_files["adapter_config.json"]


def test_restore_refuses_bad_archives_before_touching_anything(sqlite_db, tmp_path):
    not_tar = tmp_path / "notes.txt"
    not_tar.write_text("hello")
    result = cli.invoke(app, ["restore", str(not_tar)])
    assert result.exit_code == 2 and "not a tar archive" in result.output

    foreign = tmp_path / "foreign.tar"
    with tarfile.open(foreign, "w") as tar:
        tar.add(not_tar, "readme.txt")
    result = cli.invoke(app, ["restore", str(foreign)])
    assert result.exit_code == 2 and "not a Forgeyard backup" in result.output

    # A PostgreSQL backup into this SQLite site: refused, naming both.
    manifest = tmp_path / "forgeyard-backup.json"
    head = db.head_revision()
    manifest.write_text(json.dumps({"format": 1, "database": "postgresql", "revision": head}))
    dump = tmp_path / "database.dump"
    dump.write_bytes(b"x")
    pg_archive = tmp_path / "pg.tar"
    with tarfile.open(pg_archive, "w") as tar:
        tar.add(manifest, manifest.name)
        tar.add(dump, dump.name)
    result = cli.invoke(app, ["restore", str(pg_archive)])
    assert result.exit_code == 2 and "holds a postgresql database" in result.output

    # From a newer release: an unknown schema revision.
    manifest.write_text(json.dumps({"format": 1, "database": "sqlite", "revision": "9999"}))
    (tmp_path / "database.sqlite").write_bytes(b"")
    newer = tmp_path / "newer.tar"
    with tarfile.open(newer, "w") as tar:
        tar.add(manifest, manifest.name)
        tar.add(tmp_path / "database.sqlite", "database.sqlite")
    result = cli.invoke(app, ["restore", str(newer)])
    assert result.exit_code == 2 and "revision 9999" in result.output
    assert db.current_revision() == db.head_revision()  # the site's database is untouched


def test_backup_of_an_empty_database_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("FORGEYARD_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        result = cli.invoke(app, ["backup", str(tmp_path / "b.tar")])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2 and "has no schema" in result.output
    assert not (tmp_path / "b.tar").exists()
