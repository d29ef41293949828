"""The Python client against the real API (uvicorn) and a real worker.

submit → wait → approve → finished; the event stream resumed after the
connection is cut; the webhooks (approval wait, finish) verified with the
`standardwebhooks` library's verifier, and redelivered.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from forgeyard.client import ConflictError, Forgeyard, NotFoundError, RunStatus, verify_webhook
from tests.client.conftest import SECRET
from tests.support.service import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def client(stack) -> Iterator[Forgeyard]:  # type: ignore[no-untyped-def]
    with Forgeyard(stack.url, stack.key, timeout=30) as fy:
        yield fy


def _verified(call: tuple[dict[str, str], bytes]) -> dict:
    headers, body = call
    return Webhook(SECRET).verify(body, headers)


def test_submit_wait_approve_finish_and_webhooks(client, receiver):  # type: ignore[no-untyped-def]
    receiver.codes = [503]  # the first call fails: it is retried
    run = client.submit_run(
        "adder", {"a": 7}, idempotency_key="order-7", webhook_url=receiver.url, wait=20
    )
    # The wait answered once the run needed a person, not only at its end.
    assert run.status == RunStatus.waiting_approval
    assert run.pending_approval == {"node": "gate", "message": "Pay 7?"}
    assert (
        client.submit_run("adder", {"a": 7}, idempotency_key="order-7", webhook_url=receiver.url).id
        == run.id
    )
    with pytest.raises(ConflictError, match="order-7"):
        client.submit_run("adder", {"a": 8}, idempotency_key="order-7")

    # The approval-wait event: tried, refused by the receiver, retried, verified.
    wait_for(lambda: len(receiver.calls) >= 2, what="the approval-wait webhook and its retry")
    waiting = _verified(receiver.calls[1])
    assert waiting["type"] == "run.waiting_approval"
    assert waiting["data"]["id"] == run.id and waiting["data"]["status"] == "waiting_approval"
    assert waiting["data"]["pending_approval"]["node"] == "gate"
    assert receiver.calls[0][0]["webhook-id"] == receiver.calls[1][0]["webhook-id"]

    assert client.approve(run.id, comment="fine").status == RunStatus.queued
    done = client.wait(run.id, timeout=60)
    assert done.status == RunStatus.succeeded
    assert done.output == {"end": "done", "total": 7, "paid": 7}
    steps = client.steps(run.id)
    assert steps[-2].node == "gate" and steps[-2].output["by"] == "ops@client-tests"

    wait_for(lambda: len(receiver.calls) >= 3, what="the finish webhook")
    finished = _verified(receiver.calls[2])
    assert finished["type"] == "run.finished" and finished["data"]["status"] == "succeeded"
    # The client's own verifier agrees with the library's.
    event = verify_webhook(SECRET, receiver.calls[2][1], receiver.calls[2][0])
    assert event.type == "run.finished" and event.data["output"] == done.output

    # Delivery status on the run: both events, the retry counted.
    deliveries = wait_for(
        lambda: (
            (ws := client.get_run(run.id).webhooks)
            and all(w.status == "delivered" for w in ws)
            and len(ws) == 2
            and ws
        ),
        what="both deliveries recorded",
    )
    assert [(w.event, w.attempts, w.last_status_code) for w in deliveries] == [
        ("run.waiting_approval", 2, 204),
        ("run.finished", 1, 204),
    ]
    assert deliveries[0].delivered_at is not None

    # Redeliver the finish: the same message (id and body) arrives again, verifiable.
    again = client.redeliver_webhook(run.id, deliveries[1].id)
    assert again.redeliveries == 1 and again.status == "pending"
    wait_for(lambda: len(receiver.calls) >= 4, what="the redelivery")
    assert receiver.calls[3][0]["webhook-id"] == deliveries[1].id
    assert receiver.calls[3][1] == receiver.calls[2][1]
    assert _verified(receiver.calls[3])["type"] == "run.finished"
    with pytest.raises(NotFoundError):
        client.redeliver_webhook(run.id, "msg_nope")

    # Found again by search.
    page = client.list_runs(status="succeeded", idempotency_key="order-7")
    assert [r.id for r in page.items] == [run.id]
    assert [r.id for r in client.iter_runs(workflow="adder", limit=1)] == [run.id]


def test_reject_takes_the_other_path(client):  # type: ignore[no-untyped-def]
    run = client.submit_run("adder", {"a": 9}, wait=20)
    assert run.status == RunStatus.waiting_approval
    client.reject(run.id, comment="too much")
    assert client.wait(run.id, timeout=60).output == {"end": "too_big", "rejected": 9}


def test_wait_returns_the_run_as_it_stands_when_time_is_up(client, stack):  # type: ignore[no-untyped-def]
    response = httpx.post(
        f"{stack.url}/v1/workflows/napper/runs",
        params={"wait": 0.2},
        json={"input": {"a": 1}},
        headers={"Authorization": f"Bearer {stack.key}"},
    )
    # Not settled in time: 202 and the run as it stands, saying so.
    assert response.status_code == 202, response.text
    assert response.headers["Forgeyard-Wait"] == "timeout"
    assert response.json()["status"] in ("queued", "running")
    run_id = response.json()["id"]
    assert client.wait(run_id, timeout=0.2).status in (RunStatus.queued, RunStatus.running)
    assert client.wait(run_id, timeout=60).status == RunStatus.succeeded
    settled = httpx.get(
        f"{stack.url}/v1/runs/{run_id}/wait",
        params={"timeout": 5},
        headers={"Authorization": f"Bearer {stack.key}"},
    )
    assert settled.status_code == 200 and settled.headers["Forgeyard-Wait"] == "settled"


class CuttingProxy:
    """A TCP proxy to the API that cuts the first event stream after its first step."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port)
        self.requests: list[bytes] = []
        self.cut = False
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(downstream,), daemon=True).start()

    def _serve(self, downstream: socket.socket) -> None:
        upstream = socket.create_connection(self.upstream)
        # httpx reuses connections: watch every request on this one for the stream.
        streaming = threading.Event()
        threading.Thread(
            target=self._requests, args=(downstream, upstream, streaming), daemon=True
        ).start()
        try:
            while data := upstream.recv(65536):
                downstream.sendall(data)
                if streaming.is_set() and not self.cut and b"event: step" in data:
                    self.cut = True
                    break  # the connection drops mid-stream
        except OSError:
            pass
        for sock in (downstream, upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _requests(
        self, downstream: socket.socket, upstream: socket.socket, streaming: threading.Event
    ) -> None:
        try:
            while data := downstream.recv(65536):
                self.requests.append(data)
                if b"/events" in data.split(b"\r\n", 1)[0]:
                    streaming.set()
                upstream.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()


def test_the_event_stream_resumes_after_a_disconnect(stack):  # type: ignore[no-untyped-def]
    proxy = CuttingProxy(stack.url)
    try:
        with Forgeyard(proxy.url, stack.key, timeout=30) as fy:
            run = fy.submit_run("napper", {"a": 1})
            events = list(fy.stream_events(run.id))
            steps = [e.step for e in events if e.step is not None]
            # Every step once, in order, though the first connection was cut.
            assert proxy.cut
            assert [s.seq for s in steps] == [s.seq for s in fy.steps(run.id)]
            assert [s.node for s in steps] == ["add", "pay", "nap", "done"]
            assert events[-1].event == "run" and events[-1].status == RunStatus.succeeded
            resumed = [r for r in proxy.requests if b"last-event-id:" in r.lower()]
            assert resumed, "the client reconnected without Last-Event-ID"
            # Resuming by hand after the last step gives only what follows it.
            tail = list(fy.stream_events(run.id, last_event_id=str(steps[-1].seq)))
            assert [e.event for e in tail] == ["run"]
            assert json.loads(json.dumps(tail[0].data)) == {"status": "succeeded"}
    finally:
        proxy.close()
