"""Console login: API key → signed session cookie; CSRF on forms; expiry; tenant isolation."""

from __future__ import annotations

import time
from datetime import timedelta

from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from api.console import session as sessions
from forgeyard.db import session_scope
from forgeyard.models import ApiKey, utcnow
from forgeyard.settings import get_settings
from forgeyard.tenants import revoke_key
from tests.support.console import csrf_of, login
from tests.support.service import another_key, new_client
from worker.runs import process_run


def test_login_sets_a_strict_httponly_session_and_shows_the_tenants_runs(tenant):
    run = tenant.submit({"a": 1, "b": 2})
    form = tenant.client.get("/ui/login")
    answer = tenant.client.post(
        "/ui/login",
        data={"api_key": tenant.token, "csrf": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{sessions.COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    page = tenant.client.get("/ui/runs")
    assert page.status_code == 200
    assert run["id"] in page.text and f"tenant <b>{tenant.id}</b>" in page.text


def test_a_wrong_key_is_refused_with_the_reason(client):
    form = client.get("/ui/login")
    answer = client.post("/ui/login", data={"api_key": "fy_nope_nope", "csrf": csrf_of(form.text)})
    assert answer.status_code == 401
    assert "Unknown API key." in answer.text
    assert client.get("/ui/runs", follow_redirects=False).status_code == 303


def test_pages_need_a_login_and_say_when_a_session_ended(client):
    first = client.get("/ui/runs", follow_redirects=False)
    assert (first.status_code, first.headers["location"]) == (303, "/ui/login?next=%2Fui%2Fruns")
    client.cookies.set(sessions.COOKIE, "forged.value.here", path="/ui")
    forged = client.get("/ui/runs", follow_redirects=False)
    assert forged.status_code == 303
    assert forged.headers["location"] == "/ui/login?expired=1&next=%2Fui%2Fruns"
    assert "Your session has ended" in client.get("/ui/login?expired=1").text


class _NineHoursAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 9 * 3600


def test_an_expired_session_goes_back_to_the_login(tenant):
    login(tenant.client, tenant.token)
    old = URLSafeTimedSerializer(
        get_settings().console_secret, salt=sessions._SALT, signer=_NineHoursAgo
    )
    # The same cookie, signed now, is accepted: only its age differs.
    fresh = URLSafeTimedSerializer(get_settings().console_secret, salt=sessions._SALT)
    tenant.client.cookies.clear()
    tenant.client.cookies.set(
        sessions.COOKIE, fresh.dumps(["c", tenant.id, tenant.key_id]), path="/ui"
    )
    assert tenant.client.get("/ui/runs", follow_redirects=False).status_code == 200
    tenant.client.cookies.clear()
    tenant.client.cookies.set(
        sessions.COOKIE, old.dumps(["c", tenant.id, tenant.key_id]), path="/ui"
    )
    answer = tenant.client.get("/ui/runs", follow_redirects=False)
    assert answer.headers["location"].startswith("/ui/login?expired=1")


def test_a_session_signed_with_another_secret_is_refused(tenant):
    other = URLSafeTimedSerializer("not-the-secret", salt=sessions._SALT)
    tenant.client.cookies.set(
        sessions.COOKIE, other.dumps(["c", tenant.id, tenant.key_id]), path="/ui"
    )
    assert tenant.client.get("/ui/runs", follow_redirects=False).status_code == 303


def test_a_revoked_key_ends_its_sessions(tenant):
    login(tenant.client, tenant.token)
    revoke_key(tenant.key_id)
    answer = tenant.client.get("/ui/runs", follow_redirects=False)
    assert answer.headers["location"].startswith("/ui/login?expired=1")


def test_login_returns_to_the_page_asked_for_and_only_to_the_console(tenant):
    run = tenant.submit({"a": 1, "b": 2})
    asked = tenant.client.get(f"/ui/runs/{run['id']}?x=1", follow_redirects=False)
    form = tenant.client.get(asked.headers["location"])
    assert f'name="next" value="/ui/runs/{run["id"]}?x=1"' in form.text
    answer = tenant.client.post(
        "/ui/login",
        data={"api_key": tenant.token, "csrf": csrf_of(form.text), "next": f"/ui/runs/{run['id']}"},
        follow_redirects=False,
    )
    assert answer.headers["location"] == f"/ui/runs/{run['id']}"
    for elsewhere in ("https://evil.example/", "//evil.example/ui/", "/ui\\evil", "/v1/runs"):
        form = tenant.client.get("/ui/login")
        answer = tenant.client.post(
            "/ui/login",
            data={"api_key": tenant.token, "csrf": csrf_of(form.text), "next": elsewhere},
            follow_redirects=False,
        )
        assert answer.headers["location"] == "/ui/runs", elsewhere


def test_forms_without_this_sessions_csrf_token_are_refused(tenant):
    form = tenant.client.get("/ui/login")
    missing = tenant.client.post("/ui/login", data={"api_key": tenant.token})
    assert missing.status_code == 403 and "CSRF token" in missing.text
    csrf = login(tenant.client, tenant.token)
    assert csrf != csrf_of(form.text)  # logging in rotates the token
    forged = tenant.client.post("/ui/logout", data={"csrf": csrf_of(form.text)})
    assert forged.status_code == 403
    assert tenant.client.get("/ui/runs").status_code == 200  # still logged in
    # Another browser's session and token do not combine with this one's cookie.
    with new_client() as other:
        other_csrf = login(other, tenant.token)
    assert tenant.client.post("/ui/logout", data={"csrf": other_csrf}).status_code == 403


def test_logout_ends_the_session(tenant):
    csrf = login(tenant.client, tenant.token)
    answer = tenant.client.post("/ui/logout", data={"csrf": csrf}, follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/ui/login")
    assert tenant.client.get("/ui/runs", follow_redirects=False).status_code == 303


def test_another_tenants_run_is_not_found(tenant, tenant_factory):
    other = tenant_factory()
    other.register()
    theirs = other.submit({"a": 1, "b": 2})
    login(tenant.client, tenant.token)
    answer = tenant.client.get(f"/ui/runs/{theirs['id']}")
    assert answer.status_code == 404
    assert f"No run `{theirs['id']}`" in answer.text
    assert theirs["id"] not in tenant.client.get("/ui/runs").text


def test_a_key_does_in_the_console_only_what_its_scopes_allow(tenant):
    waiting = tenant.submit({"a": 3, "b": 4})
    process_run(waiting["id"])  # 7 > 5: waits for a person
    reader = another_key(tenant, "runs:read", name="night-shift")
    csrf = login(reader.client, reader.token)
    assert reader.client.get(f"/ui/runs/{waiting['id']}").status_code == 200
    decided = reader.client.post(
        f"/ui/runs/{waiting['id']}/decision", data={"csrf": csrf, "decision": "approve"}
    )
    assert decided.status_code == 403 and "lacks the scope `runs:approve`" in decided.text
    labelled = reader.client.post(
        f"/ui/runs/{waiting['id']}/labels", data={"csrf": csrf, "score": "1"}
    )
    assert labelled.status_code == 403 and "labels:write" in labelled.text
    assert tenant.get(f"/v1/runs/{waiting['id']}").json()["status"] == "waiting_approval"
    assert tenant.get(f"/v1/runs/{waiting['id']}/labels").json() == []
    expired = another_key(tenant, "runs:read", expires_at=utcnow() + timedelta(seconds=1))
    login(expired.client, expired.token)
    with session_scope() as s:
        key = s.get(ApiKey, expired.key_id)
        key.expires_at = utcnow() - timedelta(seconds=1)
        s.add(key)
    gone = expired.client.get("/ui/runs", follow_redirects=False)
    assert gone.headers["location"].startswith("/ui/login?expired=1")
