"""Which run, tenant, node and attempt the current code works for (context variables).

The runner and the nodes set them; :class:`ContextFilter` copies them onto every
log record, so a JSON line carries them without each call site passing them.
Context variables rather than thread-locals: a node's tool runs in a copied
context (its timeout thread), and the values follow it there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["FIELDS", "ContextFilter", "bound", "current"]

FIELDS = ("run_id", "tenant_id", "node", "attempt")
_VARS: dict[str, ContextVar[Any]] = {
    name: ContextVar(f"forgeyard_{name}", default=None) for name in FIELDS
}


@contextmanager
def bound(**values: Any) -> Iterator[None]:
    """Set some of ``run_id``, ``tenant_id``, ``node``, ``attempt`` for the block."""
    tokens = [(_VARS[name], _VARS[name].set(value)) for name, value in values.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current() -> dict[str, Any]:
    """The values set now (unset ones left out)."""
    return {name: var.get() for name, var in _VARS.items() if var.get() is not None}


class ContextFilter(logging.Filter):
    """Adds the context's values as record attributes (None where unknown)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _VARS.items():
            if not hasattr(record, name):
                setattr(record, name, var.get())
        return True
