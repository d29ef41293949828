"""Settings refuse placeholder secrets outside development."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from forgeyard.settings import Settings


def test_placeholder_webhook_secret_is_refused_in_production(monkeypatch):
    monkeypatch.setenv("FORGEYARD_ENVIRONMENT", "production")
    monkeypatch.setenv("FORGEYARD_CONSOLE_SECRET", "another-s3cr3t")
    with pytest.raises(ValidationError, match="FORGEYARD_WEBHOOK_SECRET"):
        Settings()
    monkeypatch.setenv("FORGEYARD_WEBHOOK_SECRET", "s3cr3t-from-the-vault")
    assert Settings().webhook_secret == "s3cr3t-from-the-vault"


def test_placeholder_console_secret_is_refused_in_production(monkeypatch):
    monkeypatch.setenv("FORGEYARD_ENVIRONMENT", "production")
    monkeypatch.setenv("FORGEYARD_WEBHOOK_SECRET", "s3cr3t-from-the-vault")
    with pytest.raises(ValidationError, match="FORGEYARD_CONSOLE_SECRET"):
        Settings()
    monkeypatch.setenv("FORGEYARD_CONSOLE_SECRET", "another-s3cr3t")
    assert Settings().console_secret == "another-s3cr3t"
