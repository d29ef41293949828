"""Which workflows a tenant can run: its registered spec versions, then the catalog.

A spec registered over HTTP may only name tool modules from
``FORGEYARD_API_TOOL_MODULES``: loading a spec imports its tool modules, and
an API caller must not choose what code the server imports.

Errors::

    SpecNotAllowed            a registered spec names a tool module not allowed over HTTP
    VersionConflict           that name and version are registered with other content
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from agents.runner import save_spec
from forgeyard.db import session_scope
from forgeyard.models import WorkflowRegistration, WorkflowSpecRecord
from forgeyard.settings import get_settings
from forgeyard.yaml_problems import SpecProblem
from workflows.cache import load_spec, load_spec_text_cached
from workflows.catalog import UnknownWorkflowError, find_workflow, list_workflows
from workflows.loader import LoadedSpec, SpecError, load_spec_text

__all__ = ["SpecNotAllowed", "VersionConflict", "Version", "register", "resolve", "versions"]

REQUEST_FILE = "<request>"


class SpecNotAllowed(SpecError):
    pass


class VersionConflict(Exception):
    pass


@dataclass(frozen=True)
class Version:
    version: str
    hash: str
    source: str
    created_at: datetime | None


def _registered(tenant_id: str, name: str) -> list[WorkflowRegistration]:
    with session_scope() as session:
        return list(
            session.exec(
                select(WorkflowRegistration)
                .where(
                    WorkflowRegistration.tenant_id == tenant_id, WorkflowRegistration.name == name
                )
                .order_by(col(WorkflowRegistration.created_at), col(WorkflowRegistration.id))
            )
        )


def _from_record(spec_hash: str) -> LoadedSpec:
    with session_scope() as session:
        record = session.get(WorkflowSpecRecord, spec_hash)
    assert record is not None
    return load_spec_text_cached(record.source, filename=record.source_path or REQUEST_FILE)


def resolve(tenant_id: str, name: str, version: str | None = None) -> LoadedSpec:
    """The spec to run: the tenant's newest registered version, else the catalog's."""
    registered = _registered(tenant_id, name)
    if version is not None:
        for reg in registered:
            if reg.version == version:
                return _from_record(reg.spec_hash)
    elif registered:
        return _from_record(registered[-1].spec_hash)
    try:
        loaded = load_spec(find_workflow(name))
    except UnknownWorkflowError:
        raise UnknownWorkflowError(f"Unknown workflow `{name}`.") from None
    if version is not None and loaded.spec.version != version:
        raise UnknownWorkflowError(f"Workflow `{name}` has no version `{version}`.")
    return loaded


def names(tenant_id: str) -> list[str]:
    with session_scope() as session:
        registered = set(
            session.exec(
                select(WorkflowRegistration.name).where(WorkflowRegistration.tenant_id == tenant_id)
            )
        )
    return sorted(registered | set(list_workflows()))


def versions(tenant_id: str, name: str) -> list[Version]:
    """Every version of ``name`` this tenant can run, oldest first."""
    out = [
        Version(r.version, r.spec_hash, "registered", r.created_at)
        for r in _registered(tenant_id, name)
    ]
    if not out and name in list_workflows():
        loaded = load_spec(find_workflow(name))
        out.append(Version(loaded.spec.version, loaded.hash, "catalog", None))
    return out


def register(tenant_id: str, text: str) -> tuple[LoadedSpec, bool]:
    """Validate and register a spec version; ``(spec, created)``.

    Registering the same content again is a no-op; the same name and version
    with different content is a :class:`VersionConflict`.
    """
    _check_tool_modules(text)
    loaded = load_spec_text(text, filename=REQUEST_FILE)
    save_spec(loaded)
    name, version = loaded.spec.name, loaded.spec.version
    for reg in _registered(tenant_id, name):
        if reg.version == version:
            if reg.spec_hash == loaded.hash:
                return loaded, False
            raise VersionConflict(
                f"Version `{version}` of workflow `{name}` is already registered with other "
                "content; change `version` to register a new one."
            )
    try:
        with session_scope() as session:
            session.add(
                WorkflowRegistration(
                    tenant_id=tenant_id, name=name, version=version, spec_hash=loaded.hash
                )
            )
    except IntegrityError:
        return register(tenant_id, text)  # a concurrent identical request won: compare again
    return loaded, True


def _check_tool_modules(text: str) -> None:
    try:
        doc = YAML(typ="rt").load(text)
    except YAMLError:
        return  # the loader reports malformed YAML with its line
    if not isinstance(doc, dict) or not isinstance(doc.get("tool_modules"), list):
        return
    allowed = set(get_settings().api_tool_modules)
    modules = doc["tool_modules"]
    problems = []
    for i, module in enumerate(modules):
        if module not in allowed:
            line = modules.lc.item(i)[0] + 1 if hasattr(modules, "lc") else None
            problems.append(
                SpecProblem(
                    REQUEST_FILE,
                    line,
                    f"tool_modules[{i}]",
                    f"tool module `{module}` may not be loaded over the API; allowed: "
                    f"{', '.join(sorted(allowed)) or 'none'} (FORGEYARD_API_TOOL_MODULES)",
                )
            )
    if problems:
        raise SpecNotAllowed(problems)
