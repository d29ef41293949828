"""A spec's test cases: input, canned model answers, expected end and output.

They live beside the spec, in ``<spec stem>.cases.yaml`` (``workflow.yaml`` →
``workflow.cases.yaml``)::

    cases:
      - name: structured_booking
        input_file: inputs/structured.json     # or `input: {...}`; relative to this file
        config: {approval_threshold_usd: 50000}
        answers:                               # canned model answers, per llm node
          choose: {quote_id: Q-MAEU-2026W02-40HC}
          confirm: "Booked."                    # a text node's answer is a string
          classify: [{hs_code: "851713"}, {hs_code: "940360"}]   # a list: one per call
        approvals: {approve: true}             # or {approve: {approved: false, comment: ...}}
        expect:
          end: done                            # the end node the run reaches
          output: {status: booked}             # a subset of its output
          path: [intake, validate, ...]        # optional: the nodes, in order

``forgeyard workflows test FILE`` runs them with no model server (see
:mod:`agents.cases`).  A list answer is one answer per call of the node; a
node whose answer is itself a list writes it inside a list (``[[...]]``).

Errors::

    CasesError                one or more problems, each with file, line, field
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from forgeyard.yaml_problems import (
    ProblemCollector,
    ProblemsError,
    SpecProblem,
    parse_mapping,
    plain_data,
    read_source,
)
from workflows.spec import ApprovalNode, EndNode, LLMNode, WorkflowSpec

__all__ = ["Case", "CasesError", "Expect", "cases_path", "load_cases"]


class CasesError(ProblemsError):
    """A cases file that cannot be used."""

    document = "workflow cases"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Decision(_Strict):
    approved: bool
    by: str = "workflows-test"
    comment: str | None = None


class Expect(_Strict):
    """What a case's run must come to."""

    end: str = Field(description="The end node the run reaches.")
    output: dict[str, Any] = Field(
        default_factory=dict, description="Keys the output must have, with these values."
    )
    path: list[str] | None = Field(None, description="The nodes the run steps through, in order.")


class Case(_Strict):
    """One case: a run's input, what the model says, what must come out."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    input: dict[str, Any] | None = None
    input_file: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    answers: dict[str, Any] = Field(default_factory=dict)
    approvals: dict[str, bool | Decision] = Field(default_factory=dict)
    expect: Expect

    def answers_for(self, node: str) -> list[Any]:
        """The canned answers of llm node ``node``, one per call."""
        value = self.answers.get(node)
        if value is None:
            return []
        return list(value) if isinstance(value, list) else [value]

    def decision(self, node: str) -> Decision | None:
        value = self.approvals.get(node)
        if value is None or isinstance(value, Decision):
            return value
        return Decision(approved=value)


class _CasesFile(_Strict):
    cases: list[Case] = Field(min_length=1)


def cases_path(spec_path: str | Path) -> Path:
    """Where the cases of the spec at ``spec_path`` live."""
    path = Path(spec_path)
    return path.with_name(path.name.removesuffix(path.suffix) + ".cases.yaml")


def load_cases(path: str | Path, spec: WorkflowSpec) -> list[Case]:
    """Read and check the cases at ``path`` against ``spec``; inputs from files are read."""
    source = read_source(path, CasesError)
    doc = parse_mapping(source, str(path), CasesError, "cases: [...]")
    checker = ProblemCollector(doc, str(path), source)
    try:
        parsed = _CasesFile.model_validate(plain_data(doc))
    except ValidationError as exc:
        checker.add_pydantic(exc)
        checker.raise_if_any(CasesError)
        raise AssertionError("unreachable") from exc
    cases: list[Case] = []
    seen: set[str] = set()
    for i, case in enumerate(parsed.cases):
        where: tuple[Any, ...] = ("cases", i)
        if case.name in seen:
            checker.add(where + ("name",), f"a second case named `{case.name}`")
        seen.add(case.name)
        if (case.input is None) == (case.input_file is None):
            checker.add(where, "give exactly one of `input` and `input_file`")
        elif case.input_file is not None:
            file = Path(path).parent / case.input_file
            try:
                case = case.model_copy(update={"input": json.loads(file.read_text())})
            except (OSError, ValueError) as exc:
                checker.add(where + ("input_file",), f"cannot read `{file}`: {exc}")
        for node in case.answers:
            if not isinstance(spec.nodes.get(node), LLMNode):
                checker.add(where + ("answers", node), f"`{node}` is not an llm node of the spec")
        for node in case.approvals:
            if not isinstance(spec.nodes.get(node), ApprovalNode):
                checker.add(where + ("approvals", node), f"`{node}` is not an approval node")
        if not isinstance(spec.nodes.get(case.expect.end), EndNode):
            ends = ", ".join(f"`{n}`" for n, x in spec.nodes.items() if isinstance(x, EndNode))
            checker.add(
                where + ("expect", "end"),
                f"`{case.expect.end}` is not an end node of the spec (end nodes: {ends})",
            )
        for j, node in enumerate(case.expect.path or []):
            if node not in spec.nodes:
                checker.add(where + ("expect", "path", j), f"`{node}` is not a node of the spec")
        cases.append(case)
    checker.raise_if_any(CasesError)
    return cases


def case_problem(file: str, case: str, message: str) -> SpecProblem:
    """A failed expectation, named by the case."""
    return SpecProblem(file, None, f"case {case}", message)
