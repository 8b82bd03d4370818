"""``metrics.observe_many`` (one increment per bucket for a request's rollouts) leaves a histogram exactly
as ``observe`` called once per value does: same bucket counts (values on a bound included), same count,
the same sum up to rounding, NaN in no bucket; and ``observe_rewards`` records through it."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Histogram
from turnscore import metrics
from turnscore.core.summary import CallCounts, RolloutStats

BUCKETS = (-1.0, 0.0, 0.25, 0.5, 1.0, 2.0)


def _samples(registry: CollectorRegistry, name: str) -> dict[tuple[str, str], float]:
    return {
        (s.name, s.labels.get("le", "")): s.value
        for m in registry.collect()
        for s in m.samples
        if s.name.startswith(name) and not s.name.endswith("_created")
    }


@pytest.mark.parametrize(
    "values",
    [
        [],
        [0.5],
        [-3.0, -1.0, 0.0, 0.25, 0.5, 1.0, 2.0, 2.5, 1e9, 0.1, 0.7, -0.5, 0.5, 0.5],
        [float(i) / 7 - 1.5 for i in range(300)],
        [0.3, float("nan"), 1.5],
    ],
)
def test_observe_many_equals_observe_one_by_one(values: list[float]) -> None:
    one, many = CollectorRegistry(), CollectorRegistry()
    h1 = Histogram("h", "h", ["p"], buckets=BUCKETS, registry=one).labels("x")
    h2 = Histogram("h", "h", ["p"], buckets=BUCKETS, registry=many).labels("x")
    for v in values:
        h1.observe(v)
    metrics.observe_many(h2, values)
    a, b = _samples(one, "h"), _samples(many, "h")
    assert a.keys() == b.keys()
    for key, value in a.items():
        if key[0] == "h_sum":
            assert (math.isnan(value) and math.isnan(b[key])) or b[key] == pytest.approx(value, rel=1e-12)
        else:
            assert b[key] == value, key


def test_observe_many_falls_back_to_observe() -> None:
    seen: list[float] = []

    class Plain:
        def observe(self, amount: float) -> None:
            seen.append(amount)

    metrics.observe_many(Plain(), [0.1, 0.2])
    assert seen == [0.1, 0.2]


def test_observe_rewards_counts_every_rollout() -> None:
    preset = "matchtir-km"
    counts = CallCounts(matched=2, exact=1, gold_calls=3, covered=2)
    rollouts = [
        RolloutStats(2, 1.0, 1.5, 0.0, 2, calls=4, malformed=1, counts=counts),
        RolloutStats(1, 0.0, -0.75, 0.0, 1, calls=0, malformed=2, counts=None),
        RolloutStats(3, 0.5, 0.25, 0.0, 3, calls=2, counts=counts),
    ]

    def value(name: str, **labels: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, {"preset": preset, **labels}) or 0.0

    before = {
        "ret": value("turnscore_rollout_return_count"),
        "ret_le0": value("turnscore_rollout_return_bucket", le="0.0"),
        "ret_le1": value("turnscore_rollout_return_bucket", le="1.0"),
        "prec": value("turnscore_rollout_call_precision_count"),
        "prec_half": value("turnscore_rollout_call_precision_bucket", le="0.5"),
        "predicted": value("turnscore_calls_total", kind="predicted"),
        "redundant": value("turnscore_calls_total", kind="redundant"),
        "malformed": value("turnscore_calls_total", kind="malformed"),
        "gold": value("turnscore_gold_calls_total", kind="total"),
    }
    metrics.observe_rewards(preset, rollouts)
    assert value("turnscore_rollout_return_count") - before["ret"] == 3
    # (no _sum: prometheus_client leaves it out of histograms with negative buckets)
    assert value("turnscore_rollout_return_bucket", le="0.0") - before["ret_le0"] == 1  # -0.75
    assert value("turnscore_rollout_return_bucket", le="1.0") - before["ret_le1"] == 2  # and 0.25
    assert value("turnscore_rollout_call_precision_count") - before["prec"] == 2  # rollouts with calls
    assert value("turnscore_rollout_call_precision_bucket", le="0.5") - before["prec_half"] == 1  # 2/4
    assert value("turnscore_calls_total", kind="predicted") - before["predicted"] == 6
    assert value("turnscore_calls_total", kind="redundant") - before["redundant"] == 2
    assert value("turnscore_calls_total", kind="malformed") - before["malformed"] == 3
    assert value("turnscore_gold_calls_total", kind="total") - before["gold"] == 6
