"""HTTP helpers shared by the server wrapper and the adapter calls."""

from __future__ import annotations

import httpx


def is_healthy(base_url: str, *, timeout: float = 2.0) -> bool:
    """Whether the server behind ``base_url`` answers ``GET /health`` with 200.

    Args:
        base_url: The OpenAI base URL (``http://host:port/v1``) or the server root.
        timeout: Seconds to wait for the answer.
    """
    try:
        return httpx.get(f"{root_url(base_url)}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def root_url(base_url: str) -> str:
    """The server root for an OpenAI base URL (``…/v1``) or a root URL."""
    return base_url.rstrip("/").removesuffix("/v1")


def error_message(response: httpx.Response) -> str:
    """The message of a vLLM/OpenAI error body, or the raw text."""
    try:
        payload = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    if isinstance(payload, dict) and payload.get("detail"):
        return str(payload["detail"])
    return response.text.strip()
