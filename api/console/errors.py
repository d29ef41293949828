"""The console's answers to errors: HTML pages, with the status codes the JSON API uses."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.console.render import PREFIX, page
from api.console.session import CsrfFailed, LoginRequired
from api.errors import STATUS_OF

log = logging.getLogger("forgeyard.console")


def error_page(request: Request, code: int, title: str, detail: str) -> HTMLResponse:
    return page(request, "error.html.jinja", status_code=code, title=title, detail=detail)


async def _login_required(request: Request, exc: Exception) -> Response:
    # 303: a POST with an expired session must not be replayed against the login form.
    query = {"expired": "1"} if isinstance(exc, LoginRequired) and exc.ended else {}
    if request.method == "GET":  # back to the page asked for once logged in
        query["next"] = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{PREFIX}/login" + (f"?{urlencode(query)}" if query else ""), 303)


async def _csrf_failed(request: Request, _exc: Exception) -> Response:
    return error_page(
        request,
        status.HTTP_403_FORBIDDEN,
        "Form refused",
        "This form was not sent from this console session (its CSRF token is missing or "
        "wrong). Nothing was changed. Reload the page and send it again.",
    )


async def _domain_error(request: Request, exc: Exception) -> Response:
    code = next(c for t, c in STATUS_OF.items() if isinstance(exc, t))
    detail = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return error_page(request, code, "Not found" if code == 404 else "Refused", detail)


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    problems = [
        f"{'.'.join(str(p) for p in e.get('loc', ()) if p not in ('body', 'query'))}: "
        f"{e.get('msg', '')}"
        for e in exc.errors()
    ]
    return error_page(
        request, status.HTTP_422_UNPROCESSABLE_CONTENT, "Invalid input", "; ".join(problems)
    )


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    return error_page(request, exc.status_code, "Refused", str(exc.detail))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_page(request, 500, "Internal error", f"{type(exc).__name__}; see the API log.")


def install(app: FastAPI) -> None:
    """Register the handlers on the console's app."""
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(CsrfFailed, _csrf_failed)
    for error_type in STATUS_OF:
        app.add_exception_handler(error_type, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
