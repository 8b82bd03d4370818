"""Typed exceptions raised by the turnscore client.

Every error the service answers is JSON ``{"error": {"code", "message", "details"}}`` (API.md); the client
raises the subclass for its HTTP status, carrying the server's ``code``, ``message`` and ``details``.
Transport failures (no answer at all) raise :class:`ConnectionFailed`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ConnectionFailed",
    "LocalModeUnavailable",
    "PayloadTooLargeError",
    "RateLimitedError",
    "ServerError",
    "ServiceUnavailableError",
    "TurnScoreError",
    "UnknownGoldRefError",
    "ValidationError",
    "error_from_response",
]


class TurnScoreError(Exception):
    """Base of every client error.

    ``code`` is the server's stable error code (``"connection_failed"`` for transport errors), ``message``
    its message, ``details`` its details object, ``status`` the HTTP status (``None`` without an answer),
    ``attempts`` how many attempts were made before giving up, ``url`` the last URL tried.
    """

    code: str = "error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        status: int | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details
        self.status = status
        self.url = url
        self.attempts = 1

    def __str__(self) -> str:
        where = f" [{self.status}]" if self.status is not None else ""
        return f"{self.code}{where}: {self.message}"


class APIError(TurnScoreError):
    """The service answered with an error status."""

    code = "api_error"


class BadRequestError(APIError):
    """400: malformed JSON or body."""

    code = "bad_request"


class AuthenticationError(APIError):
    """401: missing or bad API key."""

    code = "unauthorized"


class UnknownGoldRefError(APIError):
    """409 ``unknown_gold_ref``: the service knows none of ``missing`` (the client resends full golds
    by itself; this is raised only if the resend is answered with 409 again)."""

    code = "unknown_gold_ref"

    @property
    def missing(self) -> list[str]:
        if isinstance(self.details, dict) and isinstance(self.details.get("missing"), list):
            return [str(x) for x in self.details["missing"]]
        return []


class PayloadTooLargeError(APIError):
    """413: body or a configured limit exceeded (``details["limit"]`` names it)."""

    code = "limit_exceeded"


class ValidationError(APIError):
    """422: schema, config or limit violation; ``details["path"]`` is the JSON path of the field."""

    code = "invalid_request"

    @property
    def path(self) -> str | None:
        if isinstance(self.details, dict) and isinstance(self.details.get("path"), str):
            return str(self.details["path"])
        return None


class RateLimitedError(APIError):
    """429 after all retries (``retry_after`` seconds, when the service said)."""

    code = "rate_limited"

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class ServiceUnavailableError(APIError):
    """502/503/504 after all retries (overloaded, or a proxy found no healthy replica)."""

    code = "unavailable"

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class ServerError(APIError):
    """Any other 5xx (the service never answers 500 by contract: this is a service bug). Not retried."""

    code = "server_error"


class ConnectionFailed(TurnScoreError):
    """No answer: connection refused or reset, DNS, TLS, timeout; after all retries."""

    code = "connection_failed"


class LocalModeUnavailable(TurnScoreError):
    """Local mode was requested but the ``turnscore`` package (the core) is not installed."""

    code = "local_mode_unavailable"


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    409: UnknownGoldRefError,
    413: PayloadTooLargeError,
    422: ValidationError,
    429: RateLimitedError,
    502: ServiceUnavailableError,
    503: ServiceUnavailableError,
    504: ServiceUnavailableError,
}


def error_from_response(
    status: int, body: Any, *, url: str | None = None, retry_after: float | None = None
) -> APIError:
    """The typed exception for an error answer. ``body`` is the decoded JSON (or text) of the answer."""
    code: str | None = None
    message = f"HTTP {status}"
    details: Any = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        code = str(err["code"]) if err.get("code") is not None else None
        message = str(err.get("message") or message)
        details = err.get("details")
    elif isinstance(body, dict) and "detail" in body:  # a framework default error (e.g. 404, 405)
        message = str(body["detail"])
    elif isinstance(body, str) and body.strip():
        message = body.strip()[:500]
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else APIError
    kwargs: dict[str, Any] = {"code": code, "details": details, "status": status, "url": url}
    if cls in (RateLimitedError, ServiceUnavailableError):
        kwargs["retry_after"] = retry_after
    return cls(message, **kwargs)
