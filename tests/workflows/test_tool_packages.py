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

import pytest

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


def forgeyard(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH names only Forgeyard's own code (this checkout), not the tool package.
    env = {
        "PYTHONPATH": str(REPO),
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fy.db'}",
        "FORGEYARD_DATA_DIR": str(tmp_path / "data"),
    }
    return subprocess.run(
        [sys.executable, "-m", "forgeyard", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
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
