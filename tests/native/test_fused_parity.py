"""The one-call hard assignment (native/src/score/fused.rs ``match_score_hard``, reached through
``rewards._match_score_native``) gives what the Python reference and the per-stage compiled path give.

- whole ``engine.score`` bodies on the real gold traces (tests.support.gold) for ``matchtir-km``
  (Hungarian) and ``matchtir-reference-km`` (greedy), each rollout form, with ``explain`` off, on and
  ``"matrix"``, and under settings the presets do not combine (several references, gold share, malformed
  penalties, EM outcomes on answer turns, trajectory schemes); each time checking that the call answered;
- the ``max_match_cells`` budget: the same error (limit, maximum, path, count) as the Python core, raised
  before any matching, and the boundary (cells == maximum) scored;
- what it cannot key or read (a value that is not UTF-8) hands the whole request back to the per-stage
  path, with the Python core's body; a deadline already past raises ``DeadlineExceeded`` from it;
- OT without ``explain`` (``ot_layout``): ``ot_solve``'s buffer laid out byte for byte as the assignment
  views concatenate (pairs without predicted or gold calls included), and the same bodies.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import pytest
from turnscore import workload
from turnscore.core import engine, lean, native, rewards
from turnscore.core.errors import DeadlineExceeded, LimitExceeded
from turnscore.core.limits import DEFAULT_LIMITS
from turnscore.core.request import read_request

from tests.native.test_engine_parity import build, differences
from tests.native.test_score_parity import OVERRIDES, _request
from tests.support.gold import gold_records
from tests.support.native import answers, require_native

HARD = ("matchtir-km", "matchtir-reference-km")


@pytest.fixture(autouse=True)
def _without_lean(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lean path (core/lean.py; tests/native/test_lean_parity.py) off: it would bypass what these tests
    check (``match_score_hard``)."""
    monkeypatch.setattr(lean, "LEAN", False)


@pytest.fixture
def fused_runs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """One entry per call of ``rewards._match_score_native``: whether the one-call path answered."""
    require_native()
    ran = answers(monkeypatch, rewards, "_match_score_native")
    before = native.active()
    yield ran
    native.select(before)


def _three(request: dict[str, Any], runs: list[bool]) -> tuple[Any, Any, Any]:
    """The results of the Python core, the per-stage compiled path and the one-call path."""
    native.select("python")
    ref = engine.score(request)
    native.select("native")
    try:
        rewards.FUSED = False
        staged = engine.score(request)
    finally:
        rewards.FUSED = True
    runs.clear()
    got = engine.score(request)
    assert runs == [True]
    return ref, staged, got


def _same(ref: Any, got: Any) -> None:
    found = list(differences(ref.body, got.body, "body"))
    assert not found, f"{len(found)} differences, first: {found[:5]}"
    assert got.stats.malformed_calls == ref.stats.malformed_calls
    assert got.stats.warnings == ref.stats.warnings
    assert got.stats.rollout_warnings == ref.stats.rollout_warnings
    assert list(got.stats.rollout_stats) == list(ref.stats.rollout_stats)


@pytest.fixture(scope="module")
def traces() -> dict[str, dict[str, Any]]:
    """form -> a request of every sample gold record (perturbed rollouts, the gold calls, one malformed)."""
    records = gold_records(sample=True)
    return {form: build(records, form) for form in workload.FORMS}


@pytest.mark.parametrize("explain", [False, True, "matrix"])
@pytest.mark.parametrize("form", workload.FORMS)
@pytest.mark.parametrize("preset", HARD)
def test_real_traces_match_python(
    traces: dict[str, dict[str, Any]], preset: str, form: str, explain: Any, fused_runs: list[bool]
) -> None:
    request = {**traces[form], "preset": preset, "explain": explain}
    ref, staged, got = _three(request, fused_runs)
    _same(ref, got)
    _same(staged, got)
    rows = [r for g in got.body["groups"] for r in g["rollouts"]]
    assert sum(r["num_calls"] for r in rows) > 0 and got.stats.malformed_calls > 0
    assert all(("matches" in r) == bool(explain) for r in rows)
    assert all(("matrix" in r) == (explain == "matrix") for r in rows)


HARD_OVERRIDES = [c for c in OVERRIDES if c.get("assignment") != "ot"]


@pytest.mark.parametrize("explain", [True, False])
@pytest.mark.parametrize(
    "config", HARD_OVERRIDES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "km"
)
def test_settings_match_python(config: dict[str, Any], explain: bool, fused_runs: list[bool]) -> None:
    """Several references per group (the choice exercised), long traces (numpy's pairwise sums)."""
    request = {**_request(18), "preset": "matchtir-km", "config": config, "explain": explain}
    ref, staged, got = _three(request, fused_runs)
    _same(ref, got)
    _same(staged, got)
    assert len({r["reference"] for g in got.body["groups"] for r in g["rollouts"]}) > 1


def _cells(request: dict[str, Any]) -> int:
    """``rewards.check_budget``'s count for ``request`` (Python core)."""
    native.select("python")
    req = read_request(request, DEFAULT_LIMITS)
    _, unique, _ = engine._parse_groups(req, DEFAULT_LIMITS, {}, {}, None)
    for r in unique:
        rewards._collect_calls(r, req.config)
    return sum(r.num_calls * sum(len(g.calls) for g in r.golds) for r in unique)


@pytest.mark.parametrize("preset", HARD)
def test_budget_error_is_the_python_one(
    traces: dict[str, dict[str, Any]], preset: str, fused_runs: list[bool]
) -> None:
    request = {**traces["messages"], "preset": preset, "explain": False}
    cells = _cells(request)
    assert cells > 100
    tight = dataclasses.replace(DEFAULT_LIMITS, max_match_cells=cells - 1)
    errors = []
    for core in ("python", "native"):
        native.select(core)
        fused_runs.clear()
        with pytest.raises(LimitExceeded) as info:
            engine.score(request, limits=tight)
        errors.append((info.value.limit, info.value.message, info.value.details))
        assert fused_runs == ([False] if core == "python" else [])  # native: raised, no answer
    assert errors[0] == errors[1]
    assert errors[0][2]["actual"] == cells and errors[0][2]["limit"] == "max_match_cells"
    exact = dataclasses.replace(DEFAULT_LIMITS, max_match_cells=cells)
    native.select("python")
    ref = engine.score(request, limits=exact)
    native.select("native")
    fused_runs.clear()
    got = engine.score(request, limits=exact)
    assert fused_runs == [True]
    _same(ref, got)


def test_budget_is_checked_before_matching(monkeypatch: pytest.MonkeyPatch, fused_runs: list[bool]) -> None:
    """Over the budget, no deadline check (which precedes each chunk of matching) is ever made."""
    request = {**_request(3), "preset": "matchtir-km"}
    checks: list[float | None] = []
    real = rewards.check_deadline
    monkeypatch.setattr(rewards, "check_deadline", lambda d: checks.append(d) or real(d))
    native.select("native")
    limits = dataclasses.replace(DEFAULT_LIMITS, max_match_cells=1)
    with pytest.raises(LimitExceeded):
        engine.score(request, limits=limits, deadline=time.monotonic() + 60)
    assert checks == []
    engine.score(request, deadline=time.monotonic() + 60)
    assert fused_runs == [True] and len(checks) >= 2  # one per 32 distinct rollouts


def test_deadline_past_raises(fused_runs: list[bool]) -> None:
    request = {**_request(3), "preset": "matchtir-km"}
    native.select("native")
    req = read_request(request, DEFAULT_LIMITS)
    _, unique, _ = engine._parse_groups(req, DEFAULT_LIMITS, {}, {}, None)
    cfg = req.config
    with pytest.raises(DeadlineExceeded):
        rewards.score_rollouts(unique, cfg, cfg.penalty_at(0), 0, DEFAULT_LIMITS, time.monotonic() - 1, False)
    assert fused_runs == []  # raised from inside the call


@pytest.mark.parametrize("where", ["rollout", "gold"])
def test_unkeyable_values_fall_back(where: str, fused_runs: list[bool]) -> None:
    """A NaN argument value in a predicted (or gold) call: the extension cannot key it, the request is
    scored by the per-stage path, with the Python core's body."""
    request = _request(5)
    group = request["groups"][0]
    bad = {"name": "lookup", "arguments": {"q": float("nan")}}
    if where == "rollout":
        group["rollouts"].append({"turns": [{"tool_calls": [bad]}, {"answer": "x"}]})
    else:
        group["references"][1] = copy.deepcopy(group["references"][1])
        group["references"][1]["turns"][0].append(bad)
    request = {**request, "preset": "matchtir-km", "explain": True}
    native.select("python")
    ref = engine.score(request)
    native.select("native")
    fused_runs.clear()
    got = engine.score(request)
    assert fused_runs == [False]
    _same(ref, got)


def _ot_request() -> dict[str, Any]:
    """OT groups with pairs of every kind: problems, a rollout without calls (m = 0), a reference without
    calls (n = 0)."""
    request = copy.deepcopy(_request(11))
    group = request["groups"][0]
    group["rollouts"].append({"turns": [{"answer": "no calls"}]})
    group["references"].append({"turns": [], "answer": "nothing to call"})
    return {**request, "preset": "matchtir-ot"}


def test_ot_layout_is_the_assignment_buffer(fused_runs: list[bool]) -> None:
    """``ot_layout`` of ``ot_solve``'s buffer is byte for byte what ``_assignment_buffer`` concatenates from
    the :class:`Assignment` views (m = 0 and n = 0 pairs included)."""
    native.select("native")
    req = read_request(_ot_request(), DEFAULT_LIMITS)
    _, unique, _ = engine._parse_groups(req, DEFAULT_LIMITS, {}, {}, None)
    cfg = req.config
    assert {len(g.calls) == 0 for r in unique for g in r.golds} == {True, False}
    for r in unique:
        rewards._collect_calls(r, cfg)
    assert {r.num_calls == 0 for r in unique} == {True, False}
    laid = rewards._match(unique, cfg, cfg.penalty_at(0), 0, None, want_assignments=False)
    assert laid is not None
    assert rewards._match(unique, cfg, cfg.penalty_at(0), 0, None, want_assignments=True) is None
    assert laid == rewards._assignment_buffer(unique)


@pytest.mark.parametrize("config", [{}, {"row_normalize": True, "reward_scheme": "trajectory+outcome"}])
def test_ot_bodies_with_layout(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch, fused_runs: list[bool]
) -> None:
    """Without ``explain`` the OT path scores from ``ot_layout``'s buffer: the same bodies as from the
    assignment views (the per-stage path), with ``explain`` too."""
    import turnscore_native

    laid: list[bool] = []
    real = turnscore_native.ot_layout
    monkeypatch.setattr(turnscore_native, "ot_layout", lambda *a: laid.append(True) or real(*a))
    for explain in (False, True):
        request = {**_ot_request(), "config": config, "explain": explain}
        native.select("native")
        got = engine.score(request)
        assert laid == ([True] if not explain else [])
        laid.clear()
        monkeypatch.setattr(rewards, "LAYOUT", False)
        ref = engine.score(request)
        monkeypatch.setattr(rewards, "LAYOUT", True)
        assert not laid
        _same(ref, got)
