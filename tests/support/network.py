"""The no-call-home guard: every socket connect recorded, and refused outside loopback."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest


def is_loopback(address: Any) -> bool:
    """Whether a ``socket.connect`` address stays on this machine."""
    if isinstance(address, str):  # a Unix socket path
        return True
    host = address[0]
    if host == "localhost":
        return True
    return ipaddress.ip_address(host).is_loopback


def guard_loopback(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Patch ``socket.connect`` so a connection outside loopback fails the test.

    Returns the list every attempted address is appended to, so a test can also
    prove it did talk to its (loopback) server.
    """
    seen: list[Any] = []
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: Any) -> None:
        seen.append(address)
        if not is_loopback(address):
            raise AssertionError(f"connection outside loopback: {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    return seen
