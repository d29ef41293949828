"""Helpers for console tests: read a form's CSRF token, log in with a tenant's key."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def login(client: TestClient, token: str) -> str:
    """Log ``client`` in with API key ``token``; the new session's CSRF token."""
    form = client.get("/ui/login")
    assert form.status_code == 200, form.text
    answer = client.post(
        "/ui/login", data={"api_key": token, "csrf": csrf_of(form.text)}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/ui/runs"
    return csrf_of(client.get("/ui/runs").text)
