"""Service settings shared by every transport: the one reader of the ``TURNSCORE_*`` environment.

Every field is an environment variable ``TURNSCORE_<FIELD>`` (upper case) and, for ``turnscore serve``, a
``--<field-with-dashes>`` flag. One :class:`Settings` object describes a process: the transports, the
gold-trace cache (:mod:`turnscore.cache`), the request limits and the metrics all read from it, through the
process's one ``turnscore.runtime.Runtime``. The request limits default to the core's own
(:class:`turnscore.core.engine.Limits`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from turnscore.core.engine import Limits

MiB = 1024 * 1024
CORE_LIMITS = Limits()

#: Paths that never need an API key unless ``TURNSCORE_PUBLIC_PATHS`` says otherwise. ``/ui`` is the inspect
#: page's static files (its files under ``/ui/`` are public with it); the API calls it makes need a key.
DEFAULT_PUBLIC_PATHS = "/healthz,/readyz,/metrics,/docs,/docs/oauth2-redirect,/redoc,/openapi.json,/ui"


class Settings(BaseSettings):
    """Process-wide service settings (env prefix ``TURNSCORE_``)."""

    model_config = SettingsConfigDict(env_prefix="TURNSCORE_", extra="ignore", validate_default=True)

    # --- HTTP transport -----------------------------------------------------------------------------
    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(default=8000, ge=0, le=65535, description="HTTP port.")
    workers: int = Field(
        default=1, ge=1, le=256, description="uvicorn worker processes (each with its own tier-1 cache)."
    )
    root_path: str = Field(
        default="", description="ASGI root_path when served behind a path-prefixing proxy."
    )
    graceful_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds in-flight requests get to finish after SIGTERM before the process exits.",
    )
    keepalive_timeout: float = Field(
        default=75.0, gt=0, description="Idle keep-alive connection timeout (seconds)."
    )
    body_timeout: float = Field(
        default=60.0,
        gt=0,
        description="A request body must arrive completely within this many seconds (else 408).",
    )
    header_timeout: float = Field(
        default=10.0,
        gt=0,
        description="A request's headers must arrive within this many seconds of the connection opening "
        "(or of the next request's first byte); else the connection is closed.",
    )
    send_timeout: float = Field(
        default=30.0,
        gt=0,
        description="A response the client does not read for this many seconds (send buffer full) is "
        "dropped: the connection is aborted and the unsent bytes freed.",
    )
    max_connections: int = Field(
        default=0,
        ge=0,
        description="Open HTTP connections per process; beyond, a new connection is answered 503 and "
        "closed (0 = three quarters of the open-file limit).",
    )
    log_level: str = Field(default="info", description="Log level: debug, info, warning, error.")
    access_log: bool = Field(
        default=True, description="Emit one structured JSON access-log line per request."
    )

    # --- gRPC transport (the `grpc` extra) -----------------------------------------------------------
    # Everything else in this class (cache, limits, admission, auth, metrics) is transport-neutral and is
    # shared by the gRPC server through `turnscore.runtime.Runtime` (see docs/grpc.md).
    grpc_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Serve gRPC (turnscore.v1.RewardService) on this port next to HTTP (0 = any free "
        "port). Unset = no gRPC.",
    )
    grpc_host: str | None = Field(
        default=None, description="Address the gRPC server binds to (unset = same as --host)."
    )
    grpc_max_message_bytes: int | None = Field(
        default=None,
        ge=1024,
        description="Largest gRPC request message (unset = max_body_bytes; RESOURCE_EXHAUSTED beyond).",
    )
    grpc_drain_delay: float = Field(
        default=1.0,
        ge=0,
        description="On shutdown, seconds gRPC health reports NOT_SERVING (RPCs still served) before the "
        "server stops taking new RPCs and drains in-flight ones.",
    )
    http: bool = Field(
        default=True, description="Serve HTTP. --no-http with --grpc-port runs the gRPC server alone."
    )

    # --- authentication -----------------------------------------------------------------------------
    api_keys: str = Field(
        default="",
        description="Comma-separated API keys accepted as `Authorization: Bearer <key>`. Empty = no auth.",
    )
    api_key_file: Path | None = Field(
        default=None, description="File with one API key per line (blank lines and `#` comments ignored)."
    )
    public_paths: str = Field(
        default=DEFAULT_PUBLIC_PATHS,
        description="Comma-separated paths that never require an API key (probes, metrics, docs).",
    )

    # --- admission control and request limits -------------------------------------------------------
    max_inflight: int = Field(
        default=64,
        ge=1,
        description="Scoring requests being scored (body read) allowed at once per process; beyond it the "
        "answer is 503 with Retry-After. Bodies still arriving hold no slot.",
    )
    retry_after: int = Field(
        default=1, ge=0, description="Retry-After seconds sent with 503 overload answers."
    )
    scoring_threads: int = Field(
        default=0,
        ge=0,
        description="Threads that run the CPU-bound core per process (0 = min(4, CPU count)).",
    )
    core: Literal["python", "native", "auto"] = Field(
        default="auto",
        description="Scoring core: `native` (the compiled extension turnscore_native; start-up fails "
        "without it), `python` (the pure-Python reference) or `auto` (native when installed, else python "
        "with one warning line). Same results either way; /readyz says which one runs.",
    )
    gc_freeze: bool = Field(
        default=True,
        description="At start-up, move everything imported so far (the app, numpy, scipy, POT) out of "
        "the cyclic GC's reach (gc.freeze): full collections stop rescanning it (+40-65 % core throughput).",
    )
    gc_threshold: int = Field(
        default=50_000,
        ge=0,
        description="The cyclic GC's first-generation threshold (gc.set_threshold; 0 keeps Python's 700): a "
        "request allocates tens of thousands of short-lived containers, and Python's default runs a "
        "collection every 700 of them (+5-15 % core throughput at 50,000).",
    )
    max_body_bytes: int = Field(
        default=64 * MiB,
        ge=1024,
        description="Largest request body, counted after gzip decompression (413 beyond).",
    )
    max_json_depth: int = Field(
        default=64, ge=2, le=1000, description="Deepest JSON nesting accepted (413 beyond)."
    )
    # the core's limits (turnscore.core.engine.Limits): same names, the core's values as defaults
    max_groups: int = Field(default=CORE_LIMITS.max_groups, ge=1, description="Groups per request.")
    max_rollouts_per_group: int = Field(
        default=CORE_LIMITS.max_rollouts_per_group, ge=1, description="Rollouts per group."
    )
    max_calls_per_rollout: int = Field(
        default=CORE_LIMITS.max_calls_per_rollout, ge=1, description="Calls per rollout."
    )
    max_text_chars: int = Field(
        default=CORE_LIMITS.max_text_chars, ge=1, description="Characters per text field."
    )
    max_turns_per_rollout: int = Field(
        default=CORE_LIMITS.max_turns_per_rollout, ge=1, description="Turns per rollout."
    )
    max_references: int = Field(
        default=CORE_LIMITS.max_references, ge=1, description="Gold traces per group."
    )
    max_gold_calls: int = Field(
        default=CORE_LIMITS.max_gold_calls, ge=1, description="Calls of one gold trace."
    )
    max_match_cells: int = Field(
        default=CORE_LIMITS.max_match_cells,
        ge=1,
        description="Matching work of a request: predicted x gold calls summed over rollouts x references.",
    )
    max_ot_cells: int = Field(
        default=CORE_LIMITS.max_ot_cells,
        ge=1,
        description="The same sum for `ot` assignment (dense, iterated problems).",
    )
    request_timeout: float = Field(
        default=60.0,
        ge=0,
        description="Seconds a scoring request may spend being scored (0 = no limit); past it the core "
        "stops between rollouts and the answer is `deadline_exceeded`. gRPC: also the call's deadline.",
    )

    # --- inspect page (/ui) ------------------------------------------------------------------------
    inspect_sample: int = Field(
        default=0,
        ge=0,
        le=10_000,
        description="Keep the last N scored /v1/score requests with their responses in memory for the "
        "inspect page (/ui, GET /v1/inspect/samples); per worker, never on disk. 0 = off.",
    )
    inspect_sample_bytes: int = Field(
        default=64 * MiB,
        ge=1024,
        description="Byte bound of the inspect ring (request + response JSON); a sample larger than this "
        "is not kept, older ones are evicted to stay under it.",
    )

    # --- gold-trace cache ---------------------------------------------------------------------------
    cache_max_entries: int = Field(
        default=100_000, ge=0, description="Tier-1 LRU capacity in gold traces (0 = off)."
    )
    cache_max_bytes: int = Field(
        default=256 * MiB, ge=0, description="Tier-1 LRU capacity in (approximate) bytes."
    )
    redis_url: str | None = Field(
        default=None, description="Tier-2 Redis, e.g. redis://host:6379/0. Unset = tier 1 only."
    )
    redis_key_prefix: str = Field(
        default="turnscore:gold:v1:", description="Prefix of the Redis keys holding traces."
    )
    redis_ttl: int = Field(
        default=7 * 24 * 3600, ge=1, description="TTL (seconds) of a gold trace written to Redis."
    )
    redis_ttl_jitter: float = Field(
        default=0.1, ge=0, le=1, description="TTL jitter: each write uses ttl * (1 + uniform(0, jitter))."
    )
    redis_timeout: float = Field(
        default=0.25,
        gt=0,
        description="Budget (seconds) of one Redis operation, connect included; beyond = error.",
    )
    redis_retry_interval: float = Field(
        default=1.0,
        gt=0,
        description="While Redis is marked unhealthy, seconds between background reconnect probes.",
    )
    redis_health_interval: float = Field(
        default=2.0,
        gt=0,
        description="While Redis is healthy, seconds between background PINGs (a dead Redis is reported "
        "within about this long even when every lookup hits tier 1).",
    )

    @field_validator(
        "redis_url", "api_key_file", "grpc_port", "grpc_host", "grpc_max_message_bytes", mode="before"
    )
    @classmethod
    def _empty_is_none(cls, v: Any) -> Any:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        v = v.lower()
        if v not in {"critical", "error", "warning", "info", "debug", "trace"}:
            raise ValueError(f"unknown log level {v!r}")
        return v

    @model_validator(mode="after")
    def _keys_readable(self) -> Settings:
        if self.api_key_file is not None and not self.api_key_file.is_file():
            raise ValueError(f"api_key_file {self.api_key_file} does not exist")
        return self

    @model_validator(mode="after")
    def _some_transport(self) -> Settings:
        if not self.http and self.grpc_port is None:
            raise ValueError("http is off and no grpc_port is set: nothing to serve")
        return self

    # --- derived values -----------------------------------------------------------------------------
    def api_key_list(self) -> list[str]:
        """Every accepted API key (from ``api_keys`` and ``api_key_file``), deduplicated, order kept."""
        keys = [k.strip() for k in self.api_keys.split(",")]
        if self.api_key_file is not None:
            for line in self.api_key_file.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    keys.append(line)
        return list(dict.fromkeys(k for k in keys if k))

    def public_path_set(self) -> frozenset[str]:
        return frozenset(p.strip() for p in self.public_paths.split(",") if p.strip())

    def thread_count(self) -> int:
        return self.scoring_threads or max(1, min(4, os.cpu_count() or 1))

    def core_limits(self) -> Limits:
        """The core's :class:`Limits` with this process's values."""
        return Limits(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Limits)})

    def redacted(self) -> dict[str, Any]:
        """Settings for logs: secrets removed."""
        d = self.model_dump(mode="json")
        d["api_keys"] = f"<{len(self.api_key_list())} key(s)>" if self.api_keys or self.api_key_file else ""
        if self.redis_url and "@" in self.redis_url:
            scheme, _, rest = self.redis_url.partition("://")
            d["redis_url"] = f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
        return d
