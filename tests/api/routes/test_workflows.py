"""Registering and reading workflow specs over HTTP."""

from __future__ import annotations

from tests.support.specs import line_of, spec_dict, spec_yaml, to_yaml


def test_register_then_read_with_versions(tenant):
    detail = tenant.get("/v1/workflows/adder").json()
    assert detail["version"] == "1" and detail["source"] == "registered"
    assert detail["input_schema"]["required"] == ["a"]
    assert detail["spec"] == spec_yaml()
    # Same content again: nothing new.
    again = tenant.post("/v1/workflows", json={"yaml": spec_yaml()})
    assert again.status_code == 200
    v2 = tenant.post("/v1/workflows", json={"yaml": spec_yaml(version="2")})
    assert v2.status_code == 201
    assert [v["version"] for v in v2.json()["versions"]] == ["1", "2"]
    assert tenant.get("/v1/workflows/adder", params={"version": "1"}).json()["version"] == "1"
    names = {w["name"]: w["version"] for w in tenant.get("/v1/workflows").json()}
    assert names["adder"] == "2"


def test_same_version_other_content_is_a_conflict(tenant):
    changed = spec_dict(description="changed")
    response = tenant.post("/v1/workflows", json={"yaml": to_yaml(changed)})
    assert response.status_code == 409
    assert "change `version`" in response.json()["detail"]


def test_invalid_spec_is_422_with_line_numbers(tenant):
    spec = spec_dict()
    spec["nodes"]["add"]["into"] = "nowhere"
    text = to_yaml(spec)
    response = tenant.post("/v1/workflows", json={"yaml": text})
    assert response.status_code == 422
    problem = response.json()["problems"][0]
    assert problem["field"] == "nodes.add.into"
    assert problem["line"] == line_of(text, "into: nowhere")
    assert "not declared" in problem["message"]
    broken = tenant.post("/v1/workflows", json={"yaml": "name: [unclosed"})
    assert broken.status_code == 422 and "malformed YAML" in broken.json()["problems"][0]["message"]


def test_tool_modules_outside_the_allow_list_are_refused(tenant):
    text = spec_yaml(tool_modules=["tests.support.tools", "os"])
    response = tenant.post("/v1/workflows", json={"yaml": text})
    assert response.status_code == 422
    problem = response.json()["problems"][0]
    assert problem["field"] == "tool_modules[1]" and "`os` may not be loaded" in problem["message"]
    assert problem["line"] == line_of(text, "- os")


def test_unknown_workflow_is_404(tenant):
    response = tenant.get("/v1/workflows/nope")
    assert response.status_code == 404
    assert response.json()["detail"] == "Unknown workflow `nope`."


def test_yaml_the_reader_refuses_is_422_not_500(tenant):
    response = tenant.post("/v1/workflows", json={"yaml": "\x1f"})
    assert response.status_code == 422
    assert "malformed YAML" in response.json()["problems"][0]["message"]
