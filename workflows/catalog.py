"""Find workflow specs by name: the configured directories, then the shipped examples.

A workflow's name is the `name:` in its spec. Specs are looked for as
``DIR/*/workflow.yaml`` and ``DIR/*.yaml``; the first directory that has a
name wins, so an operator's directory can replace a shipped example.
"""

from __future__ import annotations

from pathlib import Path

from forgeyard.settings import get_settings
from workflows.cache import declared_name, load_spec
from workflows.loader import LoadedSpec

__all__ = ["EXAMPLES_DIR", "UnknownWorkflowError", "find_workflow", "list_workflows", "resolve"]

EXAMPLES_DIR = Path(__file__).parent / "examples"


class UnknownWorkflowError(LookupError):
    """No workflow of that name (or file at that path)."""


def _search_dirs() -> list[Path]:
    return [*get_settings().workflow_dirs, EXAMPLES_DIR]


def list_workflows() -> dict[str, Path]:
    """Name → spec file of every workflow found (earlier directories win)."""
    found: dict[str, Path] = {}
    for directory in _search_dirs():
        if not directory.is_dir():
            continue
        candidates = sorted(directory.glob("*/workflow.yaml")) + sorted(directory.glob("*.yaml"))
        for path in candidates:
            name = declared_name(path)
            if name is not None:
                found.setdefault(name, path)
    return found


def find_workflow(name: str) -> Path:
    """The spec file of workflow ``name``."""
    workflows = list_workflows()
    if name not in workflows:
        known = ", ".join(sorted(workflows)) or "none"
        raise UnknownWorkflowError(f"Unknown workflow `{name}` (known: {known}).")
    return workflows[name]


def resolve(name_or_path: str) -> LoadedSpec:
    """Load a workflow given by name or by the path of its YAML file (parsed once per text)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise UnknownWorkflowError(f"No workflow spec file at `{name_or_path}`.")
        return load_spec(path)
    return load_spec(find_workflow(name_or_path))
