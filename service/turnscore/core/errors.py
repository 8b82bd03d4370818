"""Errors raised by the scoring core; every transport maps them to the API.md error shape."""

from __future__ import annotations

from typing import Any


class TurnscoreError(Exception):
    """Base error: an HTTP-like ``status``, a stable ``code``, a message and optional ``details``."""

    status: int = 422
    code: str = "invalid_request"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, Any]:
        """The API.md error body: ``{"error": {"code", "message", "details"}}``."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidRequest(TurnscoreError):
    """The request does not follow the schema; ``details["path"]`` names the field (JSON path)."""

    status = 422
    code = "invalid_request"

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message, details={"path": path})
        self.path = path


class ConfigError(TurnscoreError):
    """A config override is unknown, mistyped, non-finite or out of range; details name the key."""

    status = 422
    code = "invalid_config"

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"config.{key}: {message}", details={"path": f"config.{key}", "key": key})
        self.key = key


class UnknownPreset(TurnscoreError):
    status = 422
    code = "unknown_preset"

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(
            f"preset: unknown preset {name!r}; known presets: {', '.join(known)}",
            details={"path": "preset", "preset": name, "known": known},
        )


class UnknownGoldRef(TurnscoreError):
    """Some groups reference gold traces by ``gold_ref`` that no cache tier knows (HTTP 409)."""

    status = 409
    code = "unknown_gold_ref"

    def __init__(self, missing: list[str]) -> None:
        super().__init__(
            f"{len(missing)} gold_ref(s) unknown to this service; resend those groups with the full gold",
            details={"missing": missing},
        )
        self.missing = missing


class LimitExceeded(TurnscoreError):
    """A configured size limit is exceeded; details name the limit, its maximum and where."""

    status = 413
    code = "limit_exceeded"

    def __init__(self, limit: str, maximum: int, path: str, actual: int | None = None) -> None:
        msg = f"{path}: exceeds limit {limit}={maximum}" + (f" (got {actual})" if actual is not None else "")
        super().__init__(msg, details={"limit": limit, "max": maximum, "path": path, "actual": actual})
        self.limit = limit
