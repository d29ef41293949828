"""/docs and /redoc render in a real browser on a machine with no network but loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytest.importorskip("playwright", reason="Playwright for Python is not installed")
REPO = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="no /usr/bin/chromium"),
    pytest.mark.skipif(
        shutil.which("unshare") is None or os.geteuid() != 0,
        reason="a network namespace needs unshare as root",
    ),
]


def test_docs_and_redoc_render_with_only_loopback(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'forgeyard.db'}",
        "FORGEYARD_DATA_DIR": str(tmp_path),
    }
    inner = f"ip link set lo up && exec {sys.executable} -m tests.support.docs_browser 18731"
    done = subprocess.run(
        ["unshare", "--net", "sh", "-c", inner],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    for path in ("/docs", "/redoc"):
        page = results[path]
        assert page["title"] and page["title"].startswith("Forgeyard"), page
        assert page["failed"] == [] and page["errors"] == [], page
        # blob: and data: URLs never leave the page (ReDoc's search worker, an empty image).
        fetched = [url for url in page["requested"] if urlsplit(url).scheme not in ("blob", "data")]
        assert {urlsplit(url).netloc for url in fetched} == {"127.0.0.1:18731"}, fetched
        assert any(url.endswith("/openapi.json") for url in page["requested"])
