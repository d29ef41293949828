"""Load /docs and /redoc in headless Chromium against an API in this process; print JSON.

Run inside a network namespace whose only interface is loopback
(tests/api/test_docs_browser.py): any asset from another host fails to load there.
Usage: ``python -m tests.support.docs_browser PORT``.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import httpx
import uvicorn
from playwright.sync_api import sync_playwright

# Chromium's own background traffic (updates, safe browsing) is not the page's.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# What each page shows once its script has rendered the OpenAPI document.
RENDERED = {"/docs": ".swagger-ui .info .title", "/redoc": ".api-info h1"}


def main(port: int) -> None:
    from api.main import create_app

    server = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    results = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for path, selector in RENDERED.items():
            page = browser.new_page()
            requested: list[str] = []
            failed: list[str] = []
            errors: list[str] = []
            page.on("request", lambda r, into=requested: into.append(r.url))
            page.on("requestfailed", lambda r, into=failed: into.append(r.url))
            page.on("pageerror", lambda e, into=errors: into.append(str(e)))
            # A Content-Security-Policy refusal is reported on the console only.
            page.on(
                "console",
                lambda m, into=errors: into.append(m.text) if "Refused to" in m.text else None,
            )
            page.goto(f"http://127.0.0.1:{port}{path}")
            title = page.wait_for_selector(selector, timeout=60_000)
            results[path] = {
                "title": title.inner_text() if title else None,
                "requested": requested,
                "failed": failed,
                "errors": errors,
            }
            page.close()
        browser.close()
    server.should_exit = True
    sys.stdout.write(json.dumps(results) + "\n")


if __name__ == "__main__":
    main(int(sys.argv[1]))
