"""Adapters for promotion tests: a quick supervised LoRA trained on correct ``choose`` answers.

A few hundred tiny optimisation steps on CPU (seconds): PEFT LoRA on the tiny
model, trained on the correct compact-JSON completion (``{"quote_id":"Q-…"}``)
of training tasks, prompts built by the chat template from the environment's
messages.  Held-out tasks use another seed.  On the random-weight tiny model it
does not generalise decisively (measured on the gate's 30 held-out tasks: mean
reward 0.69 vs 0.61, 95% interval of the gain [-0.07, +0.22]).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from forgeyard.db import session_scope
from rewards.loader import load_reward_spec
from rewards.store import register
from training.envs import LOGISTICS_REWARD, ChooseEnv
from training.records import AdapterRecord

TRAIN_SEED = 11
WORKFLOW, NODE = "logistics_booking", "choose"


def reward_model_id(tenant: str) -> str:
    """The shipped logistics reward model, registered for ``tenant``."""
    return register(load_reward_spec(LOGISTICS_REWARD), tenant_id=tenant).id


def candidate(tenant: str, path: Path | str, *, rank: int = 8, **fields: Any) -> AdapterRecord:
    """An adapter row of ``choose`` (a candidate unless ``status`` says otherwise)."""
    values = {"workflow": WORKFLOW, "node": NODE, "base_model": "tiny", **fields}
    record = AdapterRecord(
        tenant_id=tenant,
        reward_model_id=reward_model_id(tenant),
        path=str(path),
        rank=rank,
        **values,
    )
    with session_scope() as session:
        session.add(record)
    return record


def answer(quote_id: str) -> str:
    """The completion a served structured answer looks like (compact JSON)."""
    return json.dumps({"quote_id": quote_id}, separators=(",", ":"))


def train_choose_adapter(
    model_dir: Path,
    out: Path,
    *,
    rank: int = 8,
    steps: int = 300,
    pool: int = 300,
) -> Path:
    """Fine-tune a LoRA of ``rank`` on correct ``choose`` answers; the adapter directory."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    env = ChooseEnv(task_pool=pool, task_seed=TRAIN_SEED)
    examples = []
    for task in env.tasks:
        _, info = env.reset(options={"task_id": task.task_id})
        prompt = tokenizer.apply_chat_template(
            info["messages"], tokenize=False, add_generation_prompt=True
        )
        assert task.expected.choice_quote_id is not None
        target = answer(task.expected.choice_quote_id) + tokenizer.eos_token
        p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        t_ids = tokenizer(target, add_special_tokens=False)["input_ids"]
        examples.append((torch.tensor([p_ids + t_ids]), len(p_ids)))
    env.close()

    base = AutoModelForCausalLM.from_pretrained(model_dir)
    config = LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        target_modules=[
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        ],
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(base, config)
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-3)
    model.train()
    for step in range(steps):
        ids, prompt_len = examples[step % len(examples)]
        labels = ids.clone()
        labels[:, :prompt_len] = -100  # learn the answer, not the prompt
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        optimiser.step()
        optimiser.zero_grad()
    model.save_pretrained(out)
    return out
