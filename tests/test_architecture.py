"""The layers (README, "Architecture") hold: import-linter checks `.importlinter`."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_import_contracts_are_kept() -> None:
    # The whole graph, including imports inside functions: a lower layer that
    # imports a higher one (e.g. `import training` in agents/runner.py) fails here.
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _kernel_layer() -> set[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    layers = config["importlinter:contract:layers"]["layers"].split("\n")
    return {name.strip() for name in layers[-1].split(":")}


def test_every_kernel_module_is_in_the_kernel_layer() -> None:
    # The kernel is `forgeyard` minus its application layer (`forgeyard.app`,
    # and `__main__` for `python -m forgeyard`); a new kernel module must be
    # named in the contract, or it goes unchecked.  `forgeyard.client` is no
    # layer at all: it imports nothing of Forgeyard (its own contract).
    modules = {
        f"forgeyard.{path.stem if path.is_file() else path.name}"
        for path in (ROOT / "forgeyard").iterdir()
        if (path.suffix == ".py" and path.stem != "__init__")
        or (path.is_dir() and (path / "__init__.py").exists())
    }
    assert modules - {"forgeyard.app", "forgeyard.__main__", "forgeyard.client"} == _kernel_layer()
