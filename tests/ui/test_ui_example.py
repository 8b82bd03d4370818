"""The page's built-in example (``/ui?example=1``, service/turnscore/http/ui/example.json): real gold traces,
and a rollout on which the Hungarian matching (``matchtir-km``) and the reference code's greedy one
(``matchtir-reference-km``) differ, with the optimal one worth more."""

from __future__ import annotations

from typing import Any

from turnscore.core import engine

from tests.support.gold import gold_records
from tests.ui.conftest import example


def test_gold_traces_are_real_records() -> None:
    records = {r["id"]: r for r in gold_records(sample=True)}
    doc = example()
    assert len(doc["groups"]) >= 2
    for group in doc["groups"]:
        # the record as the sample holds it, less the trainer-prompt fields the page never shows
        record = {k: v for k, v in records[group["id"]].items() if k not in ("question", "tools")}
        assert group["gold"] == record, group["id"]


def _assigned(body: dict[str, Any], g: int, r: int) -> tuple[list[tuple[int, int]], float]:
    """The (predicted, gold) pairs the matches of rollout ``r`` of group ``g`` assign, and their total S."""
    rollout = body["groups"][g]["rollouts"][r]
    pairs = []
    total = 0.0
    for i, m in enumerate(rollout["matches"]):
        if m["gold"] is not None:
            pairs.append((i, m["gold"]))
            total += m["similarity"]
    return pairs, total


def test_greedy_and_optimal_matching_differ_on_rollout_1() -> None:
    doc = example()
    km = engine.score({**doc, "preset": "matchtir-km", "explain": "matrix"}).body
    greedy = engine.score({**doc, "preset": "matchtir-reference-km", "explain": "matrix"}).body
    optimal_pairs, optimal_total = _assigned(km, 0, 1)
    greedy_pairs, greedy_total = _assigned(greedy, 0, 1)
    assert optimal_pairs != greedy_pairs
    assert optimal_total > greedy_total + 0.2
    # the same similarity matrix: only the assignment differs
    assert (
        km["groups"][0]["rollouts"][1]["matrix"]["similarity"]
        == greedy["groups"][0]["rollouts"][1]["matrix"]["similarity"]
    )
    # and the example exercises a malformed call and a text rollout
    assert km["summary"]["malformed_calls"] >= 1
