"""Templates of the console: one Jinja2 environment, a few display filters, ``page()``."""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined

from api.console.session import ConsoleSession, current_session

PREFIX = "/ui"


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _plain(value: Any) -> Any:
    # Enum members and their stored strings read the same on a page.
    return getattr(value, "value", value)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "—"


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


@lru_cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("api.console", "templates"),
        autoescape=True,  # every value is escaped; nothing in the console is trusted HTML
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(pretty=_pretty, when=_when, seconds=_seconds, plain=_plain)
    env.globals["ui"] = PREFIX
    return env


def page(
    request: Request,
    template: str,
    *,
    session: ConsoleSession | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render ``template`` with the session (its tenant, its CSRF token for forms)."""
    session = session or current_session(request)
    html = (
        environment()
        .get_template(template)
        .render(
            request=request,
            session=session,
            csrf=session.csrf if session else "",
            tenant=session.tenant_id if session else None,
            notice=request.query_params.get("notice"),
            **context,
        )
    )
    return HTMLResponse(html, status_code=status_code)
