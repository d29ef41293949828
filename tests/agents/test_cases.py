"""`forgeyard workflows test`: a spec's cases run with canned model answers, no model server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agents.cases import run_case
from workflows.cases import CasesError, cases_path, load_cases
from workflows.loader import load_spec

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "workflows" / "examples"
BOOKING = EXAMPLES / "logistics_booking" / "workflow.yaml"
CUSTOMS = EXAMPLES / "customs_declaration" / "workflow.yaml"


def cases_text(spec: Path) -> str:
    """The shipped cases with their input files made absolute (to be copied elsewhere)."""
    text = cases_path(spec).read_text()
    return text.replace("input_file: inputs/", f"input_file: {spec.parent / 'inputs'}/")


def changed_case(tmp_path: Path, spec: Path, name: str, old: str, new: str):
    text = cases_text(spec)
    assert old in text
    path = tmp_path / "changed.cases.yaml"
    path.write_text(text.replace(old, new, 1))
    loaded = load_spec(spec)
    (case,) = [c for c in load_cases(path, loaded.spec) if c.name == name]
    return loaded, case


@pytest.mark.parametrize("spec", [BOOKING, CUSTOMS], ids=["logistics_booking", "customs"])
def test_the_shipped_examples_cases_pass_with_no_model_server(spec):
    done = subprocess.run(
        [sys.executable, "-m", "forgeyard", "workflows", "test", str(spec)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(REPO)},
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    count = len(load_cases(cases_path(spec), load_spec(spec).spec))
    assert f"{count} passed, 0 failed" in done.stdout


def test_a_changed_output_expectation_fails_naming_case_and_node(sqlite_db, tmp_path):
    loaded, case = changed_case(
        tmp_path,
        BOOKING,
        "structured_booked",
        "carrier: Nordhavn Container Line",
        "carrier: Maersk",
    )
    result = run_case(loaded, case)
    assert result.name == "structured_booked"
    assert result.failures == [
        "node `done`: `output.carrier` is 'Nordhavn Container Line', the case expects 'Maersk'"
    ]


def test_a_changed_end_fails_naming_the_node_reached(sqlite_db, tmp_path):
    loaded, case = changed_case(
        tmp_path, CUSTOMS, "embargoed_refused", "end: refused", "end: filed"
    )
    (failure,) = run_case(loaded, case).failures[:1]
    assert failure == "node `refused`: the run ended here, the case expects `filed`"


def test_a_canned_answer_outside_the_schema_fails_naming_the_llm_node(sqlite_db, tmp_path):
    loaded, case = changed_case(
        tmp_path, BOOKING, "structured_booked", "Q-NRDU-2026W49-40HC}", "Q-NOPE}"
    )
    failures = run_case(loaded, case).failures
    assert failures[0].startswith("node `choose`: canned answer {'quote_id': 'Q-NOPE'}")
    assert "does not satisfy the node's schema" in failures[0]


def test_a_missing_approval_and_a_changed_path_are_named(sqlite_db, tmp_path):
    loaded, case = changed_case(
        tmp_path, BOOKING, "structured_booked", "approvals: {approve: true}", "approvals: {}"
    )
    assert run_case(loaded, case).failures == [
        "node `approve`: the run waits for an approval the case does not give; "
        "add `approvals: {approve: true}` (or false)"
    ]
    loaded, case = changed_case(
        tmp_path, BOOKING, "structured_booked", "choose, approve,", "choose, confirm,"
    )
    (failure,) = run_case(loaded, case).failures
    assert failure == "node `approve`: step 8 of the path is `approve`, the case expects `confirm`"


def test_a_cases_file_naming_what_the_spec_lacks_fails_with_lines(tmp_path):
    path = tmp_path / "bad.cases.yaml"
    path.write_text(
        "cases:\n"
        "  - name: one\n"
        "    input: {text: hello there, shipper}\n"
        "    answers:\n"
        "      chose: {quote_id: x}\n"
        "    expect: {end: finished}\n"
    )
    with pytest.raises(CasesError) as info:
        load_cases(path, load_spec(BOOKING).spec)
    found = {(p.line, p.field): p.message for p in info.value.problems}
    assert found[(5, "cases[0].answers.chose")] == "`chose` is not an llm node of the spec"
    assert "`finished` is not an end node" in found[(6, "cases[0].expect.end")]
