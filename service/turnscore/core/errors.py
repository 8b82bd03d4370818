"""Errors raised by the scoring core, and the transport-neutral kinds every transport maps to a status.

Each error has a :class:`ErrorKind` (what went wrong, for a transport to pick its status: HTTP in
``turnscore.http.errors``, gRPC in ``turnscore.grpc.status``), a stable ``code`` (the wire's
``error.code``), a message and optional ``details``.
"""

from __future__ import annotations

import enum
from typing import Any


class ErrorKind(enum.StrEnum):
    """What went wrong, independent of the transport that reports it."""

    INVALID = "invalid"  # the request breaks the schema, a config override or a preset name
    BAD_REQUEST = "bad_request"  # the body cannot be read: not JSON, broken gzip, client gone
    UNSUPPORTED_ENCODING = "unsupported_encoding"  # a body encoding the service does not read
    UNKNOWN_GOLD_REF = "unknown_gold_ref"  # a gold_ref no cache tier knows: resend the full gold
    TOO_LARGE = "too_large"  # a size, count or nesting limit
    OVERLOADED = "overloaded"  # too many requests in flight: retry later
    UNAUTHENTICATED = "unauthenticated"  # missing or invalid API key
    DEADLINE_EXCEEDED = "deadline_exceeded"  # the request (or its body) did not arrive or finish in time
    INTERNAL = "internal"  # a bug, never the request's fault


class TurnScoreError(Exception):
    """Base error: a transport-neutral ``kind``, a stable ``code``, a message and optional ``details``."""

    kind: ErrorKind = ErrorKind.INVALID
    code: str = "invalid_request"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, Any]:
        """The wire's error body: ``{"error": {"code", "message", "details"}}``."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidRequest(TurnScoreError):
    """The request does not follow the schema; ``details["path"]`` names the field (JSON path)."""

    kind = ErrorKind.INVALID
    code = "invalid_request"

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message, details={"path": path})
        self.path = path


class UnknownKey(InvalidRequest):
    """A key the object does not know; details add ``unknown``, ``suggestion`` (or null) and ``known``."""

    def __init__(self, path: str, key: str, suggestion: str | None, known: tuple[str, ...]) -> None:
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
        super().__init__(path, f"unknown key {key!r}{hint} (known: {', '.join(known)})")
        self.details = {"path": path, "unknown": key, "suggestion": suggestion, "known": list(known)}


class ConfigError(TurnScoreError):
    """A config override is unknown, mistyped, non-finite or out of range; details name the key."""

    kind = ErrorKind.INVALID
    code = "invalid_config"

    def __init__(self, key: str, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(
            f"config.{key}: {message}", details={"path": f"config.{key}", "key": key, **(extra or {})}
        )
        self.key = key


class UnknownPreset(TurnScoreError):
    kind = ErrorKind.INVALID
    code = "unknown_preset"

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(
            f"preset: unknown preset {name!r}; known presets: {', '.join(known)}",
            details={"path": "preset", "preset": name, "known": known},
        )


class UnknownGoldRef(TurnScoreError):
    """Some groups reference gold traces by ``gold_ref`` that no cache tier knows."""

    kind = ErrorKind.UNKNOWN_GOLD_REF
    code = "unknown_gold_ref"

    def __init__(self, missing: list[str]) -> None:
        super().__init__(
            f"{len(missing)} gold_ref(s) unknown to this service; resend those groups with the full gold",
            details={"missing": missing},
        )
        self.missing = missing


class LimitExceeded(TurnScoreError):
    """A configured size limit is exceeded; details name the limit, its maximum and where."""

    kind = ErrorKind.TOO_LARGE
    code = "limit_exceeded"

    def __init__(self, limit: str, maximum: int, path: str, actual: int | None = None) -> None:
        msg = f"{path}: exceeds limit {limit}={maximum}" + (f" (got {actual})" if actual is not None else "")
        super().__init__(msg, details={"limit": limit, "max": maximum, "path": path, "actual": actual})
        self.limit = limit


class DeadlineExceeded(TurnScoreError):
    """The request's deadline passed while the core worked on it (checked between rollouts/problems)."""

    kind = ErrorKind.DEADLINE_EXCEEDED
    code = "deadline_exceeded"

    def __init__(self) -> None:
        super().__init__("deadline exceeded while scoring: the request was stopped", details=None)
