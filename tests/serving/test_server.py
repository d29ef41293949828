"""Tests for serving/server.py: the process wrapper, then a real vLLM server."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from serving._errors import AdapterError, ModelServerError, ServerStartError
from serving._http import is_healthy
from serving.server import ModelServer, free_port

STRICT_OBJECT = {"type": "object", "additionalProperties": False}


def _server(tmp_path: Path, **kwargs: Any) -> ModelServer:
    kwargs.setdefault("dtype", "float32")
    # tmp_path doubles as the model directory: start() checks that it exists.
    return ModelServer(tmp_path, port=free_port(), log_path=tmp_path / "vllm.log", **kwargs)


def _fake_command(server: ModelServer, monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    # Stands in for vLLM where only process handling is under test.
    monkeypatch.setattr(server, "command", lambda: [sys.executable, "-c", code])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


# -- command and environment --------------------------------------------------


def test_command_has_the_serving_flags(tmp_path: Path) -> None:
    server = _server(
        tmp_path,
        name="fy",
        max_model_len=512,
        max_loras=3,
        max_lora_rank=16,
        extra_args=["--seed", "7"],
    )
    command = server.command()

    assert command[:3] == [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
    flags = dict(zip(command[3::2], command[4::2], strict=False))
    assert flags["--model"] == str(tmp_path)
    assert flags["--served-model-name"] == "fy"
    assert flags["--port"] == str(server.port)
    assert flags["--max-model-len"] == "512"
    assert "--enable-lora" in command
    assert command[command.index("--max-loras") + 1] == "3"
    assert command[command.index("--max-lora-rank") + 1] == "16"
    assert command[command.index("--dtype") + 1] == "float32"
    structured = "--structured-outputs-config"
    assert command[command.index(f"{structured}.backend") + 1] == "guidance"
    assert command[command.index(f"{structured}.disable_any_whitespace") + 1] == "true"
    assert command[-2:] == ["--seed", "7"]


def test_structured_output_options_can_be_left_to_vllm(tmp_path: Path) -> None:
    command = _server(tmp_path, structured_outputs_backend=None, compact_json=False).command()
    assert not any(arg.startswith("--structured-outputs-config") for arg in command)


def test_compact_json_needs_a_backend(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="compact_json"):
        _server(tmp_path, structured_outputs_backend="auto")


def test_default_dtype_follows_cuda(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    server = _server(tmp_path, dtype=None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert server.command()[server.command().index("--dtype") + 1] == "float32"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert server.command()[server.command().index("--dtype") + 1] == "auto"


def test_environment_is_offline_with_runtime_lora(tmp_path: Path) -> None:
    env = _server(tmp_path, kv_cache_space_gib=2).environment()
    assert env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "2"
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["VLLM_NO_USAGE_STATS"] == "1"


def test_urls(tmp_path: Path) -> None:
    server = ModelServer("m", host="0.0.0.0", port=8123, log_path=tmp_path / "l", dtype="auto")
    assert server.url == "http://127.0.0.1:8123"
    assert server.base_url == "http://127.0.0.1:8123/v1"


def test_from_settings_takes_overrides(tmp_path: Path) -> None:
    from forgeyard.settings import Settings

    settings = Settings(data_dir=tmp_path, serve_port=8555, serve_max_loras=6)
    server = ModelServer.from_settings(settings, name="other", dtype="float32")
    assert server.model == str(tmp_path / "models" / "tiny")
    assert (server.port, server.max_loras, server.name) == (8555, 6, "other")


def test_missing_model_directory_is_refused_before_starting(tmp_path: Path) -> None:
    server = ModelServer(tmp_path / "absent", port=free_port(), log_path=tmp_path / "l")
    with pytest.raises(ModelServerError, match="absent does not exist"):
        server.start()
    assert server.pid is None


def test_is_healthy_is_false_without_a_server() -> None:
    assert is_healthy(f"http://127.0.0.1:{free_port()}/v1", timeout=0.5) is False


# -- process handling (a stand-in process, not vLLM) ---------------------------


def test_exit_during_startup_fails_fast_with_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = _server(tmp_path)
    _fake_command(server, monkeypatch, "print('ValueError: no such model'); raise SystemExit(3)")

    started = time.monotonic()
    with (
        pytest.raises(ServerStartError, match=r"(?s)exited with code 3.*no such model"),
        server,
    ):
        pass
    assert time.monotonic() - started < 30
    assert not server.running


def test_timeout_reports_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = _server(tmp_path)
    _fake_command(server, monkeypatch, "import time; print('loading', flush=True); time.sleep(60)")
    server.start()
    try:
        with pytest.raises(ServerStartError, match=r"(?s)not healthy after 1 s.*loading"):
            server.wait_until_healthy(timeout=1)
    finally:
        server.stop(grace=5)


def test_stop_ends_the_whole_process_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = _server(tmp_path)
    child_pid_file = tmp_path / "child.pid"
    # The parent ignores SIGTERM, as a wedged server might; its child stands
    # in for vLLM's engine process.
    code = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        f"open({str(child_pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(120)\n"
    )
    _fake_command(server, monkeypatch, code)
    server.start()
    parent = server.pid
    assert parent is not None
    deadline = time.monotonic() + 20
    while not child_pid_file.exists() or not child_pid_file.read_text():
        assert time.monotonic() < deadline, "stand-in server did not start its child"
        time.sleep(0.1)
    child = int(child_pid_file.read_text())

    server.stop(grace=1)

    assert not server.running
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(parent) and not _alive(child)
    server.stop()  # idempotent


# -- a real vLLM server ------------------------------------------------------

# Every string and number is bounded: a random model never closes an unbounded
# string on its own (see serving/README.md).
BOOKING_MESSAGES = [
    {"role": "system", "content": "You extract ocean-freight bookings as JSON."},
    {"role": "user", "content": "Please book 2 x 40HC from Rotterdam (NLRTM) to Shanghai (CNSHA)."},
]
SCHEMAS = {
    "container_enum": {
        **STRICT_OBJECT,
        "properties": {"container_type": {"type": "string", "enum": ["20GP", "40GP", "40HC"]}},
        "required": ["container_type"],
    },
    "booking": {
        **STRICT_OBJECT,
        "properties": {
            "pol": {"type": "string", "pattern": "^[A-Z]{5}$"},
            "pod": {"type": "string", "maxLength": 5},
            "commodity": {"type": "string", "maxLength": 40},
            "quantity": {"type": "integer", "minimum": 1, "maximum": 20},
            "weight_kg": {"type": "integer", "minimum": 0, "maximum": 30000},
            # Without multipleOf a weak model may write fraction digits until
            # max_tokens (guidance bounds the value, not the digit count).  A
            # binary-exact step: jsonschema rejects 555.55 as a multiple of 0.01.
            "temperature_c": {"type": "number", "minimum": -30, "maximum": 30, "multipleOf": 0.5},
            "reefer": {"type": "boolean"},
        },
        "required": ["pol", "pod", "commodity", "quantity", "weight_kg", "temperature_c", "reefer"],
    },
}


def _chat(server: ModelServer, **body: Any) -> dict[str, Any]:
    payload = {"model": server.name, "messages": BOOKING_MESSAGES, "max_tokens": 16, **body}
    response = httpx.post(f"{server.base_url}/chat/completions", json=payload, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.integration
def test_health(model_server: ModelServer) -> None:
    assert is_healthy(model_server.base_url)
    assert model_server.served_models()[0] == model_server.name


@pytest.mark.integration
def test_chat_completion(model_server: ModelServer) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=model_server.base_url, api_key="EMPTY")
    completion = client.chat.completions.create(
        model=model_server.name,
        messages=BOOKING_MESSAGES,
        max_tokens=8,
        temperature=0,  # type: ignore[arg-type]
    )
    assert completion.model == model_server.name
    assert isinstance(completion.choices[0].message.content, str)
    assert completion.usage is not None and completion.usage.completion_tokens <= 8


@pytest.mark.integration
def test_token_ids_on_request(model_server: ModelServer) -> None:
    plain = _chat(model_server, temperature=0)
    assert plain.get("prompt_token_ids") is None
    assert plain["choices"][0].get("token_ids") is None

    data = _chat(model_server, temperature=0, return_token_ids=True)
    choice = data["choices"][0]
    assert len(data["prompt_token_ids"]) == data["usage"]["prompt_tokens"]
    assert len(choice["token_ids"]) == data["usage"]["completion_tokens"]


@pytest.mark.integration
@pytest.mark.parametrize("schema_name", sorted(SCHEMAS))
@pytest.mark.parametrize("seed", [None, 1, 2, 3, 4, 5])
def test_json_schema_output_is_valid(
    model_server: ModelServer, schema_name: str, seed: int | None
) -> None:
    schema = SCHEMAS[schema_name]
    sampling = {"temperature": 0} if seed is None else {"temperature": 1.0, "seed": seed}
    data = _chat(
        model_server,
        max_tokens=200,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": schema_name, "schema": schema, "strict": True},
        },
        **sampling,
    )
    choice = data["choices"][0]
    assert choice["finish_reason"] == "stop", choice["message"]["content"]
    jsonschema.validate(json.loads(choice["message"]["content"]), schema)


@pytest.mark.integration
def test_runtime_lora_adapter(model_server: ModelServer, tiny_lora_adapter_dir: Path) -> None:
    base = _chat(model_server, temperature=0, return_token_ids=True)
    model_server.load_adapter("customer-a", tiny_lora_adapter_dir)
    try:
        assert "customer-a" in model_server.served_models()
        tuned = _chat(model_server, model="customer-a", temperature=0, return_token_ids=True)
        assert tuned["model"] == "customer-a"
        # Random adapter weights: the adapter visibly changes the answer.
        assert tuned["choices"][0]["token_ids"] != base["choices"][0]["token_ids"]

        with pytest.raises(AdapterError, match="already been loaded"):
            model_server.load_adapter("customer-a", tiny_lora_adapter_dir)
    finally:
        model_server.unload_adapter("customer-a")

    assert "customer-a" not in model_server.served_models()
    response = httpx.post(
        f"{model_server.base_url}/chat/completions",
        json={"model": "customer-a", "messages": BOOKING_MESSAGES, "max_tokens": 4},
        timeout=60,
    )
    assert response.status_code == 404


@pytest.mark.integration
def test_bad_adapter_path_gives_a_clear_error(model_server: ModelServer, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-adapter"
    with pytest.raises(AdapterError, match=rf"(?s)'broken'.*{missing.name}.*No adapter found"):
        model_server.load_adapter("broken", missing)
    assert "broken" not in model_server.served_models()


@pytest.mark.integration
def test_unloading_an_unknown_adapter_is_an_error(model_server: ModelServer) -> None:
    with pytest.raises(AdapterError, match="cannot be found"):
        model_server.unload_adapter("never-loaded")
