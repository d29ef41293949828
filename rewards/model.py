"""A reward model: graders, their combination and hard penalties, behind one code path.

:meth:`RewardModel.score` scores an :class:`~rewards.example.Example`; a recorded
run, a dataset line and a TRL completion all become one, so evaluation and
training compute the same reward.

Combination, over the graders that apply (score not ``None``):

* ``weighted_sum``: ``Σ wᵢ sᵢ / Σ wᵢ`` (weights renormalised over those that apply);
* ``min``: the lowest score; ``product``: the product of the scores.

A grader *error* counts as 0, so a crashing check can never earn reward.  When
no grader applies the reward is ``None`` (TRL skips it).  Then each penalty
whose ``when`` holds caps the reward at its ``cap`` (booking to a denied
destination floors it at 0, whatever else went right).  A grader or penalty
that cannot be judged on an example (its data absent) is reported in
:attr:`Score.inapplicable`, so the workbench can show a rule that never bites.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewards.example import Example, completion_text, parse_output
from rewards.graders import Grader, GraderResult, build_grader
from rewards.loader import LoadedRewardSpec, load_reward_spec, load_reward_spec_text
from rewards.reads import evaluate_reading
from workflows import expressions

__all__ = ["RewardFunction", "RewardModel", "Score", "examples_from_batch"]


@dataclass
class Score:
    """The reward of one example, with every grader's verdict and the penalties applied."""

    total: float | None
    graders: dict[str, GraderResult]
    penalties: list[str] = field(default_factory=list)
    base: float | None = None  # before penalties
    # Penalties that could not be judged here (name → why): their rule read a
    # field the example lacks, or could not be evaluated.
    penalties_inapplicable: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> dict[str, str]:
        return {n: r.error for n, r in self.graders.items() if r.error}

    @property
    def inapplicable(self) -> dict[str, str]:
        """Graders and penalties whose data this example lacks (name → reason)."""
        out = {n: r.reason for n, r in self.graders.items() if r.inapplicable}
        return out | self.penalties_inapplicable

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "base": self.base,
            "penalties": self.penalties,
            "graders": {n: r.to_dict() for n, r in self.graders.items()},
            "inapplicable": self.inapplicable,
        }


class RewardModel:
    """Scores examples according to a validated reward spec."""

    def __init__(self, loaded: LoadedRewardSpec) -> None:
        self.loaded = loaded
        self.spec = loaded.spec
        base_dir = loaded.base_dir
        self.graders: list[Grader] = [build_grader(g, base_dir) for g in self.spec.graders]
        self.method = self.spec.combine.method

    @classmethod
    def from_path(cls, path: str | Path) -> RewardModel:
        return cls(load_reward_spec(path))

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def hash(self) -> str:
        return self.loaded.hash

    def score(self, example: Example) -> Score:
        """Every grader's verdict, their combination and the penalties that apply."""
        mapping = example.mapping()
        memo: dict[str, Any] = {}
        results = {g.name: g(mapping, example, memo) for g in self.graders}
        base = self._combine(results)
        total, applied, inapplicable = base, [], {}
        for penalty in self.spec.penalties:
            try:
                value, absent = evaluate_reading(penalty.when, mapping)
            except expressions.ExpressionError as exc:
                # e.g. indexing an absent list: the rule cannot have been broken,
                # but nor was it checked.
                inapplicable[penalty.name] = str(exc)[:160]
                continue
            if value:
                applied.append(penalty.name)
                total = penalty.cap if total is None else min(total, penalty.cap)
            elif absent:
                inapplicable[penalty.name] = f"read absent {', '.join(absent)}"
        return Score(
            total=total,
            graders=results,
            penalties=applied,
            base=base,
            penalties_inapplicable=inapplicable,
        )

    def reward(self, example: Example) -> float | None:
        """Just the total."""
        return self.score(example).total

    def _combine(self, results: dict[str, GraderResult]) -> float | None:
        pairs: list[tuple[float, float]] = []
        for grader, result in zip(self.graders, results.values(), strict=True):
            if result.error:
                pairs.append((0.0, grader.weight))
            elif result.score is not None:
                pairs.append((result.score, grader.weight))
        if not pairs:
            return None
        scores = [s for s, _ in pairs]
        if self.method == "min":
            return min(scores)
        if self.method == "product":
            return math.prod(scores)
        total_weight = sum(w for _, w in pairs)
        if total_weight == 0:
            return None
        return sum(s * w for s, w in pairs) / total_weight

    def score_batch(
        self, prompts: list[Any] | None, completions: list[Any], **kwargs: Any
    ) -> list[float | None]:
        """TRL's reward contract: one reward per completion (``None`` where nothing applies)."""
        return [self.reward(ex) for ex in examples_from_batch(prompts, completions, **kwargs)]

    def as_reward_function(self) -> RewardFunction:
        """A picklable TRL reward function computing exactly :meth:`score_batch`."""
        return RewardFunction(self.loaded.source, self.loaded.path)


# TRL passes these columns itself; they are not task fields.
_TRL_KWARGS = {"trainer_state", "completion_ids", "log_extra", "log_metric", "environments"}


def examples_from_batch(
    prompts: list[Any] | None, completions: list[Any], **kwargs: Any
) -> list[Example]:
    """Turn a TRL batch into examples.

    Extra dataset columns arrive as lists, one value per completion.  Known
    columns: ``expected`` (ground truth), ``input``, ``state``, ``task_id`` or
    ``group`` (GRPO group); any other column lands in ``task``.
    """
    n = len(completions)
    columns = {k: v for k, v in kwargs.items() if k not in _TRL_KWARGS and isinstance(v, list)}
    for name, values in columns.items():
        if len(values) != n:
            raise ValueError(f"column `{name}` has {len(values)} values for {n} completions")
    out = []
    for i, completion in enumerate(completions):
        text = completion_text(completion)
        row = {k: v[i] for k, v in columns.items()}
        prompt = prompts[i] if prompts is not None and i < len(prompts) else None
        group = row.pop("task_id", None) or row.pop("group", None)
        out.append(
            Example(
                id=str(i),
                output=parse_output(text),
                state=row.pop("state", None) or {},
                expected=row.pop("expected", None),
                input=row.pop("input", None),
                prompt=_prompt_text(prompt),
                completion=text,
                group=None if group is None else str(group),
                task=row,
            )
        )
    return out


def _prompt_text(prompt: Any) -> str | None:
    if prompt is None or isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        return "\n".join(str(m.get("content", "")) for m in prompt if isinstance(m, dict))
    return str(prompt)


class RewardFunction:
    """A TRL reward function for one reward-spec version.

    Callable class rather than a closure so the reward stays picklable (TRL and
    accelerate ship it to worker processes); it pickles as the spec's source
    and rebuilds its graders on the other side.
    """

    def __init__(self, source: str, path: str | None = None) -> None:
        self.source = source
        self.path = path
        self._model: RewardModel | None = None
        self.__name__ = load_reward_spec_text(source, filename=path or "<reward spec>").spec.name

    @property
    def model(self) -> RewardModel:
        if self._model is None:
            loaded = load_reward_spec_text(self.source, filename=self.path or "<reward spec>")
            self._model = RewardModel(loaded)
        return self._model

    def __call__(
        self, prompts: list[Any] | None = None, completions: list[Any] | None = None, **kwargs: Any
    ) -> list[float | None]:
        return self.model.score_batch(prompts, completions or [], **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        return {"source": self.source, "path": self.path, "__name__": self.__name__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.source, self.path, self.__name__ = state["source"], state["path"], state["__name__"]
        self._model = None
