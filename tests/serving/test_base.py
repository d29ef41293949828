"""The pretrained base model: checked in, rebuilt only when its parameters change, legible."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from serving._errors import ModelBuildError
from serving.base import BASE_MODEL_DIR, base_parameters, build_base_model, checked_in_base_model
from serving.tiny import read_manifest
from training.base_corpus import IM_END, IM_START, domain_documents

REPO = Path(__file__).resolve().parents[2]


def test_the_checked_in_model_is_the_default_build_small_and_tracked():
    manifest = read_manifest(checked_in_base_model())
    assert manifest is not None and manifest["build"] == base_parameters()
    # The default build is there already: returned at once, no corpus needed.
    assert build_base_model() == BASE_MODEL_DIR
    weights = BASE_MODEL_DIR / "model.safetensors"
    assert weights.stat().st_size <= 16 * 2**20
    tracked = subprocess.run(
        ["git", "ls-files", str(BASE_MODEL_DIR.relative_to(REPO))],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "serving/base_model/model.safetensors" in tracked
    # head_dim 64: vLLM's CPU attention rejects smaller heads.
    assert manifest["model_type"] == "qwen2" and manifest["head_dim"] == 64


def test_building_elsewhere_needs_the_corpus_and_refuses_foreign_directories(tmp_path):
    with pytest.raises(ModelBuildError, match="corpus generator"):
        build_base_model(tmp_path / "base")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("not a model")
    with pytest.raises(ModelBuildError, match="not empty"):
        build_base_model(tmp_path / "other", documents=domain_documents)


def test_corpus_is_deterministic_and_leaves_the_choice_out():
    docs = list(domain_documents(30, seed=1))
    assert docs == list(domain_documents(30, seed=1))
    chooses = [d for d in docs if "You choose ocean-freight quotes" in d]
    confirms = [d for d in docs if "booking confirmations" in d]
    assert chooses and confirms
    for doc in chooses:
        # The chat stops before the assistant's turn: no quote is ever picked.
        assert f"{IM_START}assistant" not in doc and "quote_id" not in doc
    for doc in confirms:
        assert doc.endswith(f"{IM_END}\n") and "confirmed" in doc


def test_the_base_model_writes_a_confirmation():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(BASE_MODEL_DIR)
    model = AutoModelForCausalLM.from_pretrained(BASE_MODEL_DIR).eval()
    messages = [
        {
            "role": "system",
            "content": "You write short, polite booking confirmations for shippers.",
        },
        {
            "role": "user",
            "content": "Write a two-sentence confirmation for booking FYB-3A9C01D2:\n"
            "2 x 40HC from CNSHA\nto NLRTM with Pacific Crest Lines, departing\n"
            "2026-10-05, arriving 2026-11-09, 7400.0 USD.\n",
        },
    ]
    ids = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=80, do_sample=False)
    text = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
    words = text.split()
    assert len(words) >= 8, text
    assert "confirmed" in text.lower(), text
