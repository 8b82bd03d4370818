"""The compiled response rows and summaries (native/src/rows*.rs, ``response.native_rows``) give what the
Python reference gives (``response.advantage_rows``, ``score_groups``, ``summary.add_summaries``) bit for bit:

- whole ``engine.score`` bodies and stats on the real gold traces, every preset in each rollout form (with
  duplicated rollouts, ``explain`` on, off and ``matrix``), the compiled core running everything else both
  times, so only this stage differs; the ``RolloutStats`` and what the metrics record of them agree;
- ``math.fsum`` and ``x ** 2`` (hypothesis: huge, tiny, cancelling, infinite and NaN values);
- rows built from hypothesis-made scores under every reward scheme and advantage: the same bodies, or, where
  Python raises (fsum or ``**`` overflow, ``-inf + inf``), the extension hands the request back (``None``).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import random
import warnings
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from turnscore import metrics, workload
from turnscore.core import engine, lean, native, response, summary
from turnscore.core.config import PRESETS
from turnscore.core.request import GroupMeta
from turnscore.core.rewards import Rollout, RolloutScore
from turnscore.core.summary import CallCounts
from turnscore.core.turns import ParsedRollout, Turn

from tests.native.test_engine_parity import build, differences
from tests.support.gold import gold_records
from tests.support.native import require_native


@pytest.fixture(autouse=True)
def _without_lean(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lean path (core/lean.py; tests/native/test_lean_parity.py) off: it would bypass what these tests
    check (the rows stage from score objects)."""
    monkeypatch.setattr(lean, "LEAN", False)


def exact_differences(a: Any, b: Any, path: str = "") -> Iterator[str]:
    """Where ``a`` (Python rows) and ``b`` (compiled rows) differ: types, keys in order, exact floats."""
    return differences(a, b, path, exact=True)


def test_exact_differences_finds_what_it_must() -> None:
    assert not list(exact_differences({"a": [1.0, 2]}, {"a": [1.0, 2]}))
    assert list(exact_differences({"a": [1.0]}, {"a": [1.0 + 2**-52]}))
    assert list(exact_differences({"a": 0.0}, {"a": -0.0}))
    assert list(exact_differences({"a": 1}, {"a": 1.0}))
    assert list(exact_differences({"a": 1, "b": 2}, {"b": 2, "a": 1}))


@pytest.fixture
def python_rows(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Counts of the compiled rows' calls and of those that answered; ``calls["off"] = 1`` turns them off."""
    real = response.native_rows
    calls = {"calls": 0, "answered": 0, "off": 0}

    def spy(*args: Any, **kwargs: Any) -> Any:
        if calls["off"]:
            return None
        calls["calls"] += 1
        got = real(*args, **kwargs)
        calls["answered"] += got is not None
        return got

    monkeypatch.setattr(response, "native_rows", spy)
    before = native.active()
    yield calls
    native.select(before)


@pytest.fixture(scope="module")
def requests() -> dict[str, dict[str, Any]]:
    """Per form: the sample's groups (engine parity's perturbations), each with its first rollout twice, every
    third with the gold calls and no answer."""
    out = {}
    for form in workload.FORMS:
        request = build(gold_records(sample=True), form)
        rng = random.Random(18)
        for k, group in enumerate(request["groups"]):
            group["rollouts"].append(copy.deepcopy(group["rollouts"][0]))
            if k % 3 == 0:  # one without an answer
                turns = [[dict(c) for c in turn] for turn in group["gold"]["turns"]]
                rollout = workload.render(turns, None, form, rng, 0.0)
                if form == "text":
                    rollout["text"] = rollout["text"].replace("<answer>None</answer>", "")
                elif form == "messages":
                    rollout["messages"][-1]["content"] = ""
                group["rollouts"].append(rollout)
        out[form] = request
    return out


def both(request: dict[str, Any], calls: dict[str, int]) -> tuple[engine.ScoreResult, engine.ScoreResult]:
    """``engine.score`` with the Python rows, then with the compiled ones (compiled core both times)."""
    native.select("native")
    calls["off"] = 1
    ref = engine.score(copy.deepcopy(request))
    calls["off"] = 0
    answered = calls["answered"]
    got = engine.score(copy.deepcopy(request))
    assert calls["answered"] == answered + 1, "the compiled rows did not answer"
    return ref, got


@pytest.mark.parametrize("form", workload.FORMS)
@pytest.mark.parametrize("preset", list(engine.presets()))
def test_rows_equal_python_rows(
    requests: dict[str, dict[str, Any]], preset: str, form: str, python_rows: dict[str, int]
) -> None:
    require_native()
    ref, got = both({**requests[form], "preset": preset}, python_rows)
    found = list(exact_differences(ref.body, got.body, "body"))
    assert not found, f"{len(found)} differences, first: {found[:5]}"
    assert got.stats.malformed_calls == ref.stats.malformed_calls
    assert isinstance(got.stats.rollout_stats, summary.RolloutColumns)
    assert list(got.stats.rollout_stats) == ref.stats.rollout_stats
    assert got.stats.rollout_stats[1:3] == ref.stats.rollout_stats[1:3]
    assert metrics.reward_inputs(got.stats.rollout_stats) == metrics.reward_inputs(ref.stats.rollout_stats)


@pytest.mark.parametrize("explain", [False, "matrix"])
@pytest.mark.parametrize("preset", ["matchtir-km", "matchtir-ot", "gigpo", "toolrl"])
def test_rows_without_explain_and_with_matrix(
    requests: dict[str, dict[str, Any]], preset: str, explain: Any, python_rows: dict[str, int]
) -> None:
    require_native()
    request = {**requests["text"], "preset": preset, "explain": explain}
    request["groups"] = request["groups"][:40]
    ref, got = both(request, python_rows)
    found = list(exact_differences(ref.body, got.body, "body"))
    assert not found, f"{len(found)} differences, first: {found[:5]}"
    assert list(got.stats.rollout_stats) == ref.stats.rollout_stats


def test_the_rows_cover_what_they_must(requests: dict[str, dict[str, Any]]) -> None:
    """The real-trace cases carry the optional keys: trajectory rewards, step-group sizes, toolrl, matches,
    answered and unanswered rollouts, malformed calls."""
    seen: set[str] = set()
    for preset in ("matchtir-km", "gigpo", "toolrl", "matchtir-ablation-trajectory"):
        body = engine.score({**requests["text"], "preset": preset}).body
        for group in body["groups"]:
            for row in group["rollouts"]:
                seen |= set(row)
    assert {"trajectory_reward", "step_group_sizes", "toolrl", "matches"} <= seen
    for form in workload.FORMS:
        total = engine.score({**requests[form], "preset": "matchtir-km"}).body["summary"]
        assert 0 < total["answer_rate"] < 1 and total["malformed_calls"] > 0, form


# --- fsum and ** 2 -------------------------------------------------------------------------------------

EDGES = [0.0, -0.0, 1e308, -1e308, 1.7976931348623157e308, 5e-324, -5e-324, 2.2250738585072014e-308, 1e16]
SPECIAL = [math.inf, -math.inf, math.nan]
FLOATS = st.sampled_from(EDGES) | st.floats(allow_nan=False, allow_infinity=False) | st.floats(-1e3, 1e3)
WITH_SPECIAL = FLOATS | st.sampled_from(SPECIAL)


def python_fsum(values: list[float]) -> float | None:
    try:
        return math.fsum(values)
    except (OverflowError, ValueError):
        return None


def same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.hex() == b.hex() or (math.isnan(a) and math.isnan(b))


@settings(max_examples=1500, deadline=None)
@given(st.lists(WITH_SPECIAL, max_size=30), st.randoms(use_true_random=False))
def test_fsum_is_pythons(values: list[float], rnd: random.Random) -> None:
    require_native()
    ext = native.module() or native._ext
    values = values + [-v for v in values if rnd.random() < 0.5]  # cancelling pairs
    rnd.shuffle(values)
    assert same(python_fsum(values), ext.fsum(values)), values


def test_fsum_known_values() -> None:
    require_native()
    ext = native._ext
    assert ext is not None
    for values in (
        [1e-16, 1.0, 1e16],
        [0.1] * 10,
        [1e308, 1e308],
        [math.inf, -math.inf],
        [math.inf, 1.0, math.inf],
        [math.nan, math.inf],
        [1e308, -1e308, 1e-308],
        [],
    ):
        assert same(python_fsum(values), ext.fsum(values)), values
    assert ext.fsum([1e308, 1e308]) is None and ext.fsum([math.inf, -math.inf]) is None


def python_square(x: float) -> float | None:
    try:
        return x**2
    except OverflowError:
        return None


@settings(max_examples=3000, deadline=None)
@given(WITH_SPECIAL)
def test_square_is_pythons(x: float) -> None:
    require_native()
    ext = native._ext
    assert ext is not None
    assert same(python_square(x), ext.square(x)), x


def test_square_is_pow_not_a_product() -> None:
    """``x ** 2`` is the C library's pow, which differs from ``x * x`` in the last bit now and then."""
    require_native()
    ext = native._ext
    assert ext is not None
    rnd = random.Random(18)
    xs = [rnd.uniform(-3, 3) * 10 ** rnd.randint(-20, 20) for _ in range(20000)]
    differ = [x for x in xs if x**2 != x * x]
    assert differ
    assert all(ext.square(x) == x**2 for x in differ + xs[:2000])


# --- hypothesis-made scores ----------------------------------------------------------------------------

SCORE = st.tuples(
    st.lists(WITH_SPECIAL, max_size=4),  # turn rewards
    WITH_SPECIAL,  # outcome
    st.none() | WITH_SPECIAL,  # trajectory
    st.integers(0, 3),  # calls
    st.integers(0, 2),  # malformed calls
    st.booleans(),  # answered
    st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)),
    st.none() | st.tuples(WITH_SPECIAL, WITH_SPECIAL),  # toolrl
)


def synthetic(
    made: list[tuple[Any, ...]], group_of: list[int], n_groups: int
) -> tuple[list[GroupMeta], list[Rollout], list[RolloutScore]]:
    gold = SimpleNamespace(ref="ref", calls=[])
    groups = [GroupMeta(f"g{g}", [gold], "gold_ref") for g in range(n_groups)]  # type: ignore[list-item]
    unique, scores = [], []
    for (turn_rewards, outcome, trajectory, calls, malformed, answered, counts, toolrl), g in zip(
        made, group_of, strict=True
    ):
        turns = [Turn(malformed=malformed if t == 0 else 0) for t in range(max(len(turn_rewards), 1))]
        if answered:
            turns[-1].answer = "x"
        r = Rollout(g, ParsedRollout(turns, "text"), [gold])  # type: ignore[list-item]
        r.calls = [None] * calls  # type: ignore[list-item]
        unique.append(r)
        scores.append(RolloutScore(0, turn_rewards, outcome, trajectory, None, toolrl, CallCounts(*counts)))
    return groups, unique, scores


def python_body(
    groups: list[GroupMeta], rollouts: list[Rollout], scores: list[RolloutScore], cfg: Any
) -> dict[str, Any] | None:
    """The reference's groups and summaries; ``None`` where it raises (fsum or ``**`` overflow)."""
    try:
        reward_input = [
            (r.group, s.turn_rewards, s.outcome, s.trajectory) for r, s in zip(rollouts, scores, strict=True)
        ]
        rows, _ = response.advantage_rows(reward_input, cfg, None)
        out_groups, malformed, stats = response.score_groups(groups, rollouts, scores, rows, False)
        body = {"groups": out_groups, "malformed": malformed}
        summary.add_summaries(body, [r.group for r in rollouts], stats)
    except (OverflowError, ValueError):
        return None
    return body


@settings(max_examples=400, deadline=None)
@given(
    st.lists(SCORE, min_size=1, max_size=6),
    st.lists(st.integers(0, 5), max_size=8),
    st.sampled_from(response.SCHEMES),
    st.sampled_from(["discounted", "answer_turn"]),
    st.sampled_from(["matchtir-km", "gigpo", "mt-grpo", "turn-loo", "toolrl"]),
    st.data(),
)
def test_rows_of_made_scores(
    made: list[tuple[Any, ...]],
    extra: list[int],
    scheme: str,
    placement: str,
    preset: str,
    data: st.DataObject,
) -> None:
    require_native()
    n_groups = data.draw(st.integers(1, 3))
    group_of = [data.draw(st.integers(0, n_groups - 1)) for _ in made]
    order = list(range(len(made))) + [k % len(made) for k in extra]  # duplicates too
    cfg = dataclasses.replace(PRESETS[preset], reward_scheme=scheme, outcome_placement=placement)
    groups, unique, scores = synthetic(made, group_of, n_groups)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        ref = python_body(groups, [unique[k] for k in order], [scores[k] for k in order], cfg)
        native.select("native")
        got = response.native_rows(groups, unique, scores, order, cfg, None)
    event("python raises" if ref is None else "rows")
    if ref is None:
        assert got is None
        return
    assert got is not None
    body = {"groups": got.groups, "malformed": got.malformed}
    summary.attach(body, got.group_summaries, got.summary)
    found = list(exact_differences(ref, body, "body"))
    assert not found, f"{len(found)} differences, first: {found[:5]}"
