"""Typed exceptions raised by the turnscore client, and the one place that chooses them.

Every transport reports a failed call the same way: an :class:`ErrorKind` (what went wrong) and the
service's API.md error body ``{"error": {"code", "message", "details"}}``; :func:`error_for` turns them
into the exception of that kind, carrying the server's ``code``, ``message`` and ``details``. No answer at
all (connection refused, timeout) is :class:`ConnectionFailed`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ClientUsageError",
    "ConnectionFailed",
    "ErrorKind",
    "LocalModeUnavailable",
    "PayloadTooLargeError",
    "RateLimitedError",
    "ServerError",
    "ServiceUnavailableError",
    "TurnScoreError",
    "UnknownGoldRefError",
    "ValidationError",
    "error_for",
    "error_from_response",
]


class ErrorKind(StrEnum):
    """What went wrong in an answered call, whatever the transport (HTTP status, gRPC status, in-process)."""

    MALFORMED = "malformed"  # the body cannot be read (bad JSON, bad encoding)
    UNAUTHENTICATED = "unauthenticated"  # missing or bad API key
    UNKNOWN_GOLD_REF = "unknown_gold_ref"  # a gold_ref the service does not know
    TOO_LARGE = "too_large"  # a size or count limit
    INVALID = "invalid"  # schema, config or preset
    RATE_LIMITED = "rate_limited"  # too many requests (a proxy)
    OVERLOADED = "overloaded"  # the service's admission limit is reached
    UNAVAILABLE = "unavailable"  # no healthy replica (a proxy's 502/503/504), or not serving
    SERVER = "server"  # a service bug
    OTHER = "other"  # any other refusal (no such route or method)


class TurnScoreError(Exception):
    """Base of every client error.

    ``code`` is the server's stable error code (``"connection_failed"`` for transport errors), ``message``
    its message, ``details`` its details object, ``kind`` its :class:`ErrorKind` (``None`` without an
    answer), ``status`` the HTTP status (over gRPC and in-process: the one the HTTP service gives this kind;
    ``None`` without an answer), ``body`` the decoded answer, ``attempts`` how many attempts were made before
    giving up, ``url`` the last URL (or ``grpc://`` target) tried. ``retryable``: whether another attempt
    may succeed.
    """

    code: str = "error"
    kind: ErrorKind | None = None
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        status: int | None = None,
        url: str | None = None,
        kind: ErrorKind | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if kind is not None:
            self.kind = kind
        self.details = details
        self.status = status
        self.url = url
        self.body = body
        self.attempts = 1

    def __str__(self) -> str:
        where = f" [{self.status}]" if self.status is not None else ""
        return f"{self.code}{where}: {self.message}"


class APIError(TurnScoreError):
    """The service answered with an error status."""

    code = "api_error"
    kind = ErrorKind.OTHER


class BadRequestError(APIError):
    """400: malformed JSON or body."""

    code = "bad_request"
    kind = ErrorKind.MALFORMED


class AuthenticationError(APIError):
    """401: missing or bad API key."""

    code = "unauthorized"
    kind = ErrorKind.UNAUTHENTICATED


class UnknownGoldRefError(APIError):
    """409 ``unknown_gold_ref`` (gRPC FAILED_PRECONDITION): the service knows none of ``missing`` (the client
    resends full golds by itself; this is raised only if the resend is answered the same way)."""

    code = "unknown_gold_ref"
    kind = ErrorKind.UNKNOWN_GOLD_REF

    @property
    def missing(self) -> list[str]:
        if isinstance(self.details, dict) and isinstance(self.details.get("missing"), list):
            return [str(x) for x in self.details["missing"]]
        return []


class PayloadTooLargeError(APIError):
    """413: body or a configured limit exceeded (``details["limit"]`` names it)."""

    code = "limit_exceeded"
    kind = ErrorKind.TOO_LARGE


class ValidationError(APIError):
    """422: schema, config or limit violation; ``details["path"]`` is the JSON path of the field."""

    code = "invalid_request"
    kind = ErrorKind.INVALID

    @property
    def path(self) -> str | None:
        if isinstance(self.details, dict) and isinstance(self.details.get("path"), str):
            return str(self.details["path"])
        return None


class RateLimitedError(APIError):
    """429 after all retries (``retry_after`` seconds, when the service said)."""

    code = "rate_limited"
    retryable = True
    kind = ErrorKind.RATE_LIMITED

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class ServiceUnavailableError(APIError):
    """502/503/504 after all retries (overloaded, or a proxy found no healthy replica)."""

    code = "unavailable"
    retryable = True
    kind = ErrorKind.UNAVAILABLE

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class ServerError(APIError):
    """Any other 5xx (the service never answers 500 by contract: this is a service bug). Not retried."""

    code = "server_error"
    kind = ErrorKind.SERVER


class ConnectionFailed(TurnScoreError):
    """No answer: connection refused or reset, DNS, TLS, timeout; after all retries."""

    code = "connection_failed"
    retryable = True


class ClientUsageError(ValidationError, TypeError, ValueError):
    """A client method called with an argument of the wrong type or shape, found before anything is sent
    (``status`` is ``None``). The message says what was expected; ``details`` is ``{"path", "argument",
    "expected", "got"}`` (``path`` the argument: ``groups``, ``groups[2]``, ``config``, ...). A
    :class:`ValidationError`, so one ``except`` catches what the client and what the service refuse; also a
    ``TypeError`` and a ``ValueError`` (what such calls raised before this class existed)."""

    code = "invalid_argument"

    @classmethod
    def at(cls, path: str, message: str) -> ClientUsageError:
        """The error for the argument at ``path`` (``"config"``, ``"sample 3.label"``)."""
        return cls(f"{path}: {message}", details={"path": path, "argument": path})

    @property
    def argument(self) -> str | None:
        if isinstance(self.details, dict) and isinstance(self.details.get("argument"), str):
            return str(self.details["argument"])
        return None


class LocalModeUnavailable(TurnScoreError):
    """Local mode was requested but the ``turnscore`` package (the core) is not installed."""

    code = "local_mode_unavailable"


#: Each kind's exception and the HTTP status the service answers it with (API.md).
_BY_KIND: dict[ErrorKind, tuple[type[APIError], int | None]] = {
    ErrorKind.MALFORMED: (BadRequestError, 400),
    ErrorKind.UNAUTHENTICATED: (AuthenticationError, 401),
    ErrorKind.UNKNOWN_GOLD_REF: (UnknownGoldRefError, 409),
    ErrorKind.TOO_LARGE: (PayloadTooLargeError, 413),
    ErrorKind.INVALID: (ValidationError, 422),
    ErrorKind.RATE_LIMITED: (RateLimitedError, 429),
    ErrorKind.OVERLOADED: (ServiceUnavailableError, 503),
    ErrorKind.UNAVAILABLE: (ServiceUnavailableError, 503),
    ErrorKind.SERVER: (ServerError, 500),
    ErrorKind.OTHER: (APIError, None),
}

_KIND_BY_STATUS = {
    400: ErrorKind.MALFORMED,
    401: ErrorKind.UNAUTHENTICATED,
    403: ErrorKind.UNAUTHENTICATED,
    409: ErrorKind.UNKNOWN_GOLD_REF,
    413: ErrorKind.TOO_LARGE,
    422: ErrorKind.INVALID,
    429: ErrorKind.RATE_LIMITED,
    502: ErrorKind.UNAVAILABLE,
    503: ErrorKind.UNAVAILABLE,
    504: ErrorKind.UNAVAILABLE,
}


def error_code(body: Any) -> str | None:
    """The API.md error ``code`` of a decoded error answer, if it has one."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code")
        return None if code is None else str(code)
    return None


def error_for(
    kind: ErrorKind,
    body: Any,
    *,
    status: int | None = None,
    url: str | None = None,
    retry_after: float | None = None,
) -> APIError:
    """The typed exception for an answered call that failed: ``kind`` chooses the class, ``body`` (the decoded
    answer: an API.md error body, a framework's ``{"detail"}`` or text) gives code, message and details.
    ``status``: the HTTP status when the transport has one (else the kind's)."""
    cls, kind_status = _BY_KIND[kind]
    message = f"HTTP {status}" if status is not None else kind.value
    if status is None:
        status = kind_status
    code = error_code(body)
    details: Any = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        message = str(err.get("message") or message)
        details = err.get("details")
    elif isinstance(body, dict) and "detail" in body:  # a framework default error (e.g. 404, 405)
        message = str(body["detail"])
    elif isinstance(body, str) and body.strip():
        message = body.strip()[:500]
    kwargs: dict[str, Any] = {
        "code": code,
        "details": details,
        "status": status,
        "url": url,
        "kind": kind,
        "body": body,
    }
    if cls in (RateLimitedError, ServiceUnavailableError):
        kwargs["retry_after"] = retry_after
    return cls(message, **kwargs)


def kind_of_status(status: int, code: str | None) -> ErrorKind:
    """The kind of an HTTP error answer (``code``: its API.md error code)."""
    if status == 503 and code == "overloaded":
        return ErrorKind.OVERLOADED
    return _KIND_BY_STATUS.get(status) or (ErrorKind.SERVER if status >= 500 else ErrorKind.OTHER)


def error_from_response(
    status: int, body: Any, *, url: str | None = None, retry_after: float | None = None
) -> APIError:
    """The typed exception for an HTTP error answer. ``body`` is the decoded JSON (or text) of the answer."""
    kind = kind_of_status(status, error_code(body))
    return error_for(kind, body, status=status, url=url, retry_after=retry_after)
