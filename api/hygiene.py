"""Input hygiene: JSON values no table, index or tool downstream can hold are refused first.

Every body the API stores is JSON (runs' input and config, workflow and reward
specs, labels, training jobs), so the check sits in front of all routes, once:
a string with a NUL or invalid Unicode (a lone surrogate such as ``"\\ud800"``,
which Python's JSON parser lets through and PostgreSQL cannot store), an
integer outside the 64-bit signed range, or a number that is not finite is a
422 naming the field, before any route (or any write) sees the body.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from api.limits import replay_body

__all__ = ["JSONHygiene", "problem"]

INT64 = range(-(2**63), 2**63)
_WITH_BODY = {"POST", "PUT", "PATCH"}


def _string_problem(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"contains invalid Unicode ({exc.reason}, e.g. a lone surrogate such as \\ud800)"
    return None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (nothing can store it)")


def problem(value: Any) -> tuple[str, str] | None:
    """The first ``(field, message)`` in ``value`` (a parsed body) nothing may store, or None.

    Fields are named as in the body (``input.lines[2].name``); ``body`` is the
    whole.  Iterative, so a deeply nested body cannot exhaust the stack.
    """
    pending: list[tuple[str, Any]] = [("", value)]
    while pending:
        where, item = pending.pop()
        found = _item_problem(item)
        if found is not None:
            return where or "body", found
        if isinstance(item, dict):
            children = []
            for key, child in item.items():
                path = f"{where}.{key}" if where else key
                message = _string_problem(key)
                if message:
                    return path, f"the key {message}"
                children.append((path, child))
            pending.extend(reversed(children))
        elif isinstance(item, list):
            pending.extend((f"{where}[{i}]", child) for i, child in reversed(list(enumerate(item))))
    return None


def _item_problem(item: Any) -> str | None:
    if isinstance(item, str):
        message = _string_problem(item)
        return f"the string {message}" if message else None
    if isinstance(item, int) and not isinstance(item, bool) and item not in INT64:
        return "integer outside the 64-bit signed range (-2^63 .. 2^63-1)"
    if isinstance(item, float) and not math.isfinite(item):
        return "number too large to store (not finite)"
    return None


def _parse_problem(body: bytes) -> tuple[str, str] | None:
    try:
        return problem(json.loads(body, parse_constant=_refuse_constant))
    except json.JSONDecodeError:
        return None  # malformed JSON: the route's own parsing answers it (400)
    except UnicodeDecodeError:
        return "body", "not valid UTF-8"
    except ValueError as exc:  # NaN/Infinity, an integer of thousands of digits
        return "body", str(exc)
    except RecursionError:
        return "body", "nested too deeply"


class JSONHygiene:
    """Answers 422 to a JSON body holding a value no store can hold (see :func:`problem`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        if (
            scope["type"] != "http"
            or scope["method"] not in _WITH_BODY
            or b"json" not in headers.get(b"content-type", b"")
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        found = _parse_problem(body)
        if found is not None:
            await _refuse(send, *found)
            return
        await self.app(scope, replay_body(body, receive), send)


async def _refuse(send: Send, field: str, message: str) -> None:
    # The field may itself hold the bad characters (a key): shown escaped.
    field = field.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\u0000")
    body = json.dumps(
        {
            "detail": f"{field}: {message}",
            "problems": [{"field": field, "message": message, "line": None}],
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
