"""The compiled scores as objects and as columns (native/src/score/columns.rs, rows.rs ``rows_input_columns``)
and the F1 of ASCII answers (native/src/score/text.rs) give what Python gives:

- on the real gold traces, every preset in each rollout form: the ``RolloutScore`` objects the extension
  builds (``rewards.Scores``) equal the Python core's field by field (references, counts and ``num_calls``
  exactly, floats to 1e-12), and each is the class's own instance with its ``CallCounts``;
- ``response.native_rows`` from the columns gives, bit for bit, what it gives from the same scores read as
  objects (``rows_input``), and the columns path is the one the engine takes wherever the compiled scores
  come (spied);
- ``outcome_score``'s F1 on ASCII answers (hypothesis: case, punctuation, every ASCII whitespace,
  repeated tokens) equals ``text.outcome_score``.
"""

from __future__ import annotations

import copy
import string
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from turnscore import workload
from turnscore.core import engine, native, response, rewards, text
from turnscore.core.limits import DEFAULT_LIMITS
from turnscore.core.request import read_request
from turnscore.core.summary import CallCounts, call_counts

from tests.native.test_engine_parity import PRESETS, build, differences
from tests.support.gold import gold_records
from tests.support.native import require_native

#: presets whose scores the compiled path builds (hard or OT assignment, not toolrl)
COMPILED = [
    p
    for p, c in engine.presets().items()
    if c["reward"] != "toolrl" and c["assignment"] in ("hungarian", "greedy", "ot")
]


@pytest.fixture(scope="module")
def traces() -> dict[str, dict[str, Any]]:
    """form -> a request of every sample gold record (engine parity's perturbations), explain off."""
    records = gold_records(sample=True)
    return {form: {**build(records, form), "explain": False} for form in workload.FORMS}


@pytest.fixture
def restore_core() -> Iterator[None]:
    require_native()
    before = native.active()
    yield
    native.select(before)


def _scores(request: dict[str, Any], core: str) -> tuple[list[rewards.Rollout], Any, Any]:
    """The distinct rollouts, ``score_rollouts``' scores and the request read, under ``core``."""
    native.select(core)
    req = read_request(copy.deepcopy(request), DEFAULT_LIMITS)
    _, unique, _ = engine._parse_groups(req, DEFAULT_LIMITS, {}, {}, None)
    cfg = req.config
    got = rewards.score_rollouts(unique, cfg, cfg.penalty_at(0), 0, DEFAULT_LIMITS, None, False)
    return unique, got, req


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return type(a) is type(b) and (a == b or abs(a - b) <= 1e-12 * max(abs(a), abs(b)))


@pytest.mark.parametrize("form", workload.FORMS)
@pytest.mark.parametrize("preset", COMPILED)
def test_built_scores_are_the_python_ones(
    traces: dict[str, dict[str, Any]], preset: str, form: str, restore_core: None
) -> None:
    request = {**traces[form], "preset": preset}
    ref_rollouts, ref, _ = _scores(request, "python")
    got_rollouts, got, _ = _scores(request, "native")
    assert isinstance(got, rewards.Scores) and not isinstance(ref, rewards.Scores)
    assert len(got) == len(ref) == len(got.columns) > 0
    for r, g, rr, gr in zip(ref, got, ref_rollouts, got_rollouts, strict=True):
        assert type(g) is rewards.RolloutScore and type(g.counts) is CallCounts
        assert g.reference == r.reference and g.assignment is None and g.toolrl is None
        assert len(g.turn_rewards) == len(r.turn_rewards)
        assert all(_close(x, y) for x, y in zip(g.turn_rewards, r.turn_rewards, strict=True))
        assert _close(g.outcome, r.outcome) and _close(g.trajectory, r.trajectory)
        # the Python path leaves counts to summary.call_counts of its assignment
        assert r.counts is None and r.assignment is not None
        assert g.counts == call_counts(r.assignment, len(rr.golds[r.reference].calls))
        assert gr.num_calls == rr.num_calls


@pytest.fixture
def column_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Which ``rows_input`` each call of ``response.native_rows`` used: "columns" or "objects"."""
    import turnscore_native

    used: list[str] = []
    for name, tag in (("rows_input_columns", "columns"), ("rows_input", "objects")):
        real = getattr(turnscore_native, name)
        monkeypatch.setattr(turnscore_native, name, lambda *a, _r=real, _t=tag: used.append(_t) or _r(*a))
    return used


@pytest.mark.parametrize("form", workload.FORMS)
@pytest.mark.parametrize("preset", PRESETS)
def test_rows_from_columns_are_rows_from_objects(
    traces: dict[str, dict[str, Any]], preset: str, form: str, restore_core: None, column_runs: list[str]
) -> None:
    """The same rows, group summaries, summary and statistics from the columns as from the objects."""
    request = {**traces[form], "preset": preset}
    unique, scores, req = _scores(request, "native")
    groups, _, order = engine._parse_groups(req, DEFAULT_LIMITS, {}, {}, None)
    compiled = preset in COMPILED
    assert isinstance(scores, rewards.Scores) == compiled
    column_runs.clear()
    a = response.native_rows(groups, unique, list(scores), order, req.config, None)
    b = response.native_rows(groups, unique, scores, order, req.config, None)
    assert column_runs == ["objects", "columns" if compiled else "objects"]
    assert a is not None and b is not None
    for field in ("groups", "malformed", "rows", "group_summaries", "summary"):
        found = list(differences(getattr(a, field), getattr(b, field), field, exact=True))
        assert not found, f"{len(found)} differences, first: {found[:5]}"
    assert list(a.stats) == list(b.stats)


@pytest.mark.parametrize("preset", COMPILED)
def test_engine_reads_the_columns(
    traces: dict[str, dict[str, Any]], preset: str, restore_core: None, column_runs: list[str]
) -> None:
    native.select("native")
    engine.score({**traces["text"], "preset": preset})
    assert column_runs == ["columns"]


#: ASCII with what the tokenizer treats specially: case, punctuation, every whitespace of str.split()
ASCII_CHARS = string.ascii_letters[:6] + "XYZ" + string.punctuation + "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f 019"
ASCII = st.text(st.sampled_from(ASCII_CHARS), max_size=60)


@settings(max_examples=500, deadline=None)
@given(pred=ASCII, gold=ASCII | st.text(max_size=20), shared=ASCII)
def test_ascii_f1_matches_python(pred: str, gold: str, shared: str) -> None:
    require_native()
    import turnscore_native

    pred, gold = pred + " " + shared.upper(), shared + "," + gold
    tokens = frozenset(text.answer_tokens(gold)) if _utf8(gold) else None
    for p in (pred, pred.upper(), pred + pred, shared):
        got = turnscore_native.outcome_score(p, gold, "f1")
        assert got == (text.outcome_score(p, tokens, gold, "f1") if tokens is not None else None)


def _utf8(s: str) -> bool:
    try:
        s.encode()
    except UnicodeEncodeError:
        return False
    return True
