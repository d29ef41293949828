from __future__ import annotations

import pytest

from rewards import RewardSpecError, load_reward_spec, load_reward_spec_text
from tests.rewards.factories import loaded, spec_yaml

BAD = """\
name: bad_rm
workflow: logistics_booking
graders:
  - name: a
    kind: fuzzy_magic
    path: output.x
  - name: b
    kind: field_match
    path: output..x
    expected: expected.y
  - name: c
    kind: constraint
    expr: "output.status == "
  - name: d
    kind: python
    function: no_such_module.grade
  - name: e
    kind: constraint
    expr: "secrets.key == 1"
  - name: f
    kind: string_check
    path: output.x
    op: regex
    value: "(unclosed"
penalties:
  - name: p
    when: "boom("
"""


def test_every_problem_is_listed_with_its_line() -> None:
    with pytest.raises(RewardSpecError) as info:
        load_reward_spec_text(BAD, filename="bad.yaml")
    found = {(p.line, p.field.split(".")[-1]) for p in info.value.problems}
    assert (5, "kind") in found  # unknown grader
    assert (9, "path") in found  # bad path
    assert (13, "expr") in found  # bad expression
    assert (16, "function") in found  # cannot import
    assert (19, "expr") in found  # unknown name
    assert (24, "value") in found  # bad regex
    assert (27, "when") in found
    assert "bad.yaml:5" in str(info.value)
    assert "unknown grader kind" in str(info.value)


def test_hash_ignores_comments_and_formatting() -> None:
    a = loaded()
    b = load_reward_spec_text("# a comment\n" + spec_yaml(), filename="x.yaml")
    assert a.hash == b.hash
    assert loaded(version="2").hash != a.hash


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name: x\nworkflow: w\n", "graders"),
        ("[1, 2]", "expected a mapping"),
        ("name: x\n  bad: [", "malformed YAML"),
    ],
)
def test_shape_problems(text: str, needle: str) -> None:
    with pytest.raises(RewardSpecError, match=needle):
        load_reward_spec_text(text)


def test_a_grader_needs_exactly_one_reference() -> None:
    g = {"name": "a", "kind": "field_match", "path": "output.x"}
    with pytest.raises(RewardSpecError, match="exactly one of"):
        loaded(g)


def test_duplicate_names_and_unknown_fields() -> None:
    g = {"name": "a", "kind": "constraint", "expr": "true"}
    with pytest.raises(RewardSpecError) as info:
        loaded(g, dict(g, colour="red"))
    text = str(info.value)
    assert "duplicate grader name" in text and "unknown field" in text


def test_unreadable_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RewardSpecError, match="cannot read"):
        load_reward_spec(tmp_path / "missing.yaml")


def test_probe_paths_are_checked() -> None:
    with pytest.raises(RewardSpecError, match="probes.text_paths"):
        loaded(probes={"text_paths": ["answer.text"]})
