"""Swagger UI (`/docs`) and ReDoc (`/redoc`) from assets the API serves itself.

FastAPI's own pages load their scripts from a CDN and a favicon from its
website: blank on a site with no internet, and a request to a third party
from every operator's browser.  These pages reference only ``/static/docs/``
(see its README for versions and licences) and the app's OpenAPI document.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
ASSETS = "/static/docs"
# Only this origin: whatever a vendored bundle might fetch from elsewhere (as
# ReDoc's logo did, see static/docs/README.md) is blocked by the browser.
# Inline scripts: FastAPI's pages start the UI from one; ReDoc's search runs
# in a blob: worker.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


def _root(request: Request) -> str:
    # Behind a reverse proxy with a path prefix (uvicorn --root-path) the
    # pages must ask for the prefixed URLs.
    return str(request.scope.get("root_path", "")).rstrip("/")


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI for the API, from local assets."""
    root = _root(request)
    page = get_swagger_ui_html(
        openapi_url=root + (request.app.openapi_url or "/openapi.json"),
        title=f"{request.app.title} — Swagger UI",
        swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
        # Swagger UI otherwise sends the document to validator.swagger.io for a badge.
        swagger_ui_parameters={"validatorUrl": None},
    )
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """ReDoc for the API, from local assets."""
    root = _root(request)
    page = get_redoc_html(
        openapi_url=root + (request.app.openapi_url or "/openapi.json"),
        title=f"{request.app.title} — ReDoc",
        redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
        with_google_fonts=False,
    )
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page
