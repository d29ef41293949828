"""No call-home, proved by the kernel: the main job and a training job with loopback only.

Each command runs in a network namespace whose only interface is loopback
(``unshare -n``, as root): any connection to another host fails there, so a
pass means the demo (its own vLLM on the tiny model, its own Redis, the API and
a worker) and a GRPO job need nothing outside this machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None,
        reason="a loopback-only network namespace needs root, unshare and ip",
    ),
]

REPO = Path(__file__).resolve().parents[2]
# Settings of this test session that point at services outside the namespace.
_OUTSIDE = ("DATABASE_URL", "FORGEYARD_BROKER_URL", "FORGEYARD_MODEL_BASE_URL")


def loopback_only(argv: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with only loopback up, on a SQLite database and data dir in ``tmp_path``."""
    base = {k: v for k, v in os.environ.items() if k not in _OUTSIDE}
    inner = "ip link set lo up && exec " + " ".join(f"'{a}'" for a in argv)
    return subprocess.run(
        ["unshare", "--net", "sh", "-c", inner],
        cwd=REPO,
        env={
            **base,
            "PYTHONPATH": str(REPO),
            "FORGEYARD_DATA_DIR": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'forgeyard.db'}",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=1200,
    )


def test_the_demo_books_a_container_with_loopback_only(tmp_path: Path, tiny_model_dir: Path):
    result = loopback_only(
        [sys.executable, "-m", "forgeyard", "demo"],
        tmp_path,
        FORGEYARD_SERVE_MODEL_PATH=str(tiny_model_dir),
        FORGEYARD_QUEUE="forgeyard-offline",
        # Its own vLLM, beside the session's, on a shared and busy machine.
        FORGEYARD_SERVE_STARTUP_TIMEOUT_SECONDS="900",
        COLUMNS="200",
    )
    # stdout is the demo's own account; stderr mostly vLLM's log.
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n---\n{result.stderr[-2000:]}"
    assert "bookings recorded for this run: 1" in result.stdout


def test_a_training_job_runs_with_loopback_only(tmp_path: Path, tiny_model_dir: Path):
    result = loopback_only(
        [sys.executable, "-m", "tests.support.offline_training", str(tiny_model_dir)],
        tmp_path,
        COLUMNS="200",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n---\n{result.stderr[-2000:]}"
    assert "(candidate)" in output
    assert list((tmp_path).rglob("adapter_model.safetensors")), output[-3000:]
