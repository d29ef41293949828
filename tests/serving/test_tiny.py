"""Tests for serving/tiny.py, serving/_tokenizer.py and the corpus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from serving import tiny as tiny_module
from serving._errors import ModelBuildError
from serving.corpus import make_corpus
from serving.tiny import (
    MANIFEST_NAME,
    build_parameters,
    build_tiny_model,
    corpus_files,
    read_manifest,
)

DOMAIN_SAMPLES = [
    "Booking BW43973973: 2 x 40HC (45G1) from Rotterdam (NLRTM) to Shanghai (CNSHA), "
    "ETD 2026-06-16, VGM cut-off 2026-06-13 17:00.",
    "Reefer 40RH set to -18 °C, vents closed; frozen tuna loins, HS 0303.",
    '{"pol": "SGSIN", "pod": "USLAX", "quantity": 3, "dangerous_goods": false}',
    "Naïve café — ✓ 東京 \t tabs\nand\r\nnewlines",
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def _fake_writer(target: Path, params: dict[str, Any]) -> None:
    # Stands in for the real build where only directory handling is tested.
    (target / "model.safetensors").write_bytes(b"fake")
    (target / MANIFEST_NAME).write_text(json.dumps({"build": params}), encoding="utf-8")


# -- the model --------------------------------------------------------------


@pytest.mark.slow
def test_same_seed_gives_same_weights_and_tokenizer(tiny_model_dir: Path, tmp_path: Path) -> None:
    fresh = build_tiny_model(tmp_path / "again", seed=0)

    cached, rebuilt = read_manifest(tiny_model_dir), read_manifest(fresh)
    assert cached is not None and rebuilt is not None
    assert rebuilt["weights_sha256"] == cached["weights_sha256"]
    tokenizer_json = (tiny_model_dir / "tokenizer.json").read_bytes()
    assert (fresh / "tokenizer.json").read_bytes() == tokenizer_json


@pytest.mark.slow
def test_other_seed_gives_other_weights(tiny_model_dir: Path, tmp_path: Path) -> None:
    other = read_manifest(build_tiny_model(tmp_path / "seed1", seed=1))
    assert other is not None
    assert other["weights_sha256"] != read_manifest(tiny_model_dir)["weights_sha256"]  # type: ignore[index]


def test_manifest_records_the_build(tiny_model_dir: Path) -> None:
    from safetensors.torch import load_file

    manifest = read_manifest(tiny_model_dir)
    assert manifest is not None
    assert manifest["build"] == build_parameters(seed=0, vocab_size=2048)
    assert manifest["parameters"] > 0
    # The recorded hash is that of the saved weights (tied lm_head restored).
    state = load_file(tiny_model_dir / "model.safetensors")
    state.setdefault("lm_head.weight", state["model.embed_tokens.weight"])
    model = _StateDict(state)
    assert tiny_module.weights_sha256(model) == manifest["weights_sha256"]  # type: ignore[arg-type]


class _StateDict:
    """Just enough of an nn.Module for weights_sha256."""

    def __init__(self, state: dict[str, Any]) -> None:
        self._state = state

    def state_dict(self) -> dict[str, Any]:
        return self._state


def test_config_is_qwen2_with_head_dim_64(tiny_model_dir: Path, tokenizer: Any) -> None:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(tiny_model_dir)
    assert config.model_type == "qwen2"
    # vLLM's CPU attention supports head_dim 64 but not 16.
    assert config.hidden_size // config.num_attention_heads == 64
    assert config.num_key_value_heads == 2
    assert config.num_hidden_layers == 2
    assert config.tie_word_embeddings is True
    assert config.vocab_size == len(tokenizer)


def test_loads_with_transformers_and_generates(tiny_model_dir: Path, tokenizer: Any) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": DOMAIN_SAMPLES[0]}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=6, min_new_tokens=6, do_sample=False)
    assert output.shape[1] == inputs["input_ids"].shape[1] + 6


# -- building into directories ----------------------------------------------


def test_returns_early_when_already_built(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_build(*args: Any) -> None:
        raise AssertionError("rebuilt a model that was already there")

    monkeypatch.setattr(tiny_module, "_write_model", must_not_build)
    assert build_tiny_model(tiny_model_dir) == tiny_model_dir


def test_refuses_a_non_empty_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tiny_module, "_write_model", _fake_writer)
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")

    with pytest.raises(ModelBuildError, match="not empty.*overwrite=True"):
        build_tiny_model(tmp_path)
    assert (tmp_path / "notes.txt").exists()


def test_refuses_a_model_built_with_other_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tiny_module, "_write_model", _fake_writer)
    build_tiny_model(tmp_path / "m", seed=1)

    with pytest.raises(ModelBuildError, match="seed=2"):
        build_tiny_model(tmp_path / "m", seed=2)


def test_overwrite_replaces_the_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tiny_module, "_write_model", _fake_writer)
    target = tmp_path / "m"
    target.mkdir()
    (target / "notes.txt").write_text("old", encoding="utf-8")

    build_tiny_model(target, seed=5, overwrite=True)

    assert not (target / "notes.txt").exists()
    assert read_manifest(target)["build"]["seed"] == 5  # type: ignore[index]
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no staging left behind


def test_builds_into_an_existing_empty_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tiny_module, "_write_model", _fake_writer)
    (tmp_path / "m").mkdir()
    build_tiny_model(tmp_path / "m")
    assert read_manifest(tmp_path / "m") is not None


def test_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x", encoding="utf-8")
    with pytest.raises(ModelBuildError, match="is a file"):
        build_tiny_model(tmp_path / "f")


# -- the tokenizer ----------------------------------------------------------


@pytest.mark.parametrize("text", DOMAIN_SAMPLES)
def test_tokenizer_round_trips(tokenizer: Any, text: str) -> None:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text


def test_tokenizer_learned_the_domain(tokenizer: Any) -> None:
    text = corpus_files()[0].read_text(encoding="utf-8")[:5000]
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    # Byte-level would be ~1 token per character; a trained BPE does far better.
    assert len(ids) < 0.4 * len(text)
    assert tokenizer.tokenize(" Rotterdam") == ["ĠRotterdam"]


def test_special_tokens(tiny_model_dir: Path, tokenizer: Any) -> None:
    from transformers import GenerationConfig

    assert tokenizer.eos_token == "<|im_end|>"
    assert tokenizer.pad_token == "<|pad|>"
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]
    ids = tokenizer.convert_tokens_to_ids(specials)
    assert len(set(ids)) == 4
    assert tokenizer.decode(ids, skip_special_tokens=True) == ""
    generation = GenerationConfig.from_pretrained(tiny_model_dir)
    assert tokenizer.eos_token_id in generation.eos_token_id
    assert generation.pad_token_id == tokenizer.pad_token_id


def test_chat_template_is_chatml(tokenizer: Any) -> None:
    messages = [
        {"role": "system", "content": "You book containers."},
        {"role": "user", "content": "2 x 40HC NLRTM-CNSHA"},
        {"role": "assistant", "content": "Booked."},
        {"role": "user", "content": "Thanks"},
    ]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nYou book containers.<|im_end|>\n"
        "<|im_start|>user\n2 x 40HC NLRTM-CNSHA<|im_end|>\n"
        "<|im_start|>assistant\nBooked.<|im_end|>\n"
        "<|im_start|>user\nThanks<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    without_prompt = tokenizer.apply_chat_template(messages, tokenize=False)
    assert without_prompt == text.removesuffix("<|im_start|>assistant\n")


def test_chat_template_accepts_content_parts(tokenizer: Any) -> None:
    as_parts = [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    as_string = [{"role": "user", "content": "Hi"}]
    assert tokenizer.apply_chat_template(as_parts, tokenize=False) == (
        tokenizer.apply_chat_template(as_string, tokenize=False)
    )


def test_chat_special_tokens_are_single_ids(tokenizer: Any) -> None:
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=True)
    ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
    assert ids[0] == tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in ids


# -- the corpus -------------------------------------------------------------


def test_committed_corpus_matches_its_generator() -> None:
    committed = make_corpus.OUTPUT.read_text(encoding="utf-8")
    assert make_corpus.generate() == committed, (
        "serving/corpus/freight.txt is stale: run `python -m serving.corpus.make_corpus`"
    )


def test_corpus_is_small() -> None:
    total = sum(p.stat().st_size for p in corpus_files())
    assert 100_000 < total < 400_000
