"""The reward metrics of ``/metrics`` (issue 15) scraped from a real served process: the call counters and
the return / call-precision histograms by preset add up exactly what the responses' ``summary`` and rows
say, and the ``preset`` label takes only known preset names or ``custom``."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from turnscore.core.config import preset_names

from tests.support.gold import gold_records
from tests.support.probes import Samples
from tests.support.serve import ServeProcess, ServiceFactory
from tests.support.workloads import real_requests

COUNTS = {  # (metric, kind) -> summary field
    ("turnscore_calls_total", "predicted"): "calls",
    ("turnscore_calls_total", "matched"): "matched_calls",
    ("turnscore_calls_total", "exact"): "exact_calls",
    ("turnscore_calls_total", "redundant"): "redundant_calls",
    ("turnscore_calls_total", "malformed"): "malformed_calls",
    ("turnscore_gold_calls_total", "total"): "gold_calls",
    ("turnscore_gold_calls_total", "covered"): "covered_gold",
}


def _delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return after.value(name, **labels) - before.value(name, **labels)


def _score(svc: ServeProcess, req: dict[str, Any]) -> dict[str, Any]:
    r = svc.post("/v1/score", json={**req, "explain": True})
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_reward_metrics_add_up_the_responses(service_factory: ServiceFactory) -> None:
    svc = service_factory(name="rewards")
    records = gold_records(per_source=3)
    sent: list[tuple[str, dict[str, Any]]] = []
    for i, preset in enumerate(("matchtir-km", "matchtir-ot", "toolrl")):
        sent += [(preset, req) for req in real_requests(records, 2, seed=40 + i, preset=preset)]
    (custom,) = real_requests(records, 1, seed=50, preset="matchtir-km")
    sent.append(("custom", {**custom, "config": {"gamma": 0.9}}))
    (default,) = real_requests(records, 1, seed=51)
    sent.append(("matchtir-km", default))  # no preset named: the default's name

    before = svc.metrics()
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    returns: dict[str, list[float]] = defaultdict(list)
    for label, req in sent:
        body = _score(svc, req)
        t = totals[label]
        for field in COUNTS.values():
            t[field] += body["summary"][field]
        rows = [r for g in body["groups"] for r in g["rollouts"]]
        t["rollouts"] += len(rows)
        returns[label] += [r["return"] for r in rows]
        with_calls = [r for r in rows if r["num_calls"]]
        t["with_calls"] += len(with_calls)
        t["precision_sum"] += sum(
            sum(1 for m in r["matches"] if m["gold"] is not None and m["similarity"] > 0) / r["num_calls"]
            for r in with_calls
        )
    bad = svc.post("/v1/score", json={**custom, "preset": "no-such-preset"})
    assert bad.status_code == 422
    after = svc.metrics()

    assert totals["matchtir-km"]["matched_calls"] > 0 and totals["custom"]["calls"] > 0
    for label, t in totals.items():
        for (name, kind), field in COUNTS.items():
            assert _delta(before, after, name, preset=label, kind=kind) == t[field], (label, name, kind)
        assert _delta(before, after, "turnscore_rollout_return_count", preset=label) == t["rollouts"]
        # returns can be negative: the client library then exposes no _sum, the buckets say it all
        for labels, _ in after.data["turnscore_rollout_return_bucket"]:
            if labels["preset"] == label:
                le = float(labels["le"])
                below = sum(1 for x in returns[label] if x <= le)
                assert _delta(before, after, "turnscore_rollout_return_bucket", **labels) == below, labels
        count = _delta(before, after, "turnscore_rollout_call_precision_count", preset=label)
        assert count == t["with_calls"], label
        precision_sum = _delta(before, after, "turnscore_rollout_call_precision_sum", preset=label)
        assert precision_sum == pytest.approx(t["precision_sum"])
    assert totals["toolrl"]["matched_calls"] == 0  # no assignment: every call redundant

    known = set(preset_names()) | {"custom"}
    for name in (
        "turnscore_calls_total",
        "turnscore_gold_calls_total",
        "turnscore_rollout_return_bucket",
        "turnscore_rollout_call_precision_bucket",
    ):
        labels = {labels["preset"] for labels, _ in after.data[name]}
        assert labels <= known and "no-such-preset" not in labels, name
