"""How Forgeyard processes log: ``FORGEYARD_LOG_FORMAT=text`` (default) or ``json``.

The API, the workers (through Celery's ``setup_logging`` signal) and the CLI
call :func:`configure_logging` once at start.  In text mode the only cost is
the standard formatter; the JSON formatter (python-json-logger) is imported
only when asked for.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

from forgeyard.telemetry.context import FIELDS, ContextFilter

__all__ = ["TEXT_FORMAT", "configure_logging", "make_handler"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_MARK = "_forgeyard_handler"


def make_handler(fmt: Literal["text", "json"], stream: object = None) -> logging.Handler:
    """A stream handler in ``fmt`` that carries the run context."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        formatter: logging.Formatter = JsonFormatter(
            ["asctime", "levelname", "name", "message", *FIELDS],
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    else:
        formatter = logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    handler.addFilter(ContextFilter())
    setattr(handler, _MARK, True)
    return handler


def configure_logging(
    fmt: Literal["text", "json"], level: str | int = "INFO", stream: object = None
) -> logging.Handler:
    """Send the root logger's records to one handler in ``fmt`` (replacing ours, if set before)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(old)
    handler = make_handler(fmt, stream)
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    return handler
