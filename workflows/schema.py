"""The published JSON Schema of workflow specs (checked in as `workflow.schema.json`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workflows.spec import WorkflowSpec

SCHEMA_FILE = Path(__file__).parent / "workflow.schema.json"


def spec_json_schema() -> dict[str, Any]:
    """JSON Schema of a workflow spec, as YAML authors write it (``from`` not ``from_``)."""
    schema = WorkflowSpec.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://forgeyard.local/schemas/workflow.schema.json"
    return schema
