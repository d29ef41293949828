"""The synchronous client: one method per operation of the API that integrators use."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
from httpx_sse import SSEError, connect_sse

from forgeyard.client._errors import StreamError, UnavailableError, error_for
from forgeyard.client._models import Event, Run, RunPage, RunStatus, Step, WebhookDelivery

__all__ = ["Forgeyard"]

# Errors of the connection itself, after which a stream is resumed.
_BROKEN = (httpx.TransportError, SSEError)


class Forgeyard:
    """A client of one Forgeyard API, authenticated with one tenant API key.

    Args:
        base_url: e.g. ``http://127.0.0.1:8080``.
        api_key: ``fy_<id>_<secret>`` (``forgeyard keys create TENANT``).
        timeout: seconds for an ordinary request (waits add their own time).
        max_retries: how often a 503 or a broken connection is retried; only for
            requests that are safe to repeat (reads, and submissions, which
            carry an idempotency key).
        http_client: an ``httpx.Client`` of your own (its base URL is replaced).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        max_retries: int = 2,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._http = http_client or httpx.Client(timeout=timeout)
        self._http.base_url = httpx.URL(base_url.rstrip("/"))
        self._http.headers["Authorization"] = f"Bearer {api_key}"
        self._timeout = timeout
        self.max_retries = max_retries

    # -- plumbing ------------------------------------------------------------------
    def __enter__(self) -> Forgeyard:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _request(
        self, method: str, path: str, *, retry: bool = False, extra_time: float = 0, **kw: Any
    ) -> httpx.Response:
        tries = 1 + (self.max_retries if retry else 0)
        for attempt in range(tries):
            try:
                response = self._http.request(
                    method, path, timeout=self._timeout + extra_time, **kw
                )
            except httpx.TransportError:
                if attempt + 1 >= tries:
                    raise
                time.sleep(min(2**attempt, 10))
                continue
            if response.status_code < 400:
                return response
            error = error_for(
                response.status_code, _json(response), response.headers.get("Retry-After")
            )
            if isinstance(error, UnavailableError) and attempt + 1 < tries:
                time.sleep(error.retry_after or min(2**attempt, 10))
                continue
            raise error
        raise AssertionError("unreachable")

    # -- runs ----------------------------------------------------------------------
    def submit_run(
        self,
        workflow: str,
        input: dict[str, Any] | None = None,
        *,
        config: dict[str, Any] | None = None,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
        wait: float | None = None,
    ) -> Run:
        """Start a run (``submitRun``); with ``wait``, answer once it settled or time is up.

        The submission always carries an ``Idempotency-Key`` (a new one when none
        is given), so a retry after a lost answer never starts a second run.
        Raises :class:`ConflictError` when the key was used for another request.
        """
        body: dict[str, Any] = {"input": input or {}}
        if config:
            body["config"] = config
        if webhook_url:
            body["webhook_url"] = webhook_url
        params = {"wait": wait} if wait is not None else None
        response = self._request(
            "POST",
            f"/v1/workflows/{workflow}/runs",
            retry=True,
            extra_time=wait or 0,
            json=body,
            params=params,
            headers={"Idempotency-Key": idempotency_key or uuid.uuid4().hex},
        )
        return Run.model_validate(response.json())

    def get_run(self, run_id: str) -> Run:
        """One run, with its webhook events' delivery status (``getRun``)."""
        return Run.model_validate(self._request("GET", f"/v1/runs/{run_id}", retry=True).json())

    def wait(self, run_id: str, timeout: float | None = None, *, poll: float = 30.0) -> Run:
        """The run once finished or waiting for a person, or as it stands after ``timeout``.

        Long-polls ``waitRun`` in slices of ``poll`` seconds (the server caps each
        slice too); ``timeout=None`` waits as long as it takes.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = poll if deadline is None else max(0.0, deadline - time.monotonic())
            response = self._request(
                "GET",
                f"/v1/runs/{run_id}/wait",
                retry=True,
                extra_time=min(left, poll),
                params={"timeout": min(left, poll)},
            )
            run = Run.model_validate(response.json())
            if run.settled or (deadline is not None and time.monotonic() >= deadline):
                return run

    def approve(self, run_id: str, comment: str | None = None) -> Run:
        """Approve the step the run waits on (``approveRun``); a worker carries it on."""
        return self._decide(run_id, "approve", comment)

    def reject(self, run_id: str, comment: str | None = None) -> Run:
        """Reject the step the run waits on (``rejectRun``); it takes the `on_reject` path."""
        return self._decide(run_id, "reject", comment)

    def _decide(self, run_id: str, what: str, comment: str | None) -> Run:
        body = {"comment": comment} if comment is not None else {}
        return Run.model_validate(
            self._request("POST", f"/v1/runs/{run_id}/{what}", json=body).json()
        )

    def cancel(self, run_id: str) -> Run:
        """Cancel an unfinished run (``cancelRun``)."""
        return Run.model_validate(self._request("POST", f"/v1/runs/{run_id}/cancel").json())

    def list_runs(
        self,
        *,
        status: RunStatus | str | list[RunStatus | str] | None = None,
        where: list[str] | None = None,
        cursor: str | None = None,
        limit: int | None = None,
        **filters: Any,
    ) -> RunPage:
        """One page of this tenant's runs, newest first (``listRuns``).

        ``status`` (one or several), ``where`` (``input.PATH=VALUE``,
        ``output.PATH=VALUE``) and the other filters of the endpoint as keywords:
        ``workflow``, ``created_after``, ``finished_before``, ``idempotency_key``,
        ``adapter``, ``model``, ``node``, ``reached``.
        """
        params: list[tuple[str, Any]] = []
        statuses = [status] if isinstance(status, str) else status or []
        params += [("status", str(s)) for s in statuses]
        params += [("where", w) for w in where or []]
        for name, value in filters.items():
            if value is not None:
                params.append((name, value.isoformat() if hasattr(value, "isoformat") else value))
        if cursor:
            params.append(("cursor", cursor))
        if limit:
            params.append(("limit", limit))
        response = self._request("GET", "/v1/runs", retry=True, params=params)
        return RunPage.model_validate(response.json())

    def iter_runs(self, **filters: Any) -> Iterator[Run]:
        """Every run matching ``filters`` (as :meth:`list_runs`), page after page."""
        cursor = None
        while True:
            page = self.list_runs(cursor=cursor, **filters)
            yield from page.items
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def steps(self, run_id: str) -> list[Step]:
        """The recorded trace of a run, in order (``listRunSteps``)."""
        response = self._request("GET", f"/v1/runs/{run_id}/steps", retry=True)
        return [Step.model_validate(s) for s in response.json()]

    # -- events ----------------------------------------------------------------------
    def stream_events(
        self, run_id: str, *, last_event_id: str | None = None, max_reconnects: int = 10
    ) -> Iterator[Event]:
        """Each event of the run as it happens (``streamRunEvents``), until it finishes.

        A broken connection (or the server's ``unavailable`` event) is resumed
        with ``Last-Event-ID``, so no step is seen twice or missed.  A run
        waiting for a person keeps the stream open; stop iterating to leave.

        Raises:
            StreamError: after ``max_reconnects`` reconnections in a row failed.
        """
        last = last_event_id
        failures = 0
        while True:
            headers = {"Accept": "text/event-stream"}
            if last is not None:
                headers["Last-Event-ID"] = last
            retry_after = 1.0
            try:
                with connect_sse(
                    self._http,
                    "GET",
                    f"/v1/runs/{run_id}/events",
                    headers=headers,
                    timeout=httpx.Timeout(self._timeout, read=None),
                ) as source:
                    if source.response.status_code >= 400:
                        source.response.read()
                        raise error_for(
                            source.response.status_code,
                            _json(source.response),
                            source.response.headers.get("Retry-After"),
                        )
                    for sse in source.iter_sse():
                        failures = 0
                        if sse.event == "unavailable":
                            retry_after = (sse.retry or 1000) / 1000
                            raise httpx.RemoteProtocolError("server unavailable")
                        event = Event.parse(sse.event, sse.data, sse.id)
                        if event.event == "step" and event.id:
                            last = event.id
                        yield event
                        if event.status is not None and event.status.finished:
                            return
                return  # the server ended the stream: the run finished
            except _BROKEN as exc:
                failures += 1
                if failures > max_reconnects:
                    raise StreamError(
                        f"the event stream of run {run_id} broke {failures} times: {exc}"
                    ) from exc
                time.sleep(retry_after)

    # -- webhooks --------------------------------------------------------------------
    def webhook_deliveries(self, run_id: str) -> list[WebhookDelivery]:
        """The run's webhook events and how each delivery went (``listWebhookDeliveries``)."""
        response = self._request("GET", f"/v1/runs/{run_id}/webhooks", retry=True)
        return [WebhookDelivery.model_validate(d) for d in response.json()]

    def redeliver_webhook(self, run_id: str, delivery_id: str) -> WebhookDelivery:
        """Send a webhook event again, same id and body (``redeliverWebhook``)."""
        response = self._request("POST", f"/v1/runs/{run_id}/webhooks/{delivery_id}/redeliver")
        return WebhookDelivery.model_validate(response.json())


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
