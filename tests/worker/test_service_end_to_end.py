"""Submit over HTTP, a real worker runs it, approve over HTTP, it finishes; webhook signed."""

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlmodel import select
from standardwebhooks.webhooks import Webhook

from forgeyard.db import session_scope
from forgeyard.models import Effect, Run
from forgeyard.settings import get_settings
from tests.support.service import read_events, wait_for


class WebhookReceiver:
    """A local HTTP server that fails the first call, then accepts."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                code = 500 if not receiver.calls else 204
                receiver.calls.append((dict(self.headers), body, code))
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_http_submit_approval_and_finish_with_a_real_worker(tenant, start_worker):
    start_worker()
    hook = WebhookReceiver()
    try:
        run = tenant.submit({"a": 7}, webhook_url=hook.url)
        url = f"/v1/runs/{run['id']}"
        waiting = wait_for(
            lambda: (r := tenant.get(url).json())["status"] == "waiting_approval" and r,
            what="the approval",
        )
        assert waiting["pending_approval"] == {"node": "gate", "message": "Pay 7?"}

        approved = tenant.post(f"{url}/approve", json={"by": "alice", "comment": "fine"})
        assert approved.status_code == 202
        done = wait_for(
            lambda: (r := tenant.get(url).json())["status"] == "succeeded" and r,
            what="the run to finish",
        )
        assert done["output"] == {"end": "done", "total": 7, "paid": 7}

        steps = tenant.get(f"{url}/steps").json()
        assert [(s["node"], s["status"]) for s in steps] == [
            ("add", "ok"),
            ("check", "ok"),
            ("pay", "ok"),
            ("gate", "interrupted"),
            ("gate", "ok"),
            ("done", "ok"),
        ]
        # The approver is the key's principal, not the name the body claims.
        assert steps[4]["output"]["by"] == "tests" and steps[4]["output"]["comment"] == "fine"
        with session_scope() as s:
            effects = list(s.exec(select(Effect).where(Effect.run_id == run["id"])))
        assert len(effects) == 1

        # The webhooks: the approval wait (first try refused, retried with backoff,
        # then accepted), then the finish; each verified the Standard Webhooks way.
        wait_for(lambda: len(hook.calls) >= 3, what="the webhooks")
        secret = get_settings().webhook_secret
        verifier = Webhook(base64.b64encode(secret.encode()).decode())
        # (The retry of the first and the second event may arrive in either order.)
        by_type: dict[str, list[tuple[dict, int, str]]] = {}
        for headers, body, code in hook.calls:
            event = verifier.verify(body, headers)
            by_type.setdefault(event["type"], []).append((event, code, headers["webhook-id"]))
        waiting, finished = by_type["run.waiting_approval"], by_type["run.finished"]
        assert [code for _, code, _ in waiting] == [500, 204] and len(finished) == 1
        assert waiting[0][2] == waiting[1][2]  # a retry is the same message
        assert waiting[0][0]["data"]["pending_approval"] == {"node": "gate", "message": "Pay 7?"}
        data = finished[0][0]["data"]
        assert data["id"] == run["id"] and data["status"] == "succeeded"
        assert data["output"] == done["output"]
    finally:
        hook.close()


def test_sse_delivers_every_step_in_order_from_a_worker(tenant, start_worker):
    start_worker()
    run = tenant.submit({"a": 2, "b": 1})
    events = read_events(tenant, run["id"])
    steps = [(e[1], e[2]["node"]) for e in events if e[0] == "step"]
    assert steps == [("1", "add"), ("2", "check"), ("3", "pay"), ("4", "gate"), ("5", "done")]
    assert events[-1] == ("run", None, {"status": "succeeded"})


def test_cancel_stops_a_running_run_after_its_current_step(tenant, start_worker):
    from tests.worker.test_recovery import napper_yaml

    tenant.register(napper_yaml())
    start_worker(beat=False)
    run_id = tenant.submit({"a": 1}, workflow="napper")["id"]
    url = f"/v1/runs/{run_id}"
    wait_for(
        lambda: any(s["node"] == "pay" for s in tenant.get(f"{url}/steps").json()),
        what="the run to be under way",
    )
    cancelled = tenant.post(f"{url}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    # The worker finishes the nap it is in, then stops: `done` never runs.
    wait_for(
        lambda: any(s["node"] == "nap" for s in tenant.get(f"{url}/steps").json()),
        what="the current step to end",
    )

    def released() -> bool:
        with session_scope() as s:
            return s.get(Run, run_id).lease_owner is None  # type: ignore[union-attr]

    wait_for(released, what="the worker to let go of the run")
    run = tenant.get(url).json()
    # Cancelling cannot undo the payment made before it: the output says so.
    assert run["status"] == "cancelled"
    assert [e["node"] for e in run["output"]["effects"]] == ["pay"]
    assert [s["node"] for s in tenant.get(f"{url}/steps").json()] == ["add", "pay", "nap"]
    assert tenant.post(f"{url}/cancel").status_code == 409
