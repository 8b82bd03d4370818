"""Every ``TURNSCORE_*`` environment variable the client reads: its name, type and meaning, in one place.

A variable is read when its value is asked for (``URL.get()``), not at import, so one set later still
counts; unset or empty means "not given" (``None``) and the caller's default applies.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx

from ._retry import RetryPolicy

__all__ = [
    "API_KEY",
    "CONFIG",
    "DEADLINE",
    "DEFAULT_GRPC_TARGET",
    "DEFAULT_URL",
    "GRPC_TARGET",
    "LOCAL",
    "LOCAL_FALLBACK",
    "MAX_ATTEMPTS",
    "MAX_CONCURRENCY",
    "MAX_GROUPS_PER_REQUEST",
    "PRESET",
    "TIMEOUT",
    "URL",
    "VARIABLES",
    "EnvVar",
    "client_kwargs",
]

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_GRPC_TARGET = "127.0.0.1:50051"


def _flag(raw: str) -> bool:
    return raw.strip().lower() in ("1", "true", "yes", "on")


def _object(raw: str) -> dict[str, Any]:
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("TURNSCORE_CONFIG must be a JSON object of config overrides")
    return value


@dataclass(frozen=True)
class EnvVar(Generic[T]):
    """One environment variable: ``parse`` turns its text into the value; ``help`` says what it means."""

    name: str
    parse: Callable[[str], T]
    help: str

    def get(self) -> T | None:
        """The parsed value, or ``None`` when the variable is unset or empty."""
        raw = os.environ.get(self.name)
        return self.parse(raw) if raw else None


URL = EnvVar("TURNSCORE_URL", str, f"HTTP base URL(s), comma-separated; default {DEFAULT_URL}")
GRPC_TARGET = EnvVar(
    "TURNSCORE_GRPC_TARGET", str, f"gRPC host:port target(s), comma-separated; default {DEFAULT_GRPC_TARGET}"
)
API_KEY = EnvVar(
    "TURNSCORE_API_KEY", str, "API key (HTTP: Authorization: Bearer; gRPC: authorization metadata)"
)
TIMEOUT = EnvVar("TURNSCORE_TIMEOUT", float, "seconds per attempt (connecting: at most 5)")
MAX_ATTEMPTS = EnvVar("TURNSCORE_MAX_ATTEMPTS", int, "attempts per request, the first included")
DEADLINE = EnvVar("TURNSCORE_DEADLINE", float, "seconds per request, retries and waits included")
MAX_GROUPS_PER_REQUEST = EnvVar(
    "TURNSCORE_MAX_GROUPS_PER_REQUEST", int, "groups per request (larger calls are split)"
)
MAX_CONCURRENCY = EnvVar("TURNSCORE_MAX_CONCURRENCY", int, "requests of one call in flight at once")
LOCAL = EnvVar("TURNSCORE_LOCAL", _flag, "1/true/yes/on: score in-process (needs the turnscore package)")
LOCAL_FALLBACK = EnvVar(
    "TURNSCORE_LOCAL_FALLBACK", _flag, "1/true/yes/on: in-process when the service stays unreachable"
)
PRESET = EnvVar("TURNSCORE_PRESET", str, "trainer adapters: the preset of every request")
CONFIG = EnvVar(
    "TURNSCORE_CONFIG", _object, "trainer adapters: config overrides of every request (a JSON object)"
)

VARIABLES: tuple[EnvVar[Any], ...] = (
    URL,
    GRPC_TARGET,
    API_KEY,
    TIMEOUT,
    MAX_ATTEMPTS,
    DEADLINE,
    MAX_GROUPS_PER_REQUEST,
    MAX_CONCURRENCY,
    LOCAL,
    LOCAL_FALLBACK,
    PRESET,
    CONFIG,
)


def client_kwargs(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Client keyword arguments from the variables that are set (explicit ``overrides`` win).

    The URL, gRPC target and API key are not among them: every client reads those itself when not given.
    """
    kw: dict[str, Any] = {}
    timeout = TIMEOUT.get()
    if timeout is not None:
        kw["timeout"] = httpx.Timeout(timeout, connect=min(5.0, timeout))
    policy: dict[str, Any] = {}
    if (attempts := MAX_ATTEMPTS.get()) is not None:
        policy["max_attempts"] = attempts
    if (deadline := DEADLINE.get()) is not None:
        policy["deadline"] = deadline
    if policy:
        kw["retry"] = RetryPolicy(**policy)
    for var, key in (
        (MAX_GROUPS_PER_REQUEST, "max_groups_per_request"),
        (MAX_CONCURRENCY, "max_concurrency"),
        (LOCAL, "local"),
        (LOCAL_FALLBACK, "local_fallback"),
    ):
        value = var.get()
        if value is not None:
            kw[key] = value
    kw.update(overrides)
    return kw
