"""The lean path serves ``ot`` (native/src/score/matcher.rs ``Ot`` with sinkhorn.rs ``solve_scratch``, the
solver of ``ot_solve``): for the OT presets and OT config overrides, the whole response body and
``ScoreStats`` are identical to the native core with the lean path off and (to 1e-12) the Python core:

- OT overrides (costs, ``row_normalize``, gold share, trajectory, a small ``ot_max_iter``) on the gold traces
  in each rollout form and mixed, several references per group, the hand-written parse corners;
- a spy on ``score_lean``: it answered for each of them; ``explain`` (the plans' matches in the body) never
  reaches it and its body is the per-stage path's; a plan that is not finite hands the request back
  (``None``);
- errors, a past deadline, a deadline that passes during the iterations (raised from inside the call) and
  both cell budgets (``max_ot_cells`` first) as the per-stage path raises them.

The OT presets in every form are in test_lean_parity.py (its eligible presets).
"""

from __future__ import annotations

import copy
import dataclasses
import time
from typing import Any

import pytest
from turnscore import workload
from turnscore.core import engine, lean, native
from turnscore.core.errors import DeadlineExceeded
from turnscore.core.limits import DEFAULT_LIMITS

from tests.native import test_lean_parity as base
from tests.native.test_lean_parity import MIXED, _broken, _errors, assert_same, build, crafted, three
from tests.native.test_score_parity import OVERRIDES, _request

lean_runs = base.lean_runs  # the spy fixture

OT_PRESETS = ["matchtir-ot", "matchtir-reference-ot"]
OT_CONFIGS: list[dict[str, Any]] = [
    *(c for c in OVERRIDES if c.get("assignment") == "ot"),
    {"assignment": "ot", "cost": "normalized", "reg": 0.05},
    {"assignment": "ot", "cost": "linear", "ot_max_iter": 7, "ot_stop_thr": 1e-300},
]


def _ids(c: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in c.items())


@pytest.mark.parametrize("form", [*workload.FORMS, MIXED])
@pytest.mark.parametrize("config", OT_CONFIGS, ids=_ids)
def test_ot_overrides_match(config: dict[str, Any], form: str, lean_runs: list[bool]) -> None:
    results = three({**build(form), "preset": "matchtir-km", "config": config}, lean_runs)
    assert lean_runs == [True]
    assert_same(results)
    assert results[0].body["summary"]["matched_calls"] > 0


@pytest.mark.parametrize("config", OT_CONFIGS, ids=_ids)
def test_several_references_match(config: dict[str, Any], lean_runs: list[bool]) -> None:
    results = three({**_request(18), "explain": False, "preset": "matchtir-km", "config": config}, lean_runs)
    assert lean_runs == [True]
    assert_same(results)
    references = {r["reference"] for g in results[0].body["groups"] for r in g["rollouts"]}
    assert len(references) > 1  # the choice between references is exercised


@pytest.mark.parametrize("preset", OT_PRESETS)
def test_crafted_rollouts_match(preset: str, lean_runs: list[bool]) -> None:
    limits = dataclasses.replace(DEFAULT_LIMITS, max_calls_per_rollout=6)
    results = three({**crafted(), "preset": preset}, lean_runs, limits)
    assert lean_runs == [True]
    assert_same(results)


@pytest.mark.parametrize("explain", [True, "matrix"])
@pytest.mark.parametrize("preset", OT_PRESETS)
def test_explain_takes_the_per_stage_path(preset: str, explain: Any, lean_runs: list[bool]) -> None:
    results = three({**build("text"), "preset": preset, "explain": explain}, lean_runs)
    assert lean_runs == []
    assert_same(results)
    rows = [r for g in results[0].body["groups"] for r in g["rollouts"]]
    assert any(r.get("matches") for r in rows)  # the plan's matches (and the matrix) are shown


def test_a_plan_not_finite_hands_the_request_back(lean_runs: list[bool]) -> None:
    """``neg`` cost with a tiny ``reg``: exp(S / reg) overflows, the plan is not finite; the lean call
    answers ``None`` and the per-stage path (its Python fallback for that problem) scores the request."""
    config = {"assignment": "ot", "cost": "neg", "reg": 1e-4}
    results = three({**crafted(), "preset": "matchtir-km", "config": config}, lean_runs)
    assert lean_runs == [False]
    assert_same(results)


@pytest.mark.parametrize("kind", ["unknown_key", "two_forms", "too_many_turns", "bad_group", "unknown_ref"])
def test_errors_are_the_same(kind: str, lean_runs: list[bool]) -> None:
    got, off, ref = _errors({**_broken(kind), "preset": "matchtir-ot"})
    assert got == off == ref


def test_past_deadline_raises(lean_runs: list[bool]) -> None:
    native.select("native")
    with pytest.raises(DeadlineExceeded):
        engine.score({**build("text"), "preset": "matchtir-ot"}, deadline=time.monotonic() - 1)


def _args(i: int, k: int) -> dict[str, int]:
    """Arguments whose keys and values overlap unevenly between calls (a dense, irregular S)."""
    return {f"a{j}": (i * j) % k for j in range(i % 6 + 1)}


def test_deadline_in_the_iterations_raises(monkeypatch: pytest.MonkeyPatch, lean_runs: list[bool]) -> None:
    """One rollout of 200 calls against 200 gold calls of the same name, iterations that do not stop
    (``ot_stop_thr`` 1e-300: 10,000 of them, about half a second), a deadline 0.1 s away: the checks
    before the group and the one chunk of rollouts pass, the iterations see it, and the call itself
    raises ``DeadlineExceeded``."""
    ext = native.module()
    real = ext.score_lean
    raised: list[BaseException] = []

    def spy(*args: Any) -> Any:
        try:
            return real(*args)
        except BaseException as e:
            raised.append(e)
            raise

    monkeypatch.setattr(ext, "score_lean", spy)
    calls = [{"name": "f", "arguments": _args(i, 3)} for i in range(200)]
    gold = [{"name": "f", "arguments": _args(7 * i + 1, 2)} for i in range(200)]
    group = {"gold": {"turns": [gold], "answer": "a"}, "rollouts": [{"turns": [{"calls": calls}]}]}
    config = {"assignment": "ot", "cost": "linear", "ot_max_iter": 10_000, "ot_stop_thr": 1e-300}
    request = {"groups": [group], "preset": "matchtir-km", "config": config}
    native.select("native")
    lean.LEAN = True
    t0 = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        engine.score(copy.deepcopy(request), deadline=t0 + 0.1)
    assert len(raised) == 1 and isinstance(raised[0], DeadlineExceeded)
    assert time.monotonic() - t0 < 0.5  # stopped in the iterations, not after them


@pytest.mark.parametrize(
    ("limit", "cells"), [("max_ot_cells", {"max_ot_cells": 3}), ("max_match_cells", {"max_match_cells": 3})]
)
def test_cell_budget_errors_match(limit: str, cells: dict[str, int], lean_runs: list[bool]) -> None:
    """``max_ot_cells`` is checked first; either error is the per-stage path's (the call answers the
    count)."""
    limits = dataclasses.replace(DEFAULT_LIMITS, **cells)
    errors = _errors({**crafted(), "preset": "matchtir-ot"}, limits)
    assert lean_runs == [True]
    assert errors[0] == errors[1] == errors[2] and limit in errors[0][1]
