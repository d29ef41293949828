"""Graders: each scores one example in [0, 1], or ``None`` where it does not apply.

Every grader returns a :class:`GraderResult` with a short reason.  A grader
that fails (a python grader raising or timing out, a judge that cannot be
reached) returns a result with ``error`` set instead of raising: one broken
example must not stop an evaluation or a training step.

The registry :data:`GRADERS` maps each ``kind`` of the spec to its class.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from rewards.example import Example
from rewards.loader import resolve_function
from rewards.paths import resolve
from rewards.reads import evaluate_reading
from rewards.spec import (
    ConstraintGrader,
    FieldMatchGrader,
    JsonSchemaGrader,
    LearnedGrader,
    LLMJudgeGrader,
    PythonGrader,
    StringCheckGrader,
    TextSimilarityGrader,
)
from workflows import expressions

__all__ = ["GRADERS", "Grader", "GraderResult", "build_grader"]

_REASON_CHARS = 160


@dataclass(frozen=True)
class GraderResult:
    """One grader's verdict on one example."""

    score: float | None
    reason: str
    error: str | None = None
    # `when` was false on fields the example has: the grader is deliberately
    # out of scope here, not missing its data.
    out_of_scope: bool = False

    @property
    def inapplicable(self) -> bool:
        """No score, no error and not scoped out: the data the grader needs is absent."""
        return self.score is None and not self.error and not self.out_of_scope

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"score": self.score, "reason": self.reason}
        if self.error:
            out["error"] = self.error
        if self.inapplicable:
            out["inapplicable"] = True
        return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class Grader:
    """Base: applies ``when``, turns exceptions into recorded errors."""

    def __init__(self, spec: Any, base_dir: Path | None = None) -> None:
        self.spec = spec
        self.name: str = spec.name
        self.weight: float = spec.weight
        self.base_dir = base_dir or Path.cwd()

    def __call__(
        self, mapping: dict[str, Any], example: Example, memo: dict[str, Any] | None = None
    ) -> GraderResult:
        """Score ``example``.

        Args:
            mapping: ``example.mapping()``, built once per example.
            example: The example.
            memo: ``when`` results already computed for this example: graders
                often share one condition (``output.status == 'booked'``).
        """
        try:
            if self.spec.when:
                holds, absent = _condition(self.spec.when, mapping, memo)
                if not holds and absent:
                    return GraderResult(
                        None, f"does not apply: `when` read absent {', '.join(absent)}"
                    )
                if not holds:
                    return GraderResult(None, "does not apply (`when` is false)", out_of_scope=True)
            result = self.grade(mapping, example)
        except Exception as exc:  # noqa: BLE001 - a grader error is recorded, never raised
            message = f"{type(exc).__name__}: {exc}"[:_REASON_CHARS]
            return GraderResult(None, "grader error", error=message)
        if result.score is not None and not 0.0 <= result.score <= 1.0:
            return GraderResult(None, "grader error", error=f"score {result.score} outside [0, 1]")
        return result

    def grade(self, mapping: dict[str, Any], example: Example) -> GraderResult:
        raise NotImplementedError

    def _reference(self, mapping: dict[str, Any]) -> Any:
        return resolve(mapping, self.spec.expected) if self.spec.expected else self.spec.value


def _condition(
    expr: str, mapping: dict[str, Any], memo: dict[str, Any] | None
) -> tuple[bool, list[str]]:
    """Whether ``when`` holds, and the absent fields it read."""
    if memo is not None and expr in memo:
        return memo[expr]  # type: ignore[no-any-return]
    value, absent = evaluate_reading(expr, mapping)
    result = (bool(value), absent)
    if memo is not None:
        memo[expr] = result
    return result


class FieldMatch(Grader):
    """A value in the output or state against the expected one: exact, casefold or numeric."""

    spec: FieldMatchGrader

    def grade(self, mapping: dict[str, Any], example: Example) -> GraderResult:
        s = self.spec
        ref = self._reference(mapping)
        if ref is None:
            return GraderResult(None, f"no expected value at `{s.expected}`")
        got = resolve(mapping, s.path)
        if s.mode == "numeric":
            if not _is_number(ref):
                raise ValueError(f"expected value {_short(ref)} is not a number")
            if not _is_number(got):
                return GraderResult(0.0, f"{s.path} = {_short(got)} is not a number")
            tol = s.tolerance * abs(float(ref)) if s.relative else s.tolerance
            ok = abs(_number(got) - _number(ref)) <= tol
        elif s.mode == "casefold":
            ok = got is not None and _fold(got) == _fold(ref)
        else:
            ok = got == ref
        verdict = "matches" if ok else "differs from"
        return GraderResult(float(ok), f"{s.path} = {_short(got)} {verdict} {_short(ref)}")


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return math.isfinite(value)
    if isinstance(value, str):
        try:
            return math.isfinite(float(value.replace(",", "")))
        except ValueError:
            return False
    return False


def _number(value: Any) -> float:
    # Thousands separators are how people (and models) write amounts.
    return float(value.replace(",", "")) if isinstance(value, str) else float(value)


def _fold(value: Any) -> str:
    return " ".join(_text(value).split()).casefold()


class StringCheck(Grader):
    """equals / contains / regex on the text at ``path`` (``negate`` inverts)."""

    spec: StringCheckGrader

    def __init__(self, spec: Any, base_dir: Path | None = None) -> None:
        super().__init__(spec, base_dir)
        self._flags = 0 if spec.case_sensitive else re.IGNORECASE

    def grade(self, mapping: dict[str, Any], example: Example) -> GraderResult:
        s = self.spec
        ref = self._reference(mapping)
        if ref is None:
            return GraderResult(None, f"no reference value at `{s.expected}`")
        got = resolve(mapping, s.path)
        if got is None:
            # "Does not contain X" says nothing about an absent text; "contains X" fails.
            if s.negate:
                return GraderResult(None, f"{s.path} is missing")
            return GraderResult(0.0, f"{s.path} is missing")
        text, pattern = _text(got), _text(ref)
        if s.op == "regex":
            hit = re.search(pattern, text, self._flags) is not None
        else:
            if not s.case_sensitive:
                text, pattern = text.casefold(), pattern.casefold()
            hit = text == pattern if s.op == "equals" else pattern in text
        ok = hit != s.negate
        verb = {"equals": "equals", "contains": "contains", "regex": "matches"}[s.op]
        reason = f"{s.path} {'' if hit else 'does not '}{verb} {_short(ref)}".replace("  ", " ")
        return GraderResult(float(ok), reason)


class TextSimilarity(Grader):
    """Fuzzy ratio (rapidfuzz), sentence BLEU (sacrebleu) or ROUGE-L F1 (rouge-score)."""

    spec: TextSimilarityGrader

    def grade(self, mapping: dict[str, Any], example: Example) -> GraderResult:
        s = self.spec
        ref = self._reference(mapping)
        if ref is None or ref == "":
            return GraderResult(None, "no reference text")
        got = resolve(mapping, s.path)
        if got is None or got == "":
            return GraderResult(0.0, f"{s.path} is empty")
        score = _similarity(s.metric, _text(got), _text(ref))
        return GraderResult(round(score, 6), f"{s.metric} {score:.3f} against the reference")


def _similarity(metric: str, hypothesis: str, reference: str) -> float:
    if metric == "ratio":
        from rapidfuzz import fuzz

        return fuzz.ratio(hypothesis, reference) / 100.0
    if metric == "bleu":
        import sacrebleu

        return min(1.0, sacrebleu.sentence_bleu(hypothesis, [reference]).score / 100.0)
    return _rouge().score(reference, hypothesis)["rougeL"].fmeasure


@cache
def _rouge() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


class JsonSchema(Grader):
    """1 when the value at ``path`` (a JSON string is parsed first) matches the schema."""

    spec: JsonSchemaGrader

    def __init__(self, spec: Any, base_dir: Path | None = None) -> None:
        super().__init__(spec, base_dir)
        self._validator = jsonschema.Draft202012Validator(spec.json_schema)

    def grade(self, mapping: dict[str, Any], example: Example) -> GraderResult:
        value = resolve(mapping, self.spec.path)
        if value is None:
            return GraderResult(0.0, f"{self.spec.path} is missing")
        if isinstance(value, str) and value.strip()[:1] in ("{", "["):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                return GraderResult(0.0, f"not valid JSON: {exc.msg}")
        error = jsonschema.exceptions.best_match(self._validator.iter_errors(value))
        if error is None:
            return GraderResult(1.0, "matches the schema")
        where = "/".join(str(p) for p in error.absolute_path) or "<root>"
        return GraderResult(0.0, f"{where}: {error.message}"[:_REASON_CHARS])


class Constraint(Grader):
    """A safe expression: true scores 1, false 0, a number is clipped to [0, 1]."""

    spec: ConstraintGrader

    def grade(self, mapping: dict[str, Any], example: Example) -> GraderResult:
        value = expressions.evaluate(self.spec.expr, mapping)
        if isinstance(value, bool) or value is None:
            ok = bool(value)
            return GraderResult(float(ok), f"`{self.spec.expr}` is {'true' if ok else 'false'}")
        if _is_number(value):
            score = min(1.0, max(0.0, float(value)))
            return GraderResult(score, f"`{self.spec.expr}` = {float(value):g}")
        return GraderResult(float(bool(value)), f"`{self.spec.expr}` = {_short(value)}")


class Python(Grader):
    """A partner's function, run with a timeout.

    Signature: ``def grade(example: Example, **params) -> float | None |
    tuple[float | None, str]`` (a score, or a score and a reason).
    """

    spec: PythonGrader

    def __init__(self, spec: Any, base_dir: Path | None = None) -> None:
        super().__init__(spec, base_dir)
        self._fn: Callable[..., Any] = resolve_function(spec.function)

    def grade(self, mapping: dict[str, Any], example: Example) -> GraderResult:
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                outcome["value"] = self._fn(example, **self.spec.params)
            except BaseException as exc:  # noqa: BLE001 - reported by the caller's thread
                outcome["error"] = exc

        # A daemon thread: a grader stuck in a loop cannot be killed, but it
        # must not keep the evaluation (or the process at exit) waiting.
        thread = threading.Thread(target=target, daemon=True, name=f"grader-{self.name}")
        thread.start()
        thread.join(self.spec.timeout_seconds)
        if thread.is_alive():
            return GraderResult(
                None, "grader error", error=f"timed out after {self.spec.timeout_seconds:g} s"
            )
        if "error" in outcome:
            exc = outcome["error"]
            return GraderResult(None, "grader error", error=f"{type(exc).__name__}: {exc}")
        value = outcome.get("value")
        if isinstance(value, GraderResult):
            return value
        reason = f"{self.spec.function}"
        if isinstance(value, tuple) and len(value) == 2:
            value, reason = value
        if value is None:
            return GraderResult(None, str(reason))
        if not _is_number(value) or isinstance(value, str):
            raise TypeError(f"{self.spec.function} returned {_short(value)}, not a number")
        return GraderResult(float(value), str(reason)[:_REASON_CHARS])  # type: ignore[arg-type]


def _judge_schema(scale: int) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["score", "reason"],
        "properties": {
            "score": {"type": "integer", "minimum": 1, "maximum": scale},
            # Short, so a reason fits the judge's token budget and the JSON closes.
            "reason": {"type": "string", "maxLength": 120},
        },
    }


class LLMJudge(Grader):
    """The local model scores the answer by a rubric, several samples averaged.

    The judge answers ``{"score": 1..scale, "reason": ...}`` (structured
    output); the grade is the mean of ``(score - 1) / (scale - 1)``.
    """

    spec: LLMJudgeGrader
    # Tests and the workbench may inject a client; by default the configured server.
    client_factory: Callable[[LLMJudgeGrader], Any] | None = None

    def grade(self, mapping: dict[str, Any], example: Example) -> GraderResult:
        s = self.spec
        client = self._client()
        messages = [
            {
                "role": "system",
                "content": f"You grade an AI agent's answer. Reply with JSON: an integer score "
                f"from 1 (worst) to {s.scale} (best) and a one-sentence reason.",
            },
            {"role": "user", "content": expressions.render(s.rubric, mapping)},
        ]
        scores, reasons, errors = [], [], []
        for i in range(s.samples):
            try:
                call = client.complete(
                    messages,
                    schema=_judge_schema(s.scale),
                    temperature=s.temperature,
                    max_tokens=s.max_tokens,
                    seed=i,
                )
            except Exception as exc:  # noqa: BLE001 - one failed sample is not fatal
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            scores.append((int(call.parsed["score"]) - 1) / (s.scale - 1))
            reasons.append(str(call.parsed.get("reason", "")))
        if not scores:
            return GraderResult(None, "grader error", error=errors[0][:_REASON_CHARS])
        mean = sum(scores) / len(scores)
        failed = f" ({len(errors)} failed: {errors[0][:60]})" if errors else ""
        reason = f"judge mean {mean:.2f} over {len(scores)} sample(s){failed}: {reasons[0]}"
        return GraderResult(mean, reason[:_REASON_CHARS])

    def _client(self) -> Any:
        if LLMJudge.client_factory is not None:
            return LLMJudge.client_factory(self.spec)
        from agents.model_client import ModelClient

        return ModelClient(base_url=self.spec.base_url, model=self.spec.model)


class Learned(Grader):
    """A sequence-classification reward model (``rewards train-rm``): sigmoid of its logit."""

    spec: LearnedGrader

    def __init__(self, spec: Any, base_dir: Path | None = None) -> None:
        super().__init__(spec, base_dir)
        path = Path(spec.model_dir)
        self.model_dir = path if path.is_absolute() else self.base_dir / path

    def grade(self, mapping: dict[str, Any], example: Example) -> GraderResult:
        from rewards.learned import score_texts

        text = expressions.render(self.spec.text, mapping)
        logit = score_texts(str(self.model_dir), [text])[0]
        score = 1.0 / (1.0 + math.exp(-logit / self.spec.scale))
        return GraderResult(round(score, 6), f"reward model logit {logit:.3f}")


GRADERS: dict[str, type[Grader]] = {
    "field_match": FieldMatch,
    "string_check": StringCheck,
    "text_similarity": TextSimilarity,
    "json_schema": JsonSchema,
    "constraint": Constraint,
    "python": Python,
    "llm_judge": LLMJudge,
    "learned": Learned,
}


def build_grader(spec: Any, base_dir: Path | None = None) -> Grader:
    """The grader for one grader spec (looked up by its ``kind``)."""
    return GRADERS[spec.kind](spec, base_dir)
