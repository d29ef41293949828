"""The reward-model spec: what a partner writes in YAML, as pydantic models.

One grader kind per class, told apart by ``kind``; every grader may carry a
``weight`` (for ``weighted_sum``) and a ``when`` expression outside which it
does not apply (score ``None``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "GRADER_KINDS",
    "DEFAULT_THRESHOLDS",
    "Combine",
    "ConstraintGrader",
    "FieldMatchGrader",
    "GraderSpec",
    "JsonSchemaGrader",
    "LLMJudgeGrader",
    "LearnedGrader",
    "Penalty",
    "Probes",
    "PythonGrader",
    "RewardSpec",
    "StringCheckGrader",
    "TextSimilarityGrader",
    "Thresholds",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Grader(_Strict):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Unique grader name.")
    description: str = ""
    weight: float = Field(default=1.0, ge=0, description="Weight in a weighted sum.")
    when: str | None = Field(
        default=None, description="Expression; where false the grader does not apply (None)."
    )


class _Compared(_Grader):
    """A grader comparing the value at ``path`` with a literal ``value`` or another path."""

    path: str = Field(description="Where the graded value is, e.g. `output.quote_id`.")
    expected: str | None = Field(
        default=None, description="Path of the reference value, e.g. `expected.choice_quote_id`."
    )
    value: Any = Field(default=None, description="A literal reference value instead.")

    @model_validator(mode="after")
    def _one_reference(self) -> _Compared:
        if (self.expected is None) == (self.value is None):
            raise ValueError("give exactly one of `expected` (a path) or `value` (a literal)")
        return self


class FieldMatchGrader(_Compared):
    kind: Literal["field_match"]
    mode: Literal["exact", "casefold", "numeric"] = "exact"
    tolerance: float = Field(default=0.0, ge=0, description="Numeric mode: absolute tolerance.")
    relative: bool = Field(default=False, description="Numeric mode: tolerance is relative.")


class StringCheckGrader(_Compared):
    kind: Literal["string_check"]
    op: Literal["equals", "contains", "regex"] = "equals"
    case_sensitive: bool = True
    negate: bool = Field(default=False, description="Score 1 when the check fails instead.")


class TextSimilarityGrader(_Compared):
    kind: Literal["text_similarity"]
    metric: Literal["ratio", "bleu", "rouge_l"] = "ratio"


class JsonSchemaGrader(_Grader):
    kind: Literal["json_schema"]
    path: str
    json_schema: dict[str, Any] = Field(alias="schema")


class ConstraintGrader(_Grader):
    kind: Literal["constraint"]
    expr: str = Field(description="Safe expression over the example; truthy scores 1.")


class PythonGrader(_Grader):
    kind: Literal["python"]
    function: str = Field(description="`package.module:function` (or dotted).")
    params: dict[str, Any] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=5.0, gt=0)


class LLMJudgeGrader(_Grader):
    kind: Literal["llm_judge"]
    rubric: str = Field(description="Jinja template over the example; the judge's instructions.")
    scale: int = Field(default=5, ge=2, le=100, description="The judge answers 1..scale.")
    samples: int = Field(default=3, ge=1, le=16, description="Judgements averaged.")
    temperature: float = Field(default=0.7, ge=0)
    max_tokens: int = Field(default=200, ge=16)
    model: str | None = None
    base_url: str | None = None


class LearnedGrader(_Grader):
    kind: Literal["learned"]
    model_dir: str = Field(description="Directory of a model trained by `rewards train-rm`.")
    text: str = Field(
        default="{{ prompt or '' }}\n{{ completion or '' }}",
        description="Jinja template of the text the model scores.",
    )
    scale: float = Field(default=1.0, gt=0, description="Logit divisor before the sigmoid.")


GRADER_KINDS = (
    "field_match", "string_check", "text_similarity", "json_schema", "constraint",
    "python", "llm_judge", "learned",
)  # fmt: skip

GraderSpec = Annotated[
    FieldMatchGrader
    | StringCheckGrader
    | TextSimilarityGrader
    | JsonSchemaGrader
    | ConstraintGrader
    | PythonGrader
    | LLMJudgeGrader
    | LearnedGrader,
    Field(discriminator="kind"),
]


class Combine(_Strict):
    method: Literal["weighted_sum", "min", "product"] = "weighted_sum"


class Penalty(_Strict):
    """A hard rule: where ``when`` holds, the reward is at most ``cap``."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    when: str
    cap: float = Field(default=0.0, ge=0, le=1)
    reason: str = ""


class Thresholds(_Strict):
    """What an evaluation must show for the version to be approved.

    A threshold the spec leaves unset is not checked, except those of
    :data:`DEFAULT_THRESHOLDS`: every evaluation is held to them, at the
    spec's value where it sets one, else at the default.
    """

    spearman: float | None = Field(default=None, ge=-1, le=1)
    kendall: float | None = Field(default=None, ge=-1, le=1)
    cohen_kappa: float | None = Field(default=None, ge=-1, le=1)
    pairwise_accuracy: float | None = Field(default=None, ge=0, le=1)
    hack_pass_rate: float | None = Field(default=None, ge=0, le=1)
    max_zero_variance_share: float | None = Field(default=None, ge=0, le=1)
    max_grader_error_rate: float | None = Field(
        default=None, ge=0, le=1, description="Most errors a grader may have, per example."
    )
    max_inapplicable_share: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Most examples on which one grader or penalty may lack its data.",
    )
    min_labelled: int | None = Field(
        default=None, ge=1, description="Labelled examples needed at least."
    )
    label_threshold: float = Field(
        default=0.5, ge=0, le=1, description="Score at and above which an answer is `good` (κ)."
    )

    def enforced(self) -> dict[str, tuple[float, str]]:
        """Every threshold checked, with where its value came from (``spec`` or ``default``)."""
        out: dict[str, tuple[float, str]] = {}
        for name in _CHECKED:
            value = getattr(self, name)
            if value is not None:
                out[name] = (value, "spec")
            elif name in DEFAULT_THRESHOLDS:
                out[name] = (DEFAULT_THRESHOLDS[name], "default")
        return out


# Checked in this order; `label_threshold` is the κ cut, not a check.
_CHECKED = (
    "spearman", "kendall", "cohen_kappa", "pairwise_accuracy", "hack_pass_rate",
    "max_zero_variance_share", "max_grader_error_rate", "max_inapplicable_share",
    "min_labelled",
)  # fmt: skip

# The least any approval rests on, so a spec that sets no thresholds is not
# approved on nothing (a grader timing out on every example once was): the
# reward must rank answers like people do, resist the hack probes, run
# without errors, have the data each of its rules reads (a penalty on absent
# fields once never fired), and be measured on enough labelled answers.
DEFAULT_THRESHOLDS: dict[str, float] = {
    "spearman": 0.5,
    "hack_pass_rate": 0.9,
    "max_grader_error_rate": 0.05,
    "max_inapplicable_share": 0.25,
    "min_labelled": 20,
}


ProbeName = Literal["empty", "echo", "padding", "flattery", "wrong_values", "extreme_values"]
_ALL_PROBES: list[ProbeName] = [
    "empty", "echo", "padding", "flattery", "wrong_values", "extreme_values",
]  # fmt: skip


class Probes(_Strict):
    """Which hack probes run and which parts of the answer they degrade."""

    names: list[ProbeName] = Field(
        default_factory=lambda: list(_ALL_PROBES), description="Probes to run."
    )
    text_paths: list[str] | None = Field(
        default=None, description="Prose the policy writes (echo, padding, flattery)."
    )
    min_reward: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="Probe only answers rewarded above this: an answer already held at a "
        "penalty's cap cannot score lower, which says nothing about gaming.",
    )
    value_paths: list[str] | None = Field(
        default=None, description="Values the policy chooses (wrong and extreme values)."
    )


class RewardSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")
    version: str = "1"
    tenant: str = "default"
    workflow: str
    description: str = ""
    graders: list[GraderSpec] = Field(min_length=1)
    combine: Combine = Field(default_factory=Combine)
    penalties: list[Penalty] = Field(default_factory=list)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    probes: Probes = Field(default_factory=Probes)
    group_size: int = Field(default=8, ge=2, description="GRPO group size for the variance check.")
