"""The client's errors.

::

    ForgeyardError
     ├── APIError                  the API answered with an error (status, detail, problems)
     │    ├── InvalidRequestError  400, 413, 422: the request is wrong (`problems` says where)
     │    ├── AuthenticationError  401: no key, or an unknown, revoked or expired one
     │    ├── PermissionDeniedError 403: the key lacks the scope
     │    ├── NotFoundError        404: no such run (or not this tenant's)
     │    ├── ConflictError        409: e.g. an Idempotency-Key reused with another body
     │    └── UnavailableError     503: database, broker or model server down; retry later
     ├── StreamError               the event stream could not be resumed
     └── WebhookVerificationError  a webhook call's signature or timestamp does not hold
"""

from __future__ import annotations

from typing import Any

from forgeyard.client._models import Problem


class ForgeyardError(Exception):
    """Every error this client raises."""


class APIError(ForgeyardError):
    """The API answered with an error status; ``detail`` is its message."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        problems: list[Problem] | None = None,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"HTTP {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail
        self.problems = problems or []
        self.body = body
        self.retry_after = retry_after


class InvalidRequestError(APIError):
    """400, 413 or 422: the request is malformed or a field is invalid."""


class AuthenticationError(APIError):
    """401: no API key, or an unknown, revoked or expired one."""


class PermissionDeniedError(APIError):
    """403: the key lacks the scope the operation needs."""


class NotFoundError(APIError):
    """404: no such resource for this tenant."""


class ConflictError(APIError):
    """409: the resource's state does not allow it, or an idempotency key was reused."""


class UnavailableError(APIError):
    """503: a service behind the API is unreachable; ``retry_after`` says when to retry."""


class StreamError(ForgeyardError):
    """The event stream broke and could not be resumed."""


class WebhookVerificationError(ForgeyardError):
    """A webhook call is not authentic: headers missing, signature wrong, timestamp stale."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: InvalidRequestError,
    422: InvalidRequestError,
    503: UnavailableError,
}


def error_for(status_code: int, body: Any, retry_after: str | None) -> APIError:
    """The error for an answer with ``status_code`` and the (JSON) ``body``."""
    detail = str(body)
    problems: list[Problem] = []
    if isinstance(body, dict):
        detail = str(body.get("detail", body))
        problems = [Problem.model_validate(p) for p in body.get("problems") or []]
    try:
        after = float(retry_after) if retry_after else None
    except ValueError:
        after = None
    cls = _BY_STATUS.get(status_code, APIError)
    return cls(status_code, detail, problems, body, after)
