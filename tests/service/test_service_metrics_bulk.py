"""``metrics.observe_stats`` (children looked up in the metrics' own tables, histograms filled a request at
a time) leaves every exported series as one ``labels(...).observe()`` / ``.inc()`` per value does: the same
series (created even when nothing is added to them) and the same values, for real scored requests on both
cores (``RolloutStats`` objects from the Python core, ``RolloutColumns`` from the compiled one)."""

from __future__ import annotations

from typing import Any

import pytest
from turnscore import metrics
from turnscore.core import engine, native
from turnscore.core.diagnostics import CODES as WARNING_CODES
from turnscore.core.summary import RolloutStats

from tests.native.test_engine_parity import build
from tests.support.gold import gold_records

Key = tuple[str, tuple[tuple[str, str], ...]]


def _snapshot() -> dict[Key, float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for m in metrics.REGISTRY.collect()
        if m.name.startswith("turnscore_")
        for s in m.samples
        if not s.name.endswith("_created")
    }


def _delta(fn: Any) -> dict[Key, float]:
    before = _snapshot()
    fn()
    after = _snapshot()
    assert before.keys() <= after.keys()
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


def _one_by_one(stats: Any) -> None:
    """What the service recorded before: ``labels()`` and one ``observe``/``inc`` per value."""
    metrics.GROUPS_SCORED.inc(stats.groups)
    metrics.ROLLOUTS_SCORED.inc(stats.rollouts)
    metrics.MALFORMED_CALLS.inc(stats.malformed_calls)
    for code, count in stats.warnings.items():
        metrics.WARNINGS.labels(code if code in WARNING_CODES else "other").inc(count)
    for stage, seconds in stats.stage_seconds.items():
        metrics.STAGE_DURATION.labels(stage).observe(max(0.0, float(seconds)))
    preset = metrics.preset_label(stats.preset)
    totals = dict.fromkeys(("predicted", "matched", "exact", "malformed", "total", "covered"), 0)
    for r in stats.rollout_stats:
        metrics.ROLLOUT_RETURN.labels(preset).observe(r.ret)
        totals["malformed"] += r.malformed
        if r.calls:
            metrics.ROLLOUT_CALL_PRECISION.labels(preset).observe(r.precision)
            totals["predicted"] += r.calls
        if r.counts is not None:
            totals["matched"] += r.counts.matched
            totals["exact"] += r.counts.exact
            totals["total"] += r.counts.gold_calls
            totals["covered"] += r.counts.covered
    for kind in ("predicted", "matched", "exact", "malformed"):
        metrics.CALLS.labels(preset, kind).inc(totals[kind])
    metrics.CALLS.labels(preset, "redundant").inc(totals["predicted"] - totals["matched"])
    for kind in ("total", "covered"):
        metrics.GOLD_CALLS.labels(preset, kind).inc(totals[kind])


def _stats(core: str, preset: str, form: str) -> Any:
    before = native.active()
    native.select(core)
    try:
        request = build(gold_records()[:24], form)
        return engine.score({**request, "preset": preset}).stats
    finally:
        native.select(before)


@pytest.mark.parametrize("core", ["python", "native"])
@pytest.mark.parametrize(("preset", "form"), [("matchtir-km", "text"), ("matchtir-ot", "messages")])
def test_bulk_observations_read_as_one_by_one(core: str, preset: str, form: str) -> None:
    if core == "native" and not native.available():
        pytest.skip("turnscore_native is not installed")
    stats = _stats(core, preset, form)
    assert stats.rollouts > 80 and stats.malformed_calls > 0 and stats.warnings
    if core == "native":
        assert type(stats.rollout_stats).__name__ == "RolloutColumns"
    for _ in range(2):
        bulk = _delta(lambda: metrics.observe_stats(stats))
        reference = _delta(lambda: _one_by_one(stats))
        assert bulk.keys() == reference.keys()
        for key, value in reference.items():
            if key[0].endswith("_sum"):
                assert bulk[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
            else:
                assert bulk[key] == value, key
        assert any(k[0] == "turnscore_rollout_return_bucket" for k in bulk)


def test_series_are_created_at_zero() -> None:
    stats = _stats("python", "matchtir-reference-km", "turns")
    stats.preset = None  # the custom label
    stats.rollout_stats = [RolloutStats(1, 0.0, 0.0, 0.0, 1)]  # no calls: every count adds 0
    metrics.observe_stats(stats)
    after = _snapshot()
    for kind in ("predicted", "matched", "exact", "redundant", "malformed"):
        assert (
            "turnscore_calls_total",
            (("kind", kind), ("preset", metrics.CUSTOM_PRESET)),
        ) in after
    for kind in ("total", "covered"):
        assert ("turnscore_gold_calls_total", (("kind", kind), ("preset", metrics.CUSTOM_PRESET))) in after


def test_child_is_the_labels_child() -> None:
    a = metrics.child(metrics.CALLS, "matchtir-km", "exact")
    assert a is metrics.CALLS.labels("matchtir-km", "exact")
    assert metrics.child(metrics.STAGE_DURATION, "parse") is metrics.STAGE_DURATION.labels("parse")
