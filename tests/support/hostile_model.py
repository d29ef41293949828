"""A hostile stand-in for the model server: real HTTP on loopback, OpenAI chat-completions shape.

The platform's real :class:`~agents.model_client.ModelClient` talks to it over
HTTP, so the whole client path (request building, ``response_format``, parsing,
schema validation) is exercised.  What it answers is scripted by the test: for
each llm node a list of *candidate* answers, worst first.

``honour_schema`` decides how it treats the request's ``response_format``
json_schema: when true it behaves like vLLM's guided decoding and returns the
first candidate that fits the schema (the worst *valid* answer); when false it
returns the first candidate as it is, valid or not — the platform must refuse
it, not store it.

Nodes are recognised from the system prompt (the example's own wording), so
the server needs no knowledge of the engine::

    with HostileModel() as server:
        server.script = {"choose": [{"quote_id": "Q-FAKE"}, dearest]}
        client = ModelClient(base_url=server.base_url, model="hostile")
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jsonschema

__all__ = ["HostileModel", "node_of"]

# A candidate is a JSON value (sent as JSON text), a raw string (sent as is), or a
# function of the request's messages returning one of those.
Candidate = Any | Callable[[list[dict[str, Any]]], Any]

# How the example's llm nodes open their system prompts (workflow.yaml).
_NODE_MARKERS = {
    "extract": "booking desk of an ocean-freight forwarder",
    "choose": "You choose ocean-freight quotes",
    "confirm": "booking confirmations",
}


def node_of(messages: list[dict[str, Any]]) -> str:
    """Which llm node of logistics_booking sent these messages."""
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    for node, marker in _NODE_MARKERS.items():
        if marker in system:
            return node
    raise LookupError(f"unknown system prompt: {system[:80]!r}")


class HostileModel:
    """A threaded HTTP server on 127.0.0.1 answering ``/v1/chat/completions``."""

    def __init__(self, *, honour_schema: bool = True) -> None:
        self.honour_schema = honour_schema
        self.script: dict[str, list[Candidate]] = {}
        # Every request received: (node, the body as sent), for the test to inspect.
        self.requests: list[tuple[str, dict[str, Any]]] = []
        # Seconds each answer waits before it is sent, by node (a slow model, so a
        # test can act on a worker while it waits inside a model call).
        self.delays: dict[str, float] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> HostileModel:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def answer(self, body: dict[str, Any]) -> str:
        """The completion text for one request body."""
        messages = body["messages"]
        node = node_of(messages)
        self.requests.append((node, body))
        candidates = [c(messages) if callable(c) else c for c in self.script[node]]
        schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema")
        if self.honour_schema and schema is not None:
            fitting = [c for c in candidates if _fits(c, schema)]
            if not fitting:
                raise LookupError(f"no candidate for `{node}` fits its schema")
            return _text(fitting[0])
        return _text(candidates[0])


def _fits(candidate: Any, schema: dict[str, Any]) -> bool:
    if isinstance(candidate, str):
        try:
            candidate = json.loads(candidate)
        except json.JSONDecodeError:
            return False
    return jsonschema.Draft202012Validator(schema).is_valid(candidate)


def _text(candidate: Any) -> str:
    return candidate if isinstance(candidate, str) else json.dumps(candidate)


def _handler(model: HostileModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
            if not self.path.endswith("/chat/completions"):
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            try:
                text = model.answer(body)
            except LookupError as exc:  # a test's script is wrong: say so, loudly
                self._send(400, {"error": {"message": str(exc)}})
                return
            delay = model.delays.get(node_of(body["messages"]), 0.0)
            if delay:
                time.sleep(delay)
            self._send(
                200,
                {
                    "id": "chatcmpl-hostile",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                },
            )

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            # The caller may be gone (a worker killed mid-call by the chaos suite).
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet in tests
            pass

    return Handler
