"""The ``summary`` of a ``/v1/score`` response recomputed by hand from what the response shows: the per-call
``matches`` of ``explain``, each rollout's row, and the calls of the reference it was scored against in the
request. Written independently of ``turnscore.core.summary`` (plain Python, ``statistics.pstdev``), so
a test comparing the two checks the service's definitions (docs/API.md, Summary) rather than restating them.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any


def gold_call_count(trace: dict[str, Any]) -> int:
    """Calls of an API.md gold trace (``calls`` or ``turns``; a gold-data record: its ``gold``)."""
    if isinstance(trace.get("gold"), dict):
        return gold_call_count(trace["gold"])
    if trace.get("calls") is not None:
        return len(trace["calls"])
    return sum(len(turn) for turn in trace.get("turns") or [])


def references(group: dict[str, Any]) -> list[dict[str, Any]]:
    return list(group["references"]) if group.get("references") is not None else [group["gold"]]


def _div(a: float, b: float) -> float:
    return a / b if b else 0.0


def expected_summary(
    rows: Sequence[dict[str, Any]], gold_calls: Sequence[int], answered: Sequence[bool]
) -> dict[str, Any]:
    """The summary of response rows (with ``matches``), given each row's reference call count and whether
    its rollout gave a final answer."""
    calls = sum(r["num_calls"] for r in rows)
    matched = exact = covered = 0
    for r in rows:
        hits = [m for m in r["matches"] if m["gold"] is not None and m["similarity"] > 0]
        matched += len(hits)
        exact += sum(1 for m in hits if m["similarity"] == 1.0)
        covered += len({m["gold"] for m in hits})
    total_gold = sum(gold_calls)
    precision, recall = _div(matched, calls), _div(covered, total_gold)
    advantages = [abs(a) for r in rows for a in r["advantages"]]
    returns = [r["return"] for r in rows]
    return {
        "rollouts": len(rows),
        "turns_mean": _div(sum(r["num_turns"] for r in rows), len(rows)),
        "calls": calls,
        "malformed_calls": sum(r["malformed_calls"] for r in rows),
        "gold_calls": total_gold,
        "matched_calls": matched,
        "exact_calls": exact,
        "redundant_calls": calls - matched,
        "covered_gold": covered,
        "missed_gold": total_gold - covered,
        "call_precision": precision,
        "call_recall": recall,
        "call_f1": _div(2 * precision * recall, precision + recall),
        "redundant_ratio": _div(calls - matched, calls),
        "answer_rate": _div(sum(answered), len(rows)),
        "outcome_mean": _div(sum(r["outcome_reward"] for r in rows), len(rows)),
        "return_mean": statistics.fmean(returns) if returns else 0.0,
        "return_std": statistics.pstdev(returns) if returns else 0.0,
        "advantage_abs_mean": _div(sum(advantages), len(advantages)),
    }


def check_summaries(request: dict[str, Any], body: dict[str, Any], answered: list[list[bool]]) -> None:
    """Every group's ``summary`` and the request's equal :func:`expected_summary` of their rows (``body``
    answered with ``explain``); ``answered[g][i]``: rollout i of group g has a final answer."""
    import pytest

    every: tuple[list[dict[str, Any]], list[int], list[bool]] = ([], [], [])
    for gi, (group, result) in enumerate(zip(request["groups"], body["groups"], strict=True)):
        refs = [gold_call_count(t) for t in references(group)]
        rows = result["rollouts"]
        golds = [refs[r["reference"]] for r in rows]
        expected = expected_summary(rows, golds, answered[gi])
        assert result["summary"] == pytest.approx(expected, rel=1e-9, abs=1e-12), f"groups[{gi}]"
        every[0].extend(rows)
        every[1].extend(golds)
        every[2].extend(answered[gi])
    assert body["summary"] == pytest.approx(expected_summary(*every), rel=1e-9, abs=1e-12)


def check_matrices(body: dict[str, Any], ot: bool) -> int:
    """Each rollout's ``matrix`` (``explain: "matrix"``) is m x n and agrees with its ``matches``: same
    predicted calls, the similarity at each assigned cell, for OT the assigned gold call as the argmax of the
    plan's row. Returns the number of cells seen."""
    import pytest

    cells = 0
    for result in body["groups"]:
        for r in result["rollouts"]:
            matrix = r["matrix"]
            m, n = len(matrix["predicted"]), len(matrix["gold"])
            assert m == r["num_calls"]
            assert len(matrix["similarity"]) == m and all(len(row) == n for row in matrix["similarity"])
            assert ("plan" in matrix) == ot
            if ot:
                assert len(matrix["plan"]) == m and all(len(row) == n for row in matrix["plan"])
            cells += m * n
            for k, match in enumerate(r["matches"]):
                assert {key: match[key] for key in ("turn", "call", "name")} == matrix["predicted"][k]
                j = match["gold"]
                if j is None:
                    assert match["similarity"] == 0.0
                    continue
                assert matrix["similarity"][k][j] == match["similarity"]
                if ot and n:
                    row = matrix["plan"][k]
                    assert row[j] == pytest.approx(max(row), rel=1e-12)
                else:
                    assert match["similarity"] > 0
    return cells


def answered_flags(request: dict[str, Any]) -> list[list[bool]]:
    """Per group, per rollout: whether the core's parser finds a final answer (under the request's format)."""
    from turnscore.core.config import resolve
    from turnscore.core.limits import DEFAULT_LIMITS
    from turnscore.core.parse import parse_rollout
    from turnscore.core.rewards import final_answer

    fmt = resolve(request.get("preset"), request.get("config")).format
    limits = DEFAULT_LIMITS.rollout()
    return [
        [final_answer(parse_rollout(r, fmt, limits, "")) is not None for r in group["rollouts"]]
        for group in request["groups"]
    ]
