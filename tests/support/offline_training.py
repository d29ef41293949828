"""A tiny GRPO job from the command line, for running where the network is loopback only.

Usage: ``python -m tests.support.offline_training MODEL_DIR`` with ``DATABASE_URL`` and
``FORGEYARD_DATA_DIR`` set (tests/forgeyard/test_offline.py runs it under ``unshare -n``).
Registers the shipped reward model (approved), then runs ``forgeyard train grpo`` on the
tiny model for one step; exits with the command's status.
"""

from __future__ import annotations

import sys

from forgeyard.db import upgrade


def main(model_dir: str) -> int:
    from typer.main import get_command

    from forgeyard.app.cli import app
    from tests.support.training import shipped_reward_model

    upgrade()
    reward = shipped_reward_model()
    args = [
        "train",
        "grpo",
        "--tenant",
        "default",
        "--workflow",
        "logistics_booking",
        "--node",
        "choose",
        "--reward",
        reward.id,
        "--base-model",
        model_dir,
        "--max-steps",
        "1",
        "--prompts-per-step",
        "2",
        "--num-generations",
        "2",
        "--save-steps",
        "1",
    ]
    try:
        get_command(app).main(args, prog_name="forgeyard", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
