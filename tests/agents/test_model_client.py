"""The model client's own logic: errors that name the server, output parsing.

The happy path against a real vLLM is in tests/workflows/examples/.
"""

from __future__ import annotations

import socket

import pytest

from agents.model_client import ModelCall, ModelClient, ModelOutputError, ModelUnavailable
from forgeyard.settings import Settings

SCHEMA = {
    "type": "object",
    "properties": {"quote_id": {"enum": ["Q1", "Q2"]}},
    "required": ["quote_id"],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_fails_after_n_tries_naming_the_url():
    url = f"http://127.0.0.1:{free_port()}/v1"
    client = ModelClient(
        settings=Settings(
            model_base_url=url, model_connect_retries=3, model_retry_backoff_seconds=0.01
        )
    )
    with pytest.raises(ModelUnavailable) as info:
        client.complete([{"role": "user", "content": "hi"}])
    assert str(info.value).startswith(f"model server unreachable at {url} after 3 tries")
    assert info.value.call.tries == 3


def _call(text: str, finish: str = "stop") -> ModelCall:
    return ModelCall(model="m", messages=[], text=text, finish_reason=finish)


def test_parse_accepts_schema_valid_json():
    assert ModelClient._parse(_call('{"quote_id": "Q2"}'), SCHEMA) == {"quote_id": "Q2"}


def test_parse_rejects_non_json_and_says_when_cut_off():
    with pytest.raises(ModelOutputError, match=r"not valid JSON \(cut off at max_tokens\)"):
        ModelClient._parse(_call('{"quote_id": "Q', finish="length"), SCHEMA)
    with pytest.raises(ModelOutputError, match="not valid JSON: Expecting value"):
        ModelClient._parse(_call("Sure! Q1"), SCHEMA)


def test_parse_rejects_values_outside_the_schema():
    with pytest.raises(ModelOutputError, match="at quote_id: 'Q9' is not one of"):
        ModelClient._parse(_call('{"quote_id": "Q9"}'), SCHEMA)
