"""Reward-model specs registered over HTTP, within the caller's tenant.

Loading a spec imports the module of each ``python`` grader, so a spec sent
over HTTP may only name modules from ``FORGEYARD_API_REWARD_GRADER_MODULES``;
an API caller must not choose what code the server imports or which files
and hosts it reads.

Errors::

    GraderNotAllowed    (a RewardSpecError) a grader the HTTP API does not accept
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from sqlalchemy.exc import IntegrityError

from forgeyard.records.rewards import RewardModelRecord
from forgeyard.settings import get_settings
from forgeyard.yaml_problems import dotted_path, line_of
from rewards import store
from rewards.errors import RewardSpecError, SpecProblem
from rewards.loader import load_reward_spec_text

__all__ = ["GraderNotAllowed", "register"]

REQUEST_FILE = "<request>"


class GraderNotAllowed(RewardSpecError):
    pass


def register(tenant_id: str, text: str) -> tuple[RewardModelRecord, bool]:
    """Validate and store a spec version for the tenant; ``(version, created)``.

    The same content again is the same version (``created`` False).

    Raises:
        RewardSpecError: every problem, each with its line and field.
    """
    _check_allowed(text, tenant_id)
    loaded = load_reward_spec_text(text, filename=REQUEST_FILE)
    for version in store.list_versions(tenant_id=tenant_id):
        if version.name == loaded.spec.name and version.hash == loaded.hash:
            return version, False
    try:
        return store.register(loaded, tenant_id=tenant_id), True
    except IntegrityError:
        return register(tenant_id, text)  # a concurrent identical request won: look again


def _check_allowed(text: str, tenant_id: str) -> None:
    try:
        doc = YAML(typ="rt").load(text)
    except YAMLError:
        return  # the loader reports malformed YAML with its line
    if not isinstance(doc, dict):
        return
    problems: list[SpecProblem] = []

    def refuse(path: tuple[Any, ...], message: str) -> None:
        problems.append(SpecProblem(REQUEST_FILE, line_of(doc, path), dotted_path(path), message))

    tenant = doc.get("tenant")
    if tenant is not None and tenant != tenant_id:
        refuse(
            ("tenant",),
            f"names tenant `{tenant}`, but the API key is tenant "
            f"`{tenant_id}`'s; leave `tenant` out or set it to `{tenant_id}`",
        )
    allowed = set(get_settings().api_reward_grader_modules)
    graders = doc.get("graders")
    for i, grader in enumerate(graders if isinstance(graders, list) else []):
        if not isinstance(grader, dict):
            continue
        kind, function = grader.get("kind"), grader.get("function")
        if kind == "python" and isinstance(function, str):
            module = function.partition(":")[0] if ":" in function else function.rpartition(".")[0]
            if module not in allowed:
                refuse(
                    ("graders", i, "function"),
                    f"module `{module}` may not be loaded over the API; allowed: "
                    f"{', '.join(sorted(allowed)) or 'none'} "
                    "(FORGEYARD_API_REWARD_GRADER_MODULES)",
                )
        if kind == "llm_judge" and grader.get("base_url") is not None:
            refuse(
                ("graders", i, "base_url"),
                "a spec registered over the API uses the configured model server; "
                "leave `base_url` out",
            )
        model_dir = grader.get("model_dir")
        if kind == "learned" and isinstance(model_dir, str):
            path = PurePosixPath(model_dir)
            if path.is_absolute() or ".." in path.parts:
                refuse(
                    ("graders", i, "model_dir"),
                    "over the API `model_dir` must be a relative path inside the "
                    "server's working directory (no `..`)",
                )
    if problems:
        raise GraderNotAllowed(problems)
