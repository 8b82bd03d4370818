"""Prometheus metrics of the service (shared by every transport in the process).

Multiprocess mode: when ``PROMETHEUS_MULTIPROC_DIR`` is set *before this module is imported* (``turnscore
serve --workers N`` does it for N > 1), every worker writes its values to that directory and
:func:`render` aggregates all workers. Otherwise the default in-process registry is used.

Transport-neutral: a gRPC server records into the same objects, using its method name as ``endpoint``.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from turnscore.core.diagnostics import CODES as WARNING_CODES

_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
_BYTES_BUCKETS = tuple(float(1024 * 4**i) for i in range(10))  # 1 KiB .. 256 MiB

REQUEST_DURATION = Histogram(
    "turnscore_request_duration_seconds",
    "Request duration by endpoint (route or RPC) and status code.",
    ["endpoint", "status"],
    buckets=_LATENCY_BUCKETS,
)
STAGE_DURATION = Histogram(
    "turnscore_stage_duration_seconds",
    "Duration of one processing stage of a scoring request (decode, parse, match, advantage, encode).",
    ["stage"],
    buckets=_LATENCY_BUCKETS,
)
ROLLOUTS_SCORED = Counter("turnscore_rollouts_scored", "Rollouts scored (score, advantages, openrlhf).")
GROUPS_SCORED = Counter("turnscore_groups_scored", "Groups scored (score, advantages, openrlhf).")
MALFORMED_CALLS = Counter(
    "turnscore_malformed_calls", "Tool-call blocks in rollouts that could not be parsed."
)
WARNINGS = Counter(
    "turnscore_warnings",
    "Warning occurrences in scored model output, by code (the fixed set of core/diagnostics.py, else other).",
    ["code"],
)
OPENRLHF_UNSCORED = Counter(
    "turnscore_openrlhf_unscored_samples",
    "OpenRLHF samples answered with reward 0 because they were unscorable.",
)
CACHE_LOOKUPS = Counter(
    "turnscore_cache_lookups",
    "Gold-trace cache lookups by tier (memory, redis) and result (hit, miss, error).",
    ["tier", "result"],
)
CACHE_WRITES = Counter(
    "turnscore_cache_redis_writes",
    "Gold traces written to Redis by result (ok, error, dropped, skipped).",
    ["result"],
)
CACHE_ENTRIES = Gauge(
    "turnscore_cache_memory_entries", "Gold traces held in the tier-1 LRU.", multiprocess_mode="livesum"
)
CACHE_BYTES = Gauge(
    "turnscore_cache_memory_bytes", "Approximate bytes held in the tier-1 LRU.", multiprocess_mode="livesum"
)
REDIS_HEALTHY = Gauge(
    "turnscore_redis_healthy",
    "1 when tier-2 Redis is healthy; 0 when marked unhealthy (circuit open) or not configured.",
    multiprocess_mode="livemin",
)
REDIS_CONFIGURED = Gauge(
    "turnscore_redis_configured", "1 when a tier-2 Redis URL is configured.", multiprocess_mode="livemax"
)
INFLIGHT = Gauge(
    "turnscore_requests_in_flight",
    "Requests being received, scored or answered.",
    multiprocess_mode="livesum",
)
REQUEST_BODY_BYTES = Histogram(
    "turnscore_request_body_bytes",
    "Request body size: `wire` as received, `decoded` after gzip decompression.",
    ["encoding"],
    buckets=_BYTES_BUCKETS,
)
REJECTED = Counter(
    "turnscore_rejected_requests",
    "Requests refused before scoring, by reason (overloaded, unauthorized, too_large, timeout, bad_body).",
    ["reason"],
)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def render() -> tuple[bytes, str]:
    """The exposition text (all workers in multiprocess mode) and its content type."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def observe_stats(stats: Any) -> None:
    """Record an ``engine.ScoreStats`` (groups, rollouts, malformed calls, warnings, stage seconds)."""
    GROUPS_SCORED.inc(getattr(stats, "groups", 0) or 0)
    ROLLOUTS_SCORED.inc(getattr(stats, "rollouts", 0) or 0)
    MALFORMED_CALLS.inc(getattr(stats, "malformed_calls", 0) or 0)
    for code, count in (getattr(stats, "warnings", None) or {}).items():
        WARNINGS.labels(code if code in WARNING_CODES else "other").inc(count)
    for stage, seconds in (getattr(stats, "stage_seconds", None) or {}).items():
        STAGE_DURATION.labels(stage).observe(max(0.0, float(seconds)))


def mark_process_dead(pid: int) -> None:
    """Drop a dead worker's live gauges (multiprocess mode only)."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
