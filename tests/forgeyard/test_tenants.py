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
