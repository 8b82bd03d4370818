"""Prometheus metrics of the service (shared by every transport in the process).

Multiprocess mode: when ``PROMETHEUS_MULTIPROC_DIR`` is set *before this module is imported* (``turnscore
serve --workers N`` does it for N > 1), every worker writes its values to that directory and
:func:`render` aggregates all workers. Otherwise the default in-process registry is used.

Transport-neutral: a gRPC server records into the same objects, using its method name as ``endpoint``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from turnscore.core.config import preset_names
from turnscore.core.diagnostics import CODES as WARNING_CODES
from turnscore.core.summary import RolloutColumns

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
# Returns: a turn-level return is a sum of per-turn rewards in [-penalty, 1] plus an outcome in [0, 1]
_RETURN_BUCKETS = (-5.0, -2.0, -1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)
_RATIO_BUCKETS = tuple(i / 10 for i in range(11))  # 0, 0.1, ..., 1
#: The ``preset`` label of the reward metrics for a request that overrides settings in ``config``: label
#: values stay the known preset names plus this one, whatever requests send.
CUSTOM_PRESET = "custom"
_PRESETS = frozenset(preset_names())

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
CALLS = Counter(
    "turnscore_calls",
    "Predicted tool calls of scored rollouts by preset and kind: predicted (parsed, entering matching), "
    "matched (assigned to a gold call with similarity > 0), exact (similarity 1), redundant (predicted - "
    "matched), malformed (did not parse).",
    ["preset", "kind"],
)
GOLD_CALLS = Counter(
    "turnscore_gold_calls",
    "Gold calls of the references scored against, by preset and kind: total, covered (matched by some call).",
    ["preset", "kind"],
)
ROLLOUT_RETURN = Histogram(
    "turnscore_rollout_return",
    "Return R_i of each scored rollout, by preset.",
    ["preset"],
    buckets=_RETURN_BUCKETS,
)
ROLLOUT_CALL_PRECISION = Histogram(
    "turnscore_rollout_call_precision",
    "Call precision (matched / predicted calls) of each scored rollout with at least one call, by preset.",
    ["preset"],
    buckets=_RATIO_BUCKETS,
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


def child(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)`` (label values already strings): the child from the metric's own table when
    it exists (the object ``labels`` returns, without its validation and lock), else ``labels`` creates it."""
    table = getattr(metric, "_metrics", None)  # prometheus-client's own; absent: labels() every time
    found = table.get(labels) if table is not None else None
    return found if found is not None else metric.labels(*labels)


def observe_stats(stats: Any) -> None:
    """Record an ``engine.ScoreStats`` (groups, rollouts, malformed calls, warnings, stage seconds)."""
    GROUPS_SCORED.inc(getattr(stats, "groups", 0) or 0)
    ROLLOUTS_SCORED.inc(getattr(stats, "rollouts", 0) or 0)
    MALFORMED_CALLS.inc(getattr(stats, "malformed_calls", 0) or 0)
    for code, count in (getattr(stats, "warnings", None) or {}).items():
        child(WARNINGS, code if code in WARNING_CODES else "other").inc(count)
    for stage, seconds in (getattr(stats, "stage_seconds", None) or {}).items():
        child(STAGE_DURATION, stage).observe(max(0.0, float(seconds)))
    rollouts = getattr(stats, "rollout_stats", None)
    if rollouts:
        observe_rewards(preset_label(getattr(stats, "preset", None)), rollouts)


def preset_label(preset: str | None) -> str:
    """A known preset's name; :data:`CUSTOM_PRESET` for anything else (overrides: ``None``)."""
    return preset if preset in _PRESETS else CUSTOM_PRESET


def observe_many(histogram: Any, amounts: Sequence[float] | np.ndarray) -> None:
    """``histogram.observe(a)`` for every ``a`` of ``amounts`` (a labelled child), in one pass: the bucket
    counts are computed together (a value goes to the first bucket whose upper bound is >= it, as
    ``observe`` does; NaN to none) and each bucket and the sum are incremented once, not once per value."""
    if len(amounts) == 0:
        return
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None:  # not prometheus_client's layout: one by one
        for a in amounts:
            histogram.observe(a)
        return
    values = np.asarray(amounts, dtype=np.float64)
    edges = _EDGES.get(id(bounds))
    if edges is None or edges[0] is not bounds:
        edges = _EDGES[id(bounds)] = (bounds, np.asarray(bounds, dtype=np.float64))
    counts = np.bincount(edges[1].searchsorted(values, side="left"), minlength=len(bounds) + 1)
    for i, count in enumerate(counts[: len(bounds)].tolist()):
        if count:
            buckets[i].inc(count)
    total.inc(float(values.sum()))


#: the upper bounds of the histograms seen by :func:`observe_many` as arrays, by ``id`` of their list (kept
#: with the list itself, so a reused id is noticed)
_EDGES: dict[int, tuple[list[float], np.ndarray]] = {}


def reward_inputs(rollouts: Any) -> tuple[list[float], list[float], list[int]]:
    """What :func:`observe_rewards` records of some ``RolloutStats``: every return, the call precision of
    each rollout with calls, and the totals of predicted, matched, exact, malformed, gold and covered
    calls (``core.summary.RolloutColumns``, the compiled path's columns, give the same values)."""
    if isinstance(rollouts, RolloutColumns):
        return rollouts.metric_inputs()
    with_calls = [r for r in rollouts if r.calls]
    counted = [c for c in map(_COUNTS, rollouts) if c is not None]
    totals = [
        sum(map(_CALLS, with_calls)),
        *(sum(map(get, counted)) for get in (_MATCHED, _EXACT)),
        sum(map(_MALFORMED, rollouts)),
        *(sum(map(get, counted)) for get in (_GOLD, _COVERED)),
    ]
    return list(map(_RET, rollouts)), list(map(_PRECISION, with_calls)), totals


def observe_rewards(preset: str, rollouts: Any) -> None:
    """Record the tool-use counts and returns of scored rollouts (``core.summary.RolloutStats``): each
    bucket and counter is incremented once per request (:func:`reward_inputs`)."""
    returns, precisions, totals = reward_inputs(rollouts)
    predicted, matched, exact, malformed, gold, covered = totals
    observe_many(child(ROLLOUT_RETURN, preset), returns)
    observe_many(child(ROLLOUT_CALL_PRECISION, preset), precisions)
    for metric, kind, value in (
        (CALLS, "predicted", predicted),
        (CALLS, "matched", matched),
        (CALLS, "exact", exact),
        (CALLS, "redundant", predicted - matched),
        (CALLS, "malformed", malformed),
        (GOLD_CALLS, "total", gold),
        (GOLD_CALLS, "covered", covered),
    ):
        counter = child(metric, preset, kind)  # created (at 0) even when nothing is added
        if value:
            counter.inc(value)


_RET, _PRECISION, _COUNTS, _CALLS, _MALFORMED = map(
    attrgetter, ("ret", "precision", "counts", "calls", "malformed")
)
_MATCHED, _EXACT, _GOLD, _COVERED = map(attrgetter, ("matched", "exact", "gold_calls", "covered"))


def mark_process_dead(pid: int) -> None:
    """Drop a dead worker's live gauges (multiprocess mode only)."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
