"""Session-wide fixtures: the tiny model, one vLLM server, a LoRA adapter for it.

Registered by ``tests/conftest.py`` (``pytest_plugins``).

The tiny model is cached in ``.forgeyard/test-cache/tiny-model`` and reused by
later sessions while its build parameters (seed, corpus, builder) match.  The
server is started once per session, on a free port, and only when a test asks
for it; tests that need it fail where vLLM is not installed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from forgeyard.settings import get_settings
from serving.server import ModelServer
from serving.tiny import build_tiny_model

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_CACHE = REPO_ROOT / ".forgeyard" / "test-cache"
TINY_MODEL_CACHE = TEST_CACHE / "tiny-model"


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """The tiny model (seed 0), built on first use and cached across sessions."""
    # overwrite=True: the cache belongs to the tests; a stale build (older
    # corpus or builder) is replaced, a matching one is returned at once.
    return build_tiny_model(TINY_MODEL_CACHE, overwrite=True)


@pytest.fixture(scope="session")
def model_server(tiny_model_dir: Path) -> Iterator[ModelServer]:
    """One vLLM server for the whole session, serving the tiny model, runtime LoRA on."""
    if importlib.util.find_spec("vllm") is None:
        # A skipped integration test would hide a broken install.
        pytest.fail("vLLM is not installed: run scripts/install.sh")
    settings = get_settings()
    server = ModelServer(
        tiny_model_dir,
        name=settings.model_name,
        port=0,
        max_model_len=1024,
        max_loras=2,
        max_lora_rank=8,
        log_path=TEST_CACHE / "logs" / "vllm-session.log",
        startup_timeout=settings.serve_startup_timeout_seconds,
    )
    server.start()
    try:
        server.wait_until_healthy()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def tiny_lora_adapter_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rank-8 PEFT LoRA adapter (q_proj, v_proj) for the tiny model.

    Its weights are random rather than PEFT's zero-initialised B, so answers
    under the adapter differ from the base model's.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    out = tmp_path_factory.mktemp("tiny-lora")
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    config = LoraConfig(
        r=8,
        lora_alpha=16,
        target_modules=["q_proj", "v_proj"],
        task_type="CAUSAL_LM",
        init_lora_weights=False,
    )
    model = get_peft_model(base, config)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_" in name:
                parameter.normal_(0.0, 0.5)
    model.save_pretrained(out)
    return out
