"""Typo-proof specs: every `a.b.c` path checked against the declared shapes.

The spec is a small marine cargo claim desk whose tools declare their results
three ways (a pydantic model, a TypedDict, a JSON Schema) and one that does not.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.specs import line_of
from workflows.loader import SpecError, load_spec
from workflows.tools import registry

CLAIM = """\
name: marine_claim
version: "1"
input:
  type: object
  required: [claim]
  properties:
    claim:
      type: object
      properties:
        policy: {type: string}
        damage_usd: {type: number}
state:
  policy: {type: object}
  assessment: {type: object}
  filing: {type: object}
  notes: {type: object}
  summary: {type: string}
  triage:
    type: object
    properties:
      urgent: {type: boolean}
tool_modules: [tests.support.claim_tools]
start: check
nodes:
  check:
    kind: tool
    tool: claims.check_policy
    args: {claim: input.claim}
    into: policy
  covered:
    kind: route
    routes:
      - when: not policy.covered
        to: declined
    default: assess
  assess:
    kind: tool
    tool: claims.assess
    args:
      claim: input.claim
      limit_usd: policy.limit_usd
    into: assessment
  note:
    kind: tool
    tool: claims.notes
    args: {claim: input.claim}
    into: notes
  triage_it:
    kind: llm
    prompt: "Urgent? {{ notes.text }}"
    output:
      into: triage
      schema:
        type: object
        properties: {urgent: {type: boolean}}
  summarise:
    kind: llm
    prompt: |
      Claim under policy {{ policy.policy_id }}.
      Surveyed damage: {{ assessment.survey.damage_usd }} USD ({{ assessment.survey.cause }}).
      {% for e in policy.exclusions %}Excluded: {{ e }}
      {% endfor %}
      Write one sentence.
    output: {into: summary}
  pay:
    kind: tool
    tool: claims.file
    args: {amount: assessment.payable_usd}
    into: filing
  paid:
    kind: end
    output:
      claim_ref: filing.claim_ref
      payable_usd: assessment.payable_usd
      urgent: triage.urgent
      summary: summary
  declined:
    kind: end
    output: {policy: policy.policy_id}
edges:
  - {from: check, to: covered}
  - {from: assess, to: note}
  - {from: note, to: triage_it}
  - {from: triage_it, to: summarise}
  - {from: summarise, to: pay}
  - {from: pay, to: paid}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "marine_claim.yaml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list:
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, text))
    return info.value.problems


def test_declared_results_check_the_whole_spec(tmp_path):
    loaded = load_spec(write(tmp_path, CLAIM))
    # Only the tool without a declared result is unchecked, and said so once.
    (warning,) = loaded.warnings
    assert warning.field == "nodes.triage_it.prompt"
    assert "`notes.text` is not checked" in warning.message
    assert "tool `claims.notes` declares no result type" in warning.message
    assert registry.get("claims.check_policy").result_schema["properties"]["covered"]


def test_the_dangerous_typo_in_a_route_fails_with_file_line_key_and_suggestion(tmp_path):
    text = CLAIM.replace("not policy.covered", "not policy.coverd")
    (problem,) = problems(tmp_path, text)
    assert problem.file == str(tmp_path / "marine_claim.yaml")
    assert problem.line == line_of(text, "not policy.coverd")
    assert problem.field == "nodes.covered.routes[0].when"
    assert "`policy` has no key `coverd`" in problem.message
    assert "did you mean `policy.covered`?" in problem.message


def test_a_misspelled_argument_fails(tmp_path):
    text = CLAIM.replace("limit_usd: policy.limit_usd", "limit_usd: policy.limt_usd")
    (problem,) = problems(tmp_path, text)
    assert problem.line == line_of(text, "policy.limt_usd")
    assert problem.field == "nodes.assess.args.limit_usd"
    assert "did you mean `policy.limit_usd`?" in problem.message


def test_a_misspelled_template_variable_fails_at_its_own_line(tmp_path):
    text = CLAIM.replace("assessment.survey.cause", "assessment.survey.caus")
    (problem,) = problems(tmp_path, text)
    # The line inside the prompt block, not the `prompt: |` line.
    assert problem.line == line_of(text, "assessment.survey.caus")
    assert problem.line > line_of(text, "prompt: |")
    assert "`assessment.survey` has no key `caus`" in problem.message
    assert "did you mean `assessment.survey.cause`?" in problem.message


@pytest.mark.parametrize(
    ("old", "new", "field", "key"),
    [
        (
            "claim_ref: filing.claim_ref",
            "claim_ref: filing.claimref",
            "nodes.paid.output.claim_ref",
            "claimref",
        ),
        ("urgent: triage.urgent", "urgent: triage.urgnt", "nodes.paid.output.urgent", "urgnt"),
        (
            "args: {claim: input.claim}\n    into: policy",
            "args: {claim: input.clam}\n    into: policy",
            "nodes.check.args.claim",
            "clam",
        ),
        ("Excluded: {{ e }}", "Excluded: {{ e.name }}", "nodes.summarise.prompt", "name"),
    ],
)
def test_every_declared_shape_is_checked(tmp_path, old, new, field, key):
    assert old in CLAIM
    (problem,) = problems(tmp_path, CLAIM.replace(old, new))
    assert problem.field == field
    assert f"`{key}`" in problem.message


def test_a_string_has_no_keys(tmp_path):
    text = CLAIM.replace("summary: summary", "summary: summary.text")
    (problem,) = problems(tmp_path, text)
    assert "`summary` is a string, it has no key `text`" in problem.message


def test_every_typo_is_reported_at_once(tmp_path):
    text = (
        CLAIM.replace("not policy.covered", "not policy.coverd")
        .replace("policy.limit_usd", "policy.limt_usd")
        .replace("{{ policy.policy_id }}", "{{ policy.polcy_id }}")
    )
    found = problems(tmp_path, text)
    assert [p.field for p in found] == [
        "nodes.covered.routes[0].when",
        "nodes.assess.args.limit_usd",
        "nodes.summarise.prompt",
    ]


def test_a_bad_schema_keyword_is_reported_at_its_own_line(tmp_path):
    text = CLAIM.replace(
        "urgent: {type: boolean}\ntool_modules", "urgent: {type: bool}\ntool_modules"
    )
    assert text != CLAIM
    found = problems(tmp_path, text)
    (problem,) = [p for p in found if p.field == "state.triage"]
    assert problem.line == line_of(text, "urgent: {type: bool}")


def test_a_template_syntax_error_is_reported_at_its_own_line(tmp_path):
    text = CLAIM.replace("{% endfor %}", "{% endfor %}{{ policy. }}")
    (problem,) = problems(tmp_path, text)
    assert problem.field == "nodes.summarise.prompt"
    assert "invalid template (line 4)" in problem.message
    assert problem.line == line_of(text, "{{ policy. }}")
