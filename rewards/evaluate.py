"""The workbench: score a dataset, compare with human labels, probe for hacks, gate.

:func:`evaluate` is a pure function from a reward model and examples to a
JSON-ready report; storing it and approving a version is
:mod:`rewards.store`'s job.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from rewards import metrics
from rewards.dataset import LineProblem, Preference
from rewards.errors import DatasetError
from rewards.example import Example
from rewards.model import RewardModel, Score
from rewards.probes import derive
from rewards.spec import Thresholds

__all__ = ["MIN_EXAMPLES", "Progress", "check_size", "evaluate", "gate", "probe_report"]

Progress = Callable[[float, str], None]
_HIST_BINS = 10
_FAILURES_KEPT = 25
_DISAGREEMENTS_KEPT = 15
_TEXT_CHARS = 600
# Below two answers no agreement figure is defined: such an evaluation (an
# empty file, the wrong file) is a mistake, not evidence, and must not demote
# an approved version.
MIN_EXAMPLES = 2


def check_size(count: int, source: str, problems: int = 0) -> None:
    """Refuse fewer than :data:`MIN_EXAMPLES` examples.

    Raises:
        DatasetError: naming the source, its size and the minimum.
    """
    if count < MIN_EXAMPLES:
        skipped = f" ({problems} unreadable line(s) skipped)" if problems else ""
        raise DatasetError(
            f"{source or 'the dataset'} has {count} example(s){skipped}; an evaluation needs "
            f"at least {MIN_EXAMPLES}: nothing was evaluated and no version changed"
        )


def _distribution(values: Sequence[float | None]) -> dict[str, Any]:
    present = [v for v in values if v is not None]
    counts = [0] * _HIST_BINS
    for v in present:
        counts[min(int(v * _HIST_BINS), _HIST_BINS - 1)] += 1
    return {
        "count": len(present),
        "none": len(values) - len(present),
        "mean": statistics.fmean(present) if present else None,
        "std": statistics.pstdev(present) if present else None,
        "min": min(present) if present else None,
        "max": max(present) if present else None,
        "histogram": {"edges": [i / _HIST_BINS for i in range(_HIST_BINS + 1)], "counts": counts},
    }


def _agreement(
    examples: Sequence[Example],
    scores: dict[str, Score],
    preferences: Sequence[Preference],
    threshold: float,
) -> dict[str, Any]:
    labelled = [
        (ex.id, float(total), float(ex.label))
        for ex in examples
        if ex.label is not None and (total := scores[ex.id].total) is not None
    ]
    rewards = [r for _, r, _ in labelled]
    labels = [lab for _, _, lab in labelled]
    good_r = [r >= threshold for r in rewards]
    good_l = [lab >= threshold for lab in labels]
    pairs = [
        (scores[p.chosen].total, scores[p.rejected].total)
        for p in preferences
        if p.chosen in scores and p.rejected in scores
    ]
    scored_pairs = [(float(c), float(r)) for c, r in pairs if c is not None and r is not None]
    return {
        "labelled": len(labelled),
        "spearman": metrics.spearman(rewards, labels),
        "kendall": metrics.kendall(rewards, labels),
        "cohen_kappa": metrics.cohen_kappa(good_r, good_l),
        "label_threshold": threshold,
        # What κ is computed from: rows are the label's verdict, columns the reward's.
        "confusion": {
            "label_good": {
                "reward_good": sum(r and lab for r, lab in zip(good_r, good_l, strict=True)),
                "reward_bad": sum(not r and lab for r, lab in zip(good_r, good_l, strict=True)),
            },
            "label_bad": {
                "reward_good": sum(r and not lab for r, lab in zip(good_r, good_l, strict=True)),
                "reward_bad": sum(not r and not lab for r, lab in zip(good_r, good_l, strict=True)),
            },
        },
        "disagreements": [
            {"example": ex_id, "reward": r, "label": lab, "gap": abs(r - lab)}
            for ex_id, r, lab in sorted(labelled, key=lambda t: -abs(t[1] - t[2]))[
                :_DISAGREEMENTS_KEPT
            ]
        ],
        "pairs": len(scored_pairs),
        "pairwise_accuracy": metrics.pairwise_accuracy(scored_pairs),
        "calibration": metrics.calibration(rewards, labels),
        "points": [[r, lab] for r, lab in zip(rewards, labels, strict=True)],
    }


def _probes(
    model: RewardModel, examples: Sequence[Example], scores: dict[str, Score]
) -> tuple[dict[str, Any], dict[str, list[float | None]]]:
    cfg = model.spec.probes
    per_probe: dict[str, dict[str, int]] = {n: {"applied": 0, "not_lower": 0} for n in cfg.names}
    failures: list[dict[str, Any]] = []
    variants_by_example: dict[str, list[float | None]] = {}
    for ex in examples:
        original = scores[ex.id].total
        if original is None:
            continue
        variants = derive(
            ex, text_paths=cfg.text_paths, value_paths=cfg.value_paths, names=list(cfg.names)
        )
        totals = {name: model.reward(v) for name, v in variants.items()}
        variants_by_example[ex.id] = list(totals.values())
        if original <= cfg.min_reward:
            continue  # nothing scores below 0 (or below a cap): the probe tells nothing here
        for name, degraded in totals.items():
            per_probe[name]["applied"] += 1
            # A degraded answer that earns no reward at all (None) is not "lower": TRL
            # gives an unscorable completion zero advantage, it does not push against it.
            if degraded is None or degraded >= original:
                per_probe[name]["not_lower"] += 1
                if len(failures) < _FAILURES_KEPT:
                    failures.append(
                        {
                            "example": ex.id,
                            "probe": name,
                            "original": original,
                            "degraded": degraded,
                            "degraded_answer": _answer_text(variants[name]),
                        }
                    )
    applied = sum(p["applied"] for p in per_probe.values())
    not_lower = sum(p["not_lower"] for p in per_probe.values())
    report = {
        "min_reward": cfg.min_reward,
        "applied": applied,
        "not_lower": not_lower,
        "pass_rate": (applied - not_lower) / applied if applied else None,
        "per_probe": {
            name: p | {"share_not_lower": p["not_lower"] / p["applied"] if p["applied"] else None}
            for name, p in per_probe.items()
        },
        "failures": failures,
    }
    return report, variants_by_example


def _answer_text(example: Example) -> str:
    """What a reader needs to see of an answer: its output (JSON unless text) and a
    completion that says something else, cut to a readable length."""
    out = example.output
    text = out if isinstance(out, str) else json.dumps(out, ensure_ascii=False, default=str)
    if example.completion and example.completion != text:
        text += "\n--- completion ---\n" + example.completion
    return text if len(text) <= _TEXT_CHARS else text[: _TEXT_CHARS - 1] + "…"


def probe_report(model: RewardModel, examples: Sequence[Example]) -> dict[str, Any]:
    """The hack-probe figures of ``model`` on ``examples`` alone (``pass_rate`` and per probe).

    The same figures as an evaluation's ``hack_probes``, for answers a policy
    gave (the promotion gate compares a candidate adapter's with the current
    model's).
    """
    scores = {ex.id: model.score(ex) for ex in examples}
    report: dict[str, Any] = _json_safe(_probes(model, examples, scores)[0])
    return report


def _zero_variance(
    examples: Sequence[Example],
    scores: dict[str, Score],
    variants: dict[str, list[float | None]],
    group_size: int,
) -> dict[str, Any]:
    by_group: dict[str, list[float | None]] = defaultdict(list)
    for ex in examples:
        if ex.group is not None:
            by_group[ex.group].append(scores[ex.id].total)
    groups = [
        members[i : i + group_size]
        for members in by_group.values()
        if len(members) >= 2
        for i in range(0, len(members), group_size)
    ]
    groups = [g for g in groups if len(g) >= 2]
    method = "task groups"
    if not groups:
        # One answer per task: stand in for a policy's samples with the answer and
        # its degraded variants, the spread a GRPO group of a weak policy shows.
        method = "answer and its probe variants"
        groups = [
            ([scores[ex.id].total, *variants.get(ex.id, [])])[:group_size]
            for ex in examples
            if len(variants.get(ex.id, [])) >= 1
        ]
    zero = sum(1 for g in groups if _flat(g))
    return {
        "method": method,
        "group_size": group_size,
        "groups": len(groups),
        "zero_variance_groups": zero,
        "share": zero / len(groups) if groups else None,
    }


def _inapplicable(
    model: RewardModel, examples: Sequence[Example], scores: dict[str, Score]
) -> dict[str, Any]:
    """On how many examples each grader and penalty lacked its data, and the worst share."""
    graders = {
        g.name: sum(1 for ex in examples if scores[ex.id].graders[g.name].inapplicable)
        for g in model.graders
    }
    penalties = {
        p.name: sum(1 for ex in examples if p.name in scores[ex.id].penalties_inapplicable)
        for p in model.spec.penalties
    }
    counts = graders | penalties
    worst = max(counts, key=lambda n: counts[n], default=None)
    n = len(examples)
    return {
        "graders": graders,
        "penalties": penalties,
        "worst": worst if worst is not None and counts[worst] else None,
        "worst_share": counts[worst] / n if worst is not None and n else 0.0,
    }


def _flat(group: Sequence[float | None]) -> bool:
    values = [0.0 if v is None else v for v in group]
    return max(values) - min(values) < 1e-9


_CHECKS: dict[str, tuple[str, Callable[[dict[str, Any]], Any]]] = {
    "spearman": (">=", lambda r: r["agreement"]["spearman"]),
    "kendall": (">=", lambda r: r["agreement"]["kendall"]),
    "cohen_kappa": (">=", lambda r: r["agreement"]["cohen_kappa"]),
    "pairwise_accuracy": (">=", lambda r: r["agreement"]["pairwise_accuracy"]),
    "hack_pass_rate": (">=", lambda r: r["hack_probes"]["pass_rate"]),
    "max_zero_variance_share": ("<=", lambda r: r["zero_variance"]["share"]),
    "max_grader_error_rate": ("<=", lambda r: r["scores"]["worst_grader_error_rate"]),
    "max_inapplicable_share": ("<=", lambda r: r["scores"]["inapplicable"]["worst_share"]),
    "min_labelled": (">=", lambda r: r["agreement"]["labelled"]),
}


def gate(report: dict[str, Any], thresholds: Thresholds) -> dict[str, Any]:
    """Check a report against the enforced thresholds; an unmeasurable figure fails its check.

    Each check says where its threshold came from: ``spec``, or ``default``
    for one of :data:`rewards.spec.DEFAULT_THRESHOLDS` the spec left unset.
    """
    checks = []
    for name, (threshold, source) in thresholds.enforced().items():
        op, read = _CHECKS[name]
        value = read(report)
        # An unmeasurable figure (None) fails its check.
        ok = value is not None and (value >= threshold if op == ">=" else value <= threshold)
        checks.append(
            {
                "check": name,
                "op": op,
                "threshold": threshold,
                "source": source,
                "value": value,
                "passed": ok,
            }
        )
    return {
        "passed": all(c["passed"] for c in checks),
        "checks": checks,
        "defaults_applied": [c["check"] for c in checks if c["source"] == "default"],
    }


def evaluate(
    model: RewardModel,
    examples: Sequence[Example],
    preferences: Sequence[Preference] = (),
    *,
    problems: Sequence[LineProblem] = (),
    source: str = "",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Evaluate ``model`` on ``examples``: the report as a JSON-ready dict.

    Args:
        model: The reward model.
        examples: Scored one by one; ``label`` where a person scored them.
        preferences: Human preference pairs between examples (by id).
        problems: Dataset lines that could not be read (reported as they are).
        source: Where the examples came from (a file, a run filter).
        progress: Called with (fraction done, what is happening).

    Returns:
        The report: ``scores``, ``agreement``, ``hack_probes``, ``zero_variance``,
        ``gate`` and ``per_example``.

    Raises:
        DatasetError: fewer than :data:`MIN_EXAMPLES` examples.
    """
    check_size(len(examples), source, len(problems))
    notify = progress or (lambda _f, _m: None)
    scores: dict[str, Score] = {}
    n = max(len(examples), 1)
    for i, ex in enumerate(examples):
        scores[ex.id] = model.score(ex)
        if i % 50 == 0:
            notify(0.5 * i / n, f"scoring {i}/{len(examples)}")
    notify(0.5, "probing for reward hacks")
    grader_names = [g.name for g in model.graders]
    totals = [scores[ex.id].total for ex in examples]
    error_count = sum(len(s.errors) for s in scores.values())
    graded = sum(
        1 for s in scores.values() for r in s.graders.values() if r.score is not None or r.error
    )
    grader_report = {}
    for name in grader_names:
        results = [scores[ex.id].graders[name] for ex in examples]
        # An error is not "did not apply": it is counted apart, never under `none`.
        dist = _distribution([r.score for r in results if not r.error])
        errors = sum(1 for r in results if r.error)
        grader_report[name] = dist | {
            "errors": errors,
            "error_rate": errors / len(examples) if examples else 0.0,
        }
    # One grader failing on every example is diluted by the others in the overall
    # rate; the gate looks at the worst grader.
    worst = max(grader_report.items(), key=lambda kv: kv[1]["error_rate"], default=None)
    score_report = {
        "total": _distribution(totals),
        "graders": grader_report,
        "penalties": {
            p.name: sum(1 for s in scores.values() if p.name in s.penalties)
            for p in model.spec.penalties
        },
        "inapplicable": _inapplicable(model, examples, scores),
        "grader_errors": error_count,
        "grader_error_rate": error_count / graded if graded else 0.0,
        "worst_grader_error_rate": worst[1]["error_rate"] if worst else 0.0,
        "worst_grader": worst[0] if worst and worst[1]["errors"] else None,
    }
    probe_report, variants = _probes(model, examples, scores)
    notify(0.9, "agreement and variance")
    report: dict[str, Any] = {
        "reward_model": {
            "name": model.spec.name,
            "version": model.spec.version,
            "hash": model.hash,
            "tenant": model.spec.tenant,
            "workflow": model.spec.workflow,
        },
        "dataset": {
            "source": source,
            "examples": len(examples),
            "preferences": len(preferences),
            "problems": [{"line": p.line, "message": p.message} for p in problems],
        },
        "scores": score_report,
        "agreement": _agreement(
            examples, scores, preferences, model.spec.thresholds.label_threshold
        ),
        "hack_probes": probe_report,
        "zero_variance": _zero_variance(examples, scores, variants, model.spec.group_size),
        "per_example": [
            {
                "id": ex.id,
                "total": scores[ex.id].total,
                "label": ex.label,
                "penalties": scores[ex.id].penalties,
                "graders": {n: r.score for n, r in scores[ex.id].graders.items()},
                "reasons": {n: r.reason for n, r in scores[ex.id].graders.items()},
                "errors": scores[ex.id].errors,
                "inapplicable": scores[ex.id].inapplicable,
            }
            for ex in examples
        ],
    }
    report["gate"] = gate(report, model.spec.thresholds)
    notify(1.0, "done")
    return _json_safe(report)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
