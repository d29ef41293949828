"""Tenants and API keys: created, hashed, revoked; through the functions and the CLI."""

from __future__ import annotations

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from forgeyard.app.cli import app
from forgeyard.db import session_scope
from forgeyard.models import ApiKey
from forgeyard.tenants import (
    InvalidKey,
    TenantError,
    TenantExists,
    TenantNotFound,
    authenticate,
    create_key,
    create_tenant,
    hash_key,
    revoke_key,
)


def test_key_is_stored_only_as_a_hash_and_authenticates(any_db):
    create_tenant("acme")
    key = create_key("acme", "ci")
    with session_scope() as s:
        stored = s.exec(select(ApiKey)).one()
    assert stored.key_hash == hash_key(key.token) and key.token not in stored.key_hash
    assert authenticate(key.token).tenant_id == "acme"
    revoke_key(key.id)
    with pytest.raises(InvalidKey, match="revoked"):
        authenticate(key.token)
    with pytest.raises(InvalidKey, match="Unknown"):
        authenticate("fy_nope_nope")


def test_tenant_errors_say_what_to_do(sqlite_db):
    create_tenant("acme")
    with pytest.raises(TenantExists):
        create_tenant("acme")
    with pytest.raises(TenantError, match="lower-case"):
        create_tenant("Bad Name!")
    with pytest.raises(TenantNotFound, match="forgeyard tenants create ghost"):
        create_key("ghost")


def test_cli_creates_tenant_and_key_and_revokes_it(sqlite_db):
    runner = CliRunner()
    assert runner.invoke(app, ["tenants", "create", "acme"]).exit_code == 0
    result = runner.invoke(app, ["keys", "create", "acme", "--name", "ops"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert authenticate(token).tenant_id == "acme"
    key_id = token.split("_")[1]
    assert runner.invoke(app, ["keys", "revoke", key_id]).exit_code == 0
    with pytest.raises(InvalidKey):
        authenticate(token)
    missing = runner.invoke(app, ["keys", "revoke", "nope"])
    assert missing.exit_code == 2 and "No API key `nope`" in missing.output


runner = CliRunner()


def test_keys_have_scopes_and_an_optional_expiry(sqlite_db):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from forgeyard.models import utcnow
    from forgeyard.tenants import InvalidKey, TenantError, authenticate, create_key, create_tenant

    create_tenant("scoped")
    key = create_key("scoped", "ops@acme", scopes=["runs:read", "runs:approve", "runs:read"])
    assert key.scopes == ("runs:approve", "runs:read")
    assert authenticate(key.token).scopes == ["runs:approve", "runs:read"]
    assert create_key("scoped").scopes == ("admin",)
    with pytest.raises(TenantError, match="Unknown scope.*runs:delete"):
        create_key("scoped", scopes=["runs:delete"])
    with pytest.raises(TenantError, match="at least one scope"):
        create_key("scoped", scopes=[])
    with pytest.raises(TenantError, match="in the past"):
        create_key("scoped", expires_at=utcnow() - timedelta(minutes=1))
    soon = create_key("scoped", expires_at=utcnow() + timedelta(milliseconds=300))
    assert authenticate(soon.token).id == soon.id
    import time

    time.sleep(0.4)
    with pytest.raises(InvalidKey, match="expired"):
        authenticate(soon.token)


def test_cli_keys_create_with_scopes_and_expiry(sqlite_db):  # type: ignore[no-untyped-def]
    from forgeyard.tenants import create_tenant, list_keys

    create_tenant("cli-scoped")
    result = runner.invoke(
        app,
        [
            "keys",
            "create",
            "cli-scoped",
            "--name",
            "ops",
            "--scope",
            "runs:read",
            "--expires-in",
            "7d",
        ],
    )
    assert result.exit_code == 0, result.output
    (key,) = list_keys("cli-scoped")
    assert key.scopes == ["runs:read"] and key.expires_at is not None and key.name == "ops"
    listed = runner.invoke(app, ["keys", "list", "cli-scoped"])
    assert "runs:read" in listed.output and "expires" in listed.output
    bad = runner.invoke(app, ["keys", "create", "cli-scoped", "--scope", "root"])
    assert bad.exit_code == 2 and "Unknown scope" in bad.output
    bad = runner.invoke(app, ["keys", "create", "cli-scoped", "--expires-in", "soon"])
    assert bad.exit_code == 2 and "--expires-in" in bad.output


def test_cli_tenants_create_on_an_unmigrated_database_works(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    from forgeyard import db
    from forgeyard.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    get_settings.cache_clear()
    db.get_engine.cache_clear()
    try:
        result = runner.invoke(app, ["tenants", "create", "first"])
        assert result.exit_code == 0, result.output
        assert "tenant first created" in result.output
    finally:
        db.get_engine().dispose()
        db.get_engine.cache_clear()
        get_settings.cache_clear()
