"""Client for the OpenAI-compatible model server (the local vLLM).

Errors::

    ModelError
    ├── ModelUnavailable      the server could not be reached after N tries
    ├── ModelTimeout          the server did not answer within the node's timeout
    ├── ModelRequestError     the server answered with an error (bad request, unknown model)
    └── ModelOutputError      the completion does not parse or does not match the schema
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jsonschema
import openai
import tenacity

from forgeyard.settings import Settings, get_settings

__all__ = [
    "ModelCall",
    "ModelClient",
    "ModelError",
    "ModelOutputError",
    "ModelRequestError",
    "ModelTimeout",
    "ModelUnavailable",
]


# What "the server is down" looks like (a timeout is APIConnectionError's subclass,
# turned into ModelTimeout before this is checked).
_SERVER_DOWN = (openai.APIConnectionError, openai.InternalServerError)


class ModelError(Exception):
    """A model call that did not produce a usable answer."""

    def __init__(self, message: str, call: ModelCall | None = None) -> None:
        super().__init__(message)
        self.call = call


class ModelUnavailable(ModelError):
    """The model server could not be reached."""


class ModelTimeout(ModelError):
    """The server took longer than the request's timeout (the node may retry)."""


class ModelRequestError(ModelError):
    """The model server refused the request (``status_code``: its HTTP status)."""

    def __init__(
        self, message: str, call: ModelCall | None = None, *, status_code: int | None = None
    ) -> None:
        super().__init__(message, call)
        self.status_code = status_code


class ModelOutputError(ModelError):
    """The model's completion is not what the node asked for."""


@dataclass
class ModelCall:
    """Everything recorded about one completion: enough to replay or train on it."""

    model: str
    messages: list[dict[str, Any]]
    text: str = ""
    parsed: Any = None
    prompt_token_ids: list[int] | None = None
    completion_token_ids: list[int] | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    finish_reason: str | None = None
    latency_ms: float = 0.0
    tries: int = 1
    # The LoRA adapter ``model`` names, when the node was answered by one.
    adapter: str | None = None

    @property
    def token_ids(self) -> dict[str, list[int] | None]:
        return {"prompt": self.prompt_token_ids, "completion": self.completion_token_ids}


class ModelClient:
    """Chat completions with structured output, recorded calls and connection retries."""

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        *,
        settings: Settings | None = None,
    ) -> None:
        s = settings or get_settings()
        self.base_url = (base_url or s.model_base_url).rstrip("/")
        self.model = model or s.model_name
        self.tries = s.model_connect_retries
        self.backoff = s.model_retry_backoff_seconds
        self._client = openai.OpenAI(
            base_url=self.base_url,
            api_key=s.model_api_key,
            timeout=s.model_timeout_seconds,
            # Retries are ours: we count them and name the URL when we give up.
            max_retries=0,
        )

    @classmethod
    def default(cls) -> ModelClient:
        """The client for the configured server, shared (building one costs ~20 ms)."""
        s = get_settings()
        return _shared_client(
            s.model_base_url,
            s.model_name,
            s.model_api_key,
            s.model_timeout_seconds,
            s.model_connect_retries,
            s.model_retry_backoff_seconds,
        )

    def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        schema: dict[str, Any] | None = None,
        model: str | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_tokens: int = 256,
        seed: int | None = None,
        timeout: float | None = None,
    ) -> ModelCall:
        """Ask for one completion; with ``schema``, the answer is parsed and validated.

        Raises:
            ModelUnavailable: the server was unreachable on every try.
            ModelRequestError: the server rejected the request.
            ModelOutputError: the output is not valid JSON for ``schema``.
        """
        call = ModelCall(model=model or self.model, messages=messages)
        kwargs: dict[str, Any] = {
            "model": call.model,
            "messages": messages,
            "temperature": temperature,
            "top_p": top_p,
            "max_tokens": max_tokens,
            "extra_body": {"return_token_ids": True},
        }
        if seed is not None:
            kwargs["seed"] = seed
        if timeout is not None:
            kwargs["timeout"] = timeout
        if schema is not None:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": schema, "strict": True},
            }
        response = self._create(call, kwargs)
        self._read_response(call, response)
        if schema is not None:
            call.parsed = self._parse(call, schema)
        else:
            call.parsed = call.text
        return call

    def _create(self, call: ModelCall, kwargs: dict[str, Any]) -> Any:
        # Only an unreachable (or 5xx) server is retried here, with exponential
        # backoff; a slow answer is the node's retry policy's business.
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.tries),
            wait=tenacity.wait_exponential(multiplier=self.backoff, exp_base=2),
            retry=tenacity.retry_if_exception_type(_SERVER_DOWN),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    call.tries = attempt.retry_state.attempt_number
                    started = time.perf_counter()
                    response = self._create_once(call, kwargs)
                    call.latency_ms = (time.perf_counter() - started) * 1000
                    return response
        except _SERVER_DOWN as last:
            raise ModelUnavailable(
                f"model server unreachable at {self.base_url} after {self.tries} tries "
                f"({type(last).__name__}: {last})",
                call,
            ) from None
        raise AssertionError("unreachable: tenacity either returns or re-raises")

    def _create_once(self, call: ModelCall, kwargs: dict[str, Any]) -> Any:
        try:
            return self._client.chat.completions.create(**kwargs)
        except openai.APITimeoutError:
            seconds = kwargs.get("timeout") or self._client.timeout
            raise ModelTimeout(
                f"model server at {self.base_url} did not answer within {seconds} s", call
            ) from None
        except _SERVER_DOWN:
            raise
        except openai.APIStatusError as exc:
            raise ModelRequestError(
                f"model server at {self.base_url} rejected the request "
                f"(HTTP {exc.status_code}): {_server_message(exc)}",
                call,
                status_code=exc.status_code,
            ) from None

    @staticmethod
    def _read_response(call: ModelCall, response: Any) -> None:
        choice = response.choices[0]
        call.text = choice.message.content or ""
        call.finish_reason = choice.finish_reason
        call.usage = response.usage.model_dump() if response.usage else {}
        extra = response.model_extra or {}
        call.prompt_token_ids = extra.get("prompt_token_ids")
        call.completion_token_ids = (choice.model_extra or {}).get("token_ids")

    @staticmethod
    def _parse(call: ModelCall, schema: dict[str, Any]) -> Any:
        try:
            value = json.loads(call.text)
        except json.JSONDecodeError as exc:
            cut = " (cut off at max_tokens)" if call.finish_reason == "length" else ""
            raise ModelOutputError(
                f"model output is not valid JSON{cut}: {exc}: {call.text[:200]!r}",
                call,
            ) from None
        errors = sorted(
            jsonschema.Draft202012Validator(schema).iter_errors(value), key=lambda e: e.path
        )
        if errors:
            first = errors[0]
            where = "/".join(str(p) for p in first.path) or "<root>"
            raise ModelOutputError(
                f"model output does not match the schema at {where}: {first.message}", call
            )
        return value


@lru_cache(maxsize=8)
def _shared_client(
    base_url: str, model: str, api_key: str, timeout: float, tries: int, backoff: float
) -> ModelClient:
    settings = Settings(
        model_base_url=base_url,
        model_name=model,
        model_api_key=api_key,
        model_timeout_seconds=timeout,
        model_connect_retries=tries,
        model_retry_backoff_seconds=backoff,
    )
    return ModelClient(settings=settings)


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and "message" in inner:
            return str(inner["message"])[:500]
        return json.dumps(body)[:500]
    return str(exc.message)[:500]
