"""The ``summary`` of every ``/v1/score`` / ``/v1/advantages`` response and ``explain: "matrix"`` (issue 15),
in process: agreement with the per-call ``matches`` on the real gold traces under several presets,
hand-computed cases, zero denominators, duplicates, and the matrix's shape, values and limits."""

from __future__ import annotations

import dataclasses
import statistics
from typing import Any

import pytest
from turnscore.core import engine
from turnscore.core.errors import InvalidRequest, LimitExceeded
from turnscore.core.summary import ADVANTAGE_FIELDS, SCORE_FIELDS
from turnscore_client._chunks import merge_summaries

from tests.support.gold import gold_records
from tests.support.summaries import answered_flags, check_matrices, check_summaries
from tests.support.workloads import real_requests

PRESETS = ("matchtir-km", "matchtir-reference-km", "matchtir-ot", "turnscore-v1", "toolrl")


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return gold_records(per_source=6)


@pytest.mark.parametrize("preset", PRESETS)
def test_summary_agrees_with_matches_on_real_traces(records: list[dict[str, Any]], preset: str) -> None:
    for req in real_requests(records, 3, seed=11, preset=preset):
        body = engine.score({**req, "explain": True}).body
        check_summaries(req, body, answered_flags(req))
        assert list(body["summary"]) == list(SCORE_FIELDS)
        assert engine.score(req).body["summary"] == body["summary"]  # explain changes nothing
        if preset != "toolrl":
            assert body["summary"]["matched_calls"] > 0  # the check above compared something


@pytest.mark.parametrize("preset", ["matchtir-km", "matchtir-ot", "toolrl", "grpo-outcome"])
def test_matrix_agrees_with_matches_on_real_traces(records: list[dict[str, Any]], preset: str) -> None:
    (req,) = real_requests(records, 1, seed=5, preset=preset)
    with_matrix = engine.score({**req, "explain": "matrix"}).body
    ot = preset == "matchtir-ot"
    if preset in ("toolrl", "grpo-outcome"):  # no assignment: matches are empty, the matrix is still S
        assert all(r["matches"] == [] for g in with_matrix["groups"] for r in g["rollouts"])
    assert check_matrices(with_matrix, ot) > 0
    plain = engine.score({**req, "explain": True}).body
    for g in with_matrix["groups"]:
        for r in g["rollouts"]:
            del r["matrix"]
    assert with_matrix == plain


def _call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


GOLD = {
    "calls": [_call("get_weather", city="Oslo", date="today"), _call("get_time", city="Oslo")],
    "answer": "cold",
}
EXACT = _call("get_weather", city="Oslo", date="today")
NEAR = _call("get_weather", city="Oslo", date="tomorrow")  # S = (1 + 1 + 1) / (2 + 2) = 0.75
A = {"turns": [{"tool_calls": [EXACT, NEAR]}, {"answer": "cold"}]}
B = {
    "text": '<tool_call>\n{"name": "get_time", "arguments": {"city": "Bergen"}}\n</tool_call>\n'
    "<tool_call>{not json}</tool_call>"
}
D = {"turns": [{"answer": "warm"}]}


def test_hand_computed_counts() -> None:
    """A: an exact call and a near one the one get_weather gold call cannot take too (Hungarian), answer;
    B: get_time with a wrong value (S 2/3) and a malformed block, no answer; A again; D: an answer only."""
    req = {"explain": True, "groups": [{"gold": GOLD, "rollouts": [A, B, A, D]}]}
    body = engine.score(req).body
    rows = body["groups"][0]["rollouts"]
    expected_counts = {
        "rollouts": 4,
        "turns_mean": 1.5,
        "calls": 5,
        "malformed_calls": 1,
        "gold_calls": 8,
        "matched_calls": 3,
        "exact_calls": 2,
        "redundant_calls": 2,
        "covered_gold": 3,
        "missed_gold": 5,
        "call_precision": 3 / 5,
        "call_recall": 3 / 8,
        "call_f1": 2 * (3 / 5) * (3 / 8) / (3 / 5 + 3 / 8),
        "redundant_ratio": 2 / 5,
        "answer_rate": 3 / 4,
    }
    returns = [r["return"] for r in rows]
    advantages = [abs(a) for r in rows for a in r["advantages"]]
    expected = {
        **expected_counts,
        "outcome_mean": 2 / 4,  # A twice answers "cold"
        "return_mean": statistics.fmean(returns),
        "return_std": statistics.pstdev(returns),
        "advantage_abs_mean": sum(advantages) / len(advantages),
    }
    for summary in (body["summary"], body["groups"][0]["summary"]):
        assert summary == pytest.approx(expected, rel=1e-12)
        assert list(summary) == list(SCORE_FIELDS)
    assert [m["similarity"] for m in rows[1]["matches"]] == [pytest.approx(2 / 3)]
    check_summaries(req, body, [[True, False, True, True]])


def test_groups_and_request_summaries() -> None:
    """Each group counts its own rollouts; the request's summary all of them (not a mean of the groups')."""
    req = {
        "explain": True,
        "groups": [{"gold": GOLD, "rollouts": [A, B, D]}, {"gold": GOLD, "rollouts": [A]}],
    }
    body = engine.score(req).body
    first, second = (g["summary"] for g in body["groups"])
    assert (first["rollouts"], second["rollouts"], body["summary"]["rollouts"]) == (3, 1, 4)
    assert second["return_std"] == 0.0 and second["call_precision"] == 0.5
    check_summaries(req, body, [[True, False, True], [True]])


def test_zero_denominators() -> None:
    """No calls, no gold calls, no rollouts, no groups: every ratio 0, never an error or NaN."""
    req = {
        "groups": [
            {"gold": {"answer": "x"}, "rollouts": [{"turns": [{"answer": "x"}]}, {"text": "no answer"}]},
            {"gold": {"answer": "x"}, "rollouts": []},
        ]
    }
    body = engine.score(req).body
    summary = body["groups"][0]["summary"]
    for key in ("calls", "gold_calls", "matched_calls", "call_precision", "call_recall", "call_f1"):
        assert summary[key] == 0, key
    assert summary["redundant_ratio"] == 0 and summary["answer_rate"] == 0.5
    empty = body["groups"][1]["summary"]
    assert empty == {k: 0 for k in SCORE_FIELDS}
    assert engine.score({"groups": []}).body["summary"] == {k: 0 for k in SCORE_FIELDS}
    assert engine.advantages({"groups": []}).body["summary"] == {k: 0 for k in ADVANTAGE_FIELDS}


def test_toolrl_and_outcome_presets_match_nothing() -> None:
    """Without an assignment (ToolRL, assignment none) no call is matched: every call counts as redundant."""
    for preset in ("toolrl", "grpo-outcome"):
        summary = engine.score({"preset": preset, "groups": [{"gold": GOLD, "rollouts": [A, B]}]}).body[
            "summary"
        ]
        assert summary["calls"] == 3
        assert (summary["matched_calls"], summary["covered_gold"], summary["call_precision"]) == (0, 0, 0.0)
        assert summary["redundant_calls"] == summary["calls"] and summary["missed_gold"] == 4


def test_references_use_the_chosen_reference() -> None:
    """gold_calls counts the reference each rollout was scored against, not the first one."""
    short = {"calls": [NEAR], "answer": "cold"}  # NEAR: S 1 here, 0.75 against GOLD
    req = {
        "explain": True,
        "groups": [{"references": [GOLD, short], "rollouts": [{"turns": [{"tool_calls": [NEAR]}]}]}],
    }
    body = engine.score(req).body
    assert body["groups"][0]["rollouts"][0]["reference"] == 1
    assert body["summary"]["gold_calls"] == 1 and body["summary"]["call_recall"] == 1.0
    check_summaries(req, body, [[False]])


def test_advantages_summary() -> None:
    req = {
        "groups": [
            {"rollouts": [{"turn_rewards": [1.0, 0.0], "outcome_reward": 1.0}, {"turn_rewards": [0.0]}]},
            {"rollouts": [{"turn_rewards": [0.5]}]},
        ]
    }
    body = engine.advantages(req).body
    for group, result in zip(req["groups"], body["groups"], strict=True):
        rows = result["rollouts"]
        summary = result["summary"]
        assert list(summary) == list(ADVANTAGE_FIELDS)
        returns = [r["return"] for r in rows]
        advantages = [abs(a) for r in rows for a in r["advantages"]]
        assert summary == pytest.approx(
            {
                "rollouts": len(group["rollouts"]),
                "turns_mean": statistics.fmean(len(r["turn_rewards"]) for r in group["rollouts"]),
                "outcome_mean": statistics.fmean(r.get("outcome_reward", 0.0) for r in group["rollouts"]),
                "return_mean": statistics.fmean(returns),
                "return_std": statistics.pstdev(returns),
                "advantage_abs_mean": sum(advantages) / len(advantages),
            }
        )
    assert body["summary"]["rollouts"] == 3 and body["summary"]["turns_mean"] == pytest.approx(4 / 3)


def test_client_merges_chunk_summaries(records: list[dict[str, Any]]) -> None:
    """The client's merge of chunk summaries (a request split into chunks) equals the one request's."""
    for preset in ("matchtir-km", "matchtir-ot"):
        (req,) = real_requests(records, 1, seed=3, preset=preset)
        whole = engine.score(req).body["summary"]
        parts = [engine.score({**req, "groups": [g]}).body["summary"] for g in req["groups"]]
        assert merge_summaries(parts) == pytest.approx(whole, rel=1e-9, abs=1e-12)
    adv = {"groups": [{"rollouts": [{"turn_rewards": [1.0, 0.2]}, {"turn_rewards": [0.0]}]}] * 3}
    whole = engine.advantages(adv).body["summary"]
    parts = [engine.advantages({"groups": [g]}).body["summary"] for g in adv["groups"]]
    assert merge_summaries(parts) == pytest.approx(whole)


def test_hand_computed_matrix() -> None:
    body = engine.score({"explain": "matrix", "groups": [{"gold": GOLD, "rollouts": [A, B]}]}).body
    a, b = body["groups"][0]["rollouts"]
    assert a["matrix"] == {
        "predicted": [
            {"turn": 0, "call": 0, "name": "get_weather"},
            {"turn": 0, "call": 1, "name": "get_weather"},
        ],
        "gold": [{"name": "get_weather"}, {"name": "get_time"}],
        "similarity": [[1.0, 0.0], [0.75, 0.0]],
    }
    assert b["matrix"]["similarity"] == [[0.0, pytest.approx(2 / 3)]]
    ot = engine.score(
        {"preset": "matchtir-ot", "explain": "matrix", "groups": [{"gold": GOLD, "rollouts": [A]}]}
    )
    plan = ot.body["groups"][0]["rollouts"][0]["matrix"]["plan"]
    assert len(plan) == 2 and all(len(row) == 2 for row in plan)
    check_matrices(ot.body, ot=True)


@pytest.mark.parametrize("value", ["Matrix", "full", 1, 0, [], {}])
def test_explain_values(value: Any) -> None:
    with pytest.raises(InvalidRequest) as info:
        engine.score({"explain": value, "groups": []})
    assert info.value.details["path"] == "explain"
    assert '"matrix"' in str(info.value)


def test_matrix_cells_are_limited_with_duplicates() -> None:
    """Duplicates are matched once, but each carries its matrix: the response's cells count."""
    limits = dataclasses.replace(engine.DEFAULT_LIMITS, max_match_cells=10)
    req = {"groups": [{"gold": GOLD, "rollouts": [A] * 3}]}  # one distinct 2 x 2 problem, three matrices
    engine.score({**req, "explain": True}, limits=limits)
    with pytest.raises(LimitExceeded) as info:
        engine.score({**req, "explain": "matrix"}, limits=limits)
    assert info.value.details["limit"] == "max_match_cells"
    engine.score({**req, "explain": "matrix"}, limits=dataclasses.replace(limits, max_match_cells=12))
