"""Tools as installable packages: found through the `forgeyard.tools` entry-point group,
with no PYTHONPATH for the package and no setting; their tables made by `db upgrade`.

The fixture builds a tiny package in a temporary directory, `pip install -e`s it
into this environment under a unique name, and uninstalls it afterwards.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.served import served_api

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def tool_package(tmp_path: Path) -> Iterator[dict[str, str]]:
    tag = uuid.uuid4().hex[:10]
    module, dist = f"fy_authors_{tag}", f"fy-authors-{tag}"
    pkg = tmp_path / "pkg"
    (pkg / module).mkdir(parents=True)
    (pkg / "pyproject.toml").write_text(
        f"""[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1"

[project.entry-points."forgeyard.tools"]
greetings = "{module}.tools"

[project.entry-points."forgeyard.migrations"]
greetings = "{module}.tools:upgrade"

[tool.setuptools]
packages = ["{module}"]
"""
    )
    (pkg / module / "__init__.py").write_text("")
    (pkg / module / "tools.py").write_text(
        f'''from typing_extensions import TypedDict

from workflows.tools import tool


class Greeting(TypedDict):
    text: str


@tool("greet{tag}.hello")
def hello(name: str) -> Greeting:
    """Say hello."""
    return {{"text": "hello " + name}}


def upgrade(url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    sa.Table("greetings_{tag}", metadata, sa.Column("id", sa.Integer, primary_key=True))
    metadata.create_all(engine)
    engine.dispose()
'''
    )
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-build-isolation", "-e", str(pkg)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    try:
        yield {"tag": tag, "module": module}
    finally:
        subprocess.run([*pip, "uninstall", "-y", dist], capture_output=True, timeout=300)


def environment(tmp_path: Path) -> dict[str, str]:
    # PYTHONPATH names only Forgeyard's own code (this checkout), not the tool package;
    # no FORGEYARD_API_TOOL_MODULES either.
    return {
        "PYTHONPATH": str(REPO),
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fy.db'}",
        "FORGEYARD_DATA_DIR": str(tmp_path / "data"),
    }


def forgeyard(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "forgeyard", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env or environment(tmp_path),
        timeout=300,
    )


def spec(tag: str, path: str = "greeting.text") -> str:
    return f"""name: greet_{tag}
version: "1"
input: {{type: object, properties: {{name: {{type: string}}}}}}
state: {{greeting: {{type: object}}}}
start: hello
nodes:
  hello:
    kind: tool
    tool: greet{tag}.hello
    args: {{name: input.name}}
    into: greeting
  done:
    kind: end
    output: {{text: {path}}}
edges:
  - {{from: hello, to: done}}
"""


def test_an_installed_tool_package_is_found_by_validate_run_and_db_upgrade(tool_package, tmp_path):
    tag = tool_package["tag"]
    (tmp_path / "greet.yaml").write_text(spec(tag))
    (tmp_path / "typo.yaml").write_text(spec(tag, "greeting.txt"))
    (tmp_path / "input.json").write_text(json.dumps({"name": "Ada"}))

    done = forgeyard(tmp_path, "workflows", "validate", "greet.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning" not in done.stderr  # its declared result type came with it

    typo = forgeyard(tmp_path, "workflows", "validate", "typo.yaml")
    assert typo.returncode == 1
    assert "did you mean `greeting.text`?" in typo.stderr

    ran = forgeyard(tmp_path, "run", "greet.yaml", "--input", "input.json")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "hello Ada" in ran.stdout

    upgraded = forgeyard(tmp_path, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    with sqlite3.connect(tmp_path / "fy.db") as conn:
        tables = {row[0] for row in conn.execute("select name from sqlite_master")}
    assert f"greetings_{tag}" in tables


def test_without_the_package_the_tool_is_unknown(tmp_path):
    (tmp_path / "greet.yaml").write_text(spec("absent"))
    done = forgeyard(tmp_path, "workflows", "validate", "greet.yaml")
    assert done.returncode == 1
    assert "unknown tool `greetabsent.hello`" in done.stderr


@pytest.mark.integration
def test_the_api_and_a_worker_find_an_installed_tool_package(tool_package, tmp_path):
    """Registered over HTTP, run by a Celery worker: neither is told where the tool lives."""
    tag = tool_package["tag"]
    env = {
        **environment(tmp_path),
        "FORGEYARD_BROKER_URL": "redis://127.0.0.1:6379/14",
        "FORGEYARD_QUEUE": f"fy-tool-packages-{tag}",
    }
    assert forgeyard(tmp_path, "db", "upgrade", env=env).returncode == 0
    assert forgeyard(tmp_path, "tenants", "create", "acme", env=env).returncode == 0
    made = forgeyard(tmp_path, "keys", "create", "acme", env=env)
    assert made.returncode == 0, made.stderr
    headers = {"Authorization": f"Bearer {made.stdout.strip().splitlines()[-1]}"}
    worker_log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "forgeyard", "worker", "--concurrency", "2"],
        cwd=tmp_path,
        env=env,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
    )
    try:
        with served_api(env, tmp_path / "api.log") as url, httpx.Client(base_url=url) as http:
            registered = http.post("/v1/workflows", json={"yaml": spec(tag)}, headers=headers)
            assert registered.status_code == 201, registered.text
            submitted = http.post(
                f"/v1/workflows/greet_{tag}/runs", json={"input": {"name": "Ada"}}, headers=headers
            )
            assert submitted.status_code == 202, submitted.text
            run_id = submitted.json()["id"]
            waited = http.get(f"/v1/runs/{run_id}/wait", params={"timeout": 120}, headers=headers)
            assert waited.status_code == 200, waited.text
            run = waited.json()
            log = (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
            assert run["status"] == "succeeded", (run, log)
            assert run["output"] == {"end": "done", "text": "hello Ada"}
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)
        worker_log.close()
