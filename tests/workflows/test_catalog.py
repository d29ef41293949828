"""Workflows are found by the name in their spec, configured directories first."""

from __future__ import annotations

import pytest

from forgeyard.settings import get_settings
from tests.support.specs import spec_yaml
from workflows.catalog import UnknownWorkflowError, list_workflows, resolve


@pytest.fixture
def workflow_dir(tmp_path, monkeypatch):
    (tmp_path / "claims").mkdir()
    (tmp_path / "claims" / "workflow.yaml").write_text(spec_yaml(name="claim_triage"))
    (tmp_path / "other.yaml").write_text(spec_yaml(name="logistics_booking"))
    monkeypatch.setenv("FORGEYARD_WORKFLOW_DIRS", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_found_by_declared_name_and_operator_dirs_win(workflow_dir):
    found = list_workflows()
    assert found["claim_triage"] == workflow_dir / "claims" / "workflow.yaml"
    assert found["logistics_booking"] == workflow_dir / "other.yaml"
    assert resolve("claim_triage").spec.name == "claim_triage"


def test_unknown_workflow_lists_the_known_ones(workflow_dir):
    with pytest.raises(UnknownWorkflowError, match="Unknown workflow `claims`.*claim_triage"):
        resolve("claims")
    with pytest.raises(UnknownWorkflowError, match="No workflow spec file"):
        resolve("missing.yaml")
