"""The configuration of a GRPO training job.

Every field carries its help text in ``metadata["help"]``: the CLI shows it,
the API schema and the docs are made from it.  :meth:`GRPOJobConfig.__post_init__`
checks every value and says how to fix a bad one; all problems are reported at
once in a :class:`ConfigError`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CHECKED_IN_BASE_MODEL",
    "ConfigError",
    "GRPOJobConfig",
    "default_model_dir",
    "field_help",
]

# The pretrained base model committed with the code (built by serving.base; a
# path, not an import: training and serving are independent layers).
CHECKED_IN_BASE_MODEL = Path(__file__).resolve().parent.parent / "serving" / "base_model"


def default_model_dir(settings: Any) -> Path:
    """What the model server serves when nothing is configured, hence what adapters train on.

    ``FORGEYARD_SERVE_MODEL_PATH``, else the checked-in base model, else the tiny one.
    """
    if settings.serve_model_path:
        return Path(settings.serve_model_path)
    if (CHECKED_IN_BASE_MODEL / "config.json").is_file():
        return CHECKED_IN_BASE_MODEL
    return Path(settings.tiny_model_dir)


# vLLM only accepts these LoRA ranks (``--max-lora-rank`` choices).
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


class ConfigError(ValueError):
    """One or more configuration values are wrong; ``problems`` maps field → how to fix it."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {name}: {message}" for name, message in problems.items())
        super().__init__(f"Invalid training configuration:\n{lines}")


def _f(default: Any, help: str) -> Any:  # noqa: A002 - mirrors argparse's name
    return field(default=default, metadata={"help": help})


@dataclass
class GRPOJobConfig:
    """What to train, on what, and how: one GRPO job for one tenant's workflow node."""

    tenant: str = _f("default", "Tenant whose agent is trained; its adapter serves only its runs.")
    workflow: str = _f("logistics_booking", "Workflow name (the spec's `name:`).")
    node: str = _f("choose", "The llm node to train (a registered environment must exist for it).")
    reward_model: str = _f(
        "",
        "Reward model id, content hash or name (latest version); it must be approved "
        "for this tenant and workflow.",
    )
    base_model: str = _f(
        "",
        "Base model directory (Hugging Face layout) the adapter is trained on; "
        "empty means the model server's model (FORGEYARD_MODEL_PATH).",
    )
    output_dir: str = _f(
        "", "Where checkpoints, the adapter and the report go; empty means under the data dir."
    )
    max_steps: int = _f(60, "Optimisation steps.")
    prompts_per_step: int = _f(4, "Distinct tasks per step (each gets `num_generations` answers).")
    num_generations: int = _f(
        8, "Completions sampled per task: GRPO compares them within the group (at least 2)."
    )
    learning_rate: float = _f(2e-3, "AdamW learning rate of the LoRA weights.")
    beta: float = _f(0.02, "KL penalty towards the base model (0 turns it and its metric off).")
    temperature: float = _f(1.0, "Sampling temperature while training (exploration).")
    max_completion_length: int = _f(48, "Most tokens generated per completion.")
    lora_rank: int = _f(
        8, f"LoRA rank; must be one vLLM can serve ({', '.join(map(str, VLLM_LORA_RANKS))})."
    )
    lora_alpha: int = _f(16, "LoRA alpha (scaling = alpha / rank).")
    lora_dropout: float = _f(0.0, "LoRA dropout.")
    target_modules: str = _f(
        "all-linear", "Modules that get LoRA weights: `all-linear` or a comma-separated list."
    )
    task_pool: int = _f(400, "Tasks generated to train on (those the node can answer are kept).")
    task_seed: int = _f(
        0,
        "Seed of the training task generator (the promotion gate holds out its own tasks: "
        "FORGEYARD_ADAPTER_GATE_SEED).",
    )
    seed: int = _f(0, "Seed of sampling, LoRA initialisation and data order.")
    save_steps: int = _f(10, "Checkpoint every this many steps (a killed job resumes from it).")
    use_vllm: bool | None = _f(
        None,
        "Generate with TRL's vLLM integration (GPU); None picks it when CUDA is available, "
        "False forces plain transformers generation (the CPU path).",
    )

    def __post_init__(self) -> None:
        problems: dict[str, str] = {}

        def need(ok: bool, name: str, message: str) -> None:
            if not ok and name not in problems:
                problems[name] = message

        for name in ("tenant", "workflow", "node"):
            value = getattr(self, name)
            need(
                isinstance(value, str) and bool(value.strip()),
                name,
                f"must be a non-empty name, got {value!r}.",
            )
        need(
            bool(self.reward_model.strip()),
            "reward_model",
            "is required: pass the id or name of an approved reward model "
            "(`forgeyard rewards list`).",
        )
        if self.base_model:
            path = Path(self.base_model).expanduser()
            need(
                path.is_dir() and (path / "config.json").is_file(),
                "base_model",
                f"{self.base_model} is not a model directory (no config.json there); "
                "build one with `forgeyard model build-tiny` or point at a downloaded model.",
            )
        for name in (
            "max_steps",
            "prompts_per_step",
            "max_completion_length",
            "task_pool",
            "save_steps",
            "lora_alpha",
        ):
            value = getattr(self, name)
            need(
                isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                name,
                f"must be a whole number ≥ 1, got {value!r}.",
            )
        need(
            isinstance(self.num_generations, int) and self.num_generations >= 2,
            "num_generations",
            "must be ≥ 2 (GRPO compares completions within a group), "
            f"got {self.num_generations!r}.",
        )
        for name in ("learning_rate", "beta", "temperature", "lora_dropout"):
            value = getattr(self, name)
            need(
                isinstance(value, (int, float)) and not isinstance(value, bool),
                name,
                f"must be a number, got {value!r}.",
            )
        if problems:
            raise ConfigError(problems)
        need(
            0 < self.learning_rate <= 1,
            "learning_rate",
            f"must be in (0, 1], got {self.learning_rate!r}; LoRA usually wants 1e-5 … 1e-2.",
        )
        need(self.beta >= 0, "beta", f"must be ≥ 0, got {self.beta!r}.")
        need(
            0 < self.temperature <= 5,
            "temperature",
            f"must be in (0, 5], got {self.temperature!r}; GRPO needs sampling (try 1.0).",
        )
        need(
            self.lora_rank in VLLM_LORA_RANKS,
            "lora_rank",
            f"{self.lora_rank!r} cannot be served by vLLM; use one of "
            f"{', '.join(map(str, VLLM_LORA_RANKS))}.",
        )
        need(
            0 <= self.lora_dropout < 1,
            "lora_dropout",
            f"must be in [0, 1), got {self.lora_dropout!r}.",
        )
        need(
            bool(self.target_modules.strip()),
            "target_modules",
            "must be `all-linear` or module names such as `q_proj,v_proj`.",
        )
        if problems:
            raise ConfigError(problems)

    @property
    def batch_size(self) -> int:
        """Completions per optimisation step."""
        return self.prompts_per_step * self.num_generations

    @property
    def target_module_list(self) -> str | list[str]:
        text = self.target_modules.strip()
        return text if text == "all-linear" else [m.strip() for m in text.split(",") if m.strip()]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GRPOJobConfig:
        """Build from a mapping, naming unknown keys instead of a TypeError."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                {name: f"unknown setting; known: {', '.join(sorted(known))}." for name in unknown}
            )
        return cls(**values)


def field_help() -> dict[str, str]:
    """Field name → help text, in declaration order."""
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(GRPOJobConfig)}
