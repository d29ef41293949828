"""A tiny Qwen2-style causal LM, built offline from the domain corpus.

It has random weights: it stands in for a real open model wherever the code
path matters more than the answers (tests, CI, demos on a laptop).  vLLM,
transformers, PEFT and TRL all load the directory it writes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving._errors import ModelBuildError

if TYPE_CHECKING:
    import torch

MANIFEST_NAME = "forgeyard-model.json"
# Bump when the builder changes what it writes for the same inputs, so that
# cached models from an older builder are rebuilt instead of reused.
BUILDER_VERSION = 1
CORPUS_DIR = Path(__file__).resolve().parent / "corpus"

# head_dim = hidden_size / num_attention_heads = 64: vLLM's CPU attention
# rejects small head sizes such as 16.
ARCHITECTURE: dict[str, Any] = {
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "max_position_embeddings": 2048,
    "tie_word_embeddings": True,
    "rms_norm_eps": 1e-6,
    "initializer_range": 0.02,
}


def corpus_files() -> list[Path]:
    """The text files the tokenizer is trained on, in a fixed order."""
    return sorted(CORPUS_DIR.glob("*.txt"))


def corpus_sha256() -> str:
    """Hash of the corpus file names and contents, recorded with each build."""
    digest = hashlib.sha256()
    for path in corpus_files():
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def build_parameters(*, seed: int = 0, vocab_size: int = 2048) -> dict[str, Any]:
    """Everything that determines the built model; equal parameters, equal model."""
    return {
        "builder": "serving.tiny",
        "builder_version": BUILDER_VERSION,
        "seed": seed,
        "vocab_size": vocab_size,
        "architecture": ARCHITECTURE,
        "corpus_sha256": corpus_sha256(),
    }


def read_manifest(model_dir: Path) -> dict[str, Any] | None:
    """The ``forgeyard-model.json`` in ``model_dir``, or None if absent or unreadable."""
    try:
        data = json.loads((Path(model_dir) / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def weights_sha256(model: torch.nn.Module) -> str:
    """Hash of every tensor in the state dict (names, shapes, dtypes and values)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}\0".encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def build_tiny_model(
    out_dir: Path, *, seed: int = 0, vocab_size: int = 2048, overwrite: bool = False
) -> Path:
    """Build the tiny model (tokenizer, weights, generation config) into ``out_dir``.

    Deterministic for ``seed``: the same parameters and corpus give the same
    tokenizer and weights.  Idempotent: if ``out_dir`` already holds a model
    built with the same parameters it is returned at once, without loading torch.

    Args:
        out_dir: Directory to write; created if missing.
        seed: Seed for the weight initialisation.
        vocab_size: Target vocabulary size of the BPE tokenizer.
        overwrite: Replace a non-empty ``out_dir`` that holds something else.

    Returns:
        ``out_dir``, ready for ``--model`` (vLLM) or ``from_pretrained``.

    Raises:
        ModelBuildError: ``out_dir`` is a file, or is non-empty and holds a
            different model while ``overwrite`` is false.
    """
    out_dir = Path(out_dir)
    params = build_parameters(seed=seed, vocab_size=vocab_size)
    if _holds_build(out_dir, params):
        return out_dir
    if out_dir.exists() and not out_dir.is_dir():
        raise ModelBuildError(f"{out_dir} is a file; choose a directory for the tiny model.")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise ModelBuildError(
            f"{out_dir} is not empty and does not hold a tiny model built with "
            f"seed={seed}, vocab_size={vocab_size} and the current corpus; "
            "pass overwrite=True (CLI: --overwrite) to replace it, or choose another directory."
        )

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename into place, so that a crash leaves no
    # half-written model and concurrent builders (parallel test sessions) race
    # safely: the loser finds the winner's identical model.
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.building-", dir=out_dir.parent))
    # mkdtemp makes it private (0700); the model should be as readable as any
    # directory the user creates.
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)
    try:
        _write_model(staging, params)
        _move_into_place(staging, out_dir, params, overwrite=overwrite)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def _holds_build(model_dir: Path, params: dict[str, Any]) -> bool:
    manifest = read_manifest(model_dir)
    return manifest is not None and manifest.get("build") == params


def _write_model(target: Path, params: dict[str, Any]) -> None:
    import tokenizers
    import torch
    import transformers
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    from serving._tokenizer import ENDOFTEXT, IM_END, PAD, train_tokenizer

    texts = [p.read_text(encoding="utf-8") for p in corpus_files()]
    if not texts:
        raise ModelBuildError(f"no corpus files (*.txt) in {CORPUS_DIR}")
    arch = params["architecture"]
    tokenizer = train_tokenizer(
        texts, vocab_size=params["vocab_size"], model_max_length=arch["max_position_embeddings"]
    )
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in (ENDOFTEXT, IM_END, PAD)}

    config = Qwen2Config(
        # Exactly the tokenizer's size: a random model must not sample ids
        # the tokenizer cannot decode.
        vocab_size=len(tokenizer),
        bos_token_id=int(ids[ENDOFTEXT]),  # type: ignore[arg-type]
        eos_token_id=int(ids[IM_END]),  # type: ignore[arg-type]
        pad_token_id=int(ids[PAD]),  # type: ignore[arg-type]
        dtype="float32",
        **arch,
    )
    torch.manual_seed(params["seed"])
    model = Qwen2ForCausalLM(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=ids[ENDOFTEXT],
        # Stop at the end of an assistant turn and at the end of a document.
        eos_token_id=[ids[IM_END], ids[ENDOFTEXT]],
        pad_token_id=ids[PAD],
    )
    with _quiet_progress_bars():
        model.save_pretrained(target)
    tokenizer.save_pretrained(target)

    manifest = {
        "build": params,
        "model_type": config.model_type,
        "parameters": model.num_parameters(),
        "tokenizer_vocab_size": len(tokenizer),
        "head_dim": arch["hidden_size"] // arch["num_attention_heads"],
        "weights_sha256": weights_sha256(model),
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
        },
    }
    (target / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


@contextlib.contextmanager
def _quiet_progress_bars() -> Iterator[None]:
    # A progress bar for one 2 MB shard is noise in CLI output and test logs.
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _move_into_place(
    staging: Path, out_dir: Path, params: dict[str, Any], *, overwrite: bool
) -> None:
    old: Path | None = None
    if overwrite and out_dir.is_dir() and any(out_dir.iterdir()):
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        out_dir.rename(old)
    elif out_dir.is_dir() and not any(out_dir.iterdir()):
        # rename() onto an empty directory is allowed on POSIX but not on
        # Windows; removing it first works on both.
        out_dir.rmdir()
    try:
        staging.rename(out_dir)
    except OSError:
        if not _holds_build(out_dir, params):
            raise
        # Another process built the same model meanwhile; theirs is as good.
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
