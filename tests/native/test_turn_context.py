"""The turns' context, ``Turn.text`` and ``Turn.observation``, read only when a stage of the request reads it
(``parse.turn_context``: toolrl's format checks, GiGPO's anchor states).

Without it the native group reader (``parse.native_group(..., context=False)``, native/src/parse_group.rs)
leaves both ``None`` and reads everything else as the Python reference does: checked here on the real gold
traces in all three rollout forms and on hypothesis-built groups. End to end, every preset scores the same
whether the context is read or not when ``turn_context`` says it is not needed (so no stage reads it then),
and the presets that do need it score differently without it (so that check can fail).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from turnscore import workload
from turnscore.core import engine, native, parse
from turnscore.core.config import PRESETS as PRESET_CONFIGS
from turnscore.core.config import FormatConfig
from turnscore.core.limits import DEFAULT_LIMITS
from turnscore.core.request import dedupe_key

from tests.native.test_engine_parity import build, differences
from tests.native.test_group_parity import ROLLOUTS
from tests.native.test_parse_parity import FORMATS, core, gold_rollouts, snapshot
from tests.support.gold import gold_records
from tests.support.native import require_native

LIMITS = DEFAULT_LIMITS.rollout()
CONTEXT = ("text", "observation")


def python_without_context(group: list[Any], fmt: FormatConfig) -> list[Any]:
    """The Python reference's reading of each distinct rollout (``parse_rollout``), as snapshots whose turns
    have their context blanked out; and whether any of it had a context to blank."""
    seen: dict[Any, None] = {}
    rows = []
    with core("python"):
        for raw in group:
            key = dedupe_key(raw)
            if key in seen:
                continue
            seen[key] = None
            try:
                parsed = parse.parse_rollout(raw, fmt, LIMITS, "r")
            except Exception as exc:  # an error: the native side must leave it to Python
                rows.append(("error", type(exc)))
                continue
            turns = snapshot(parsed.turns)
            for t in turns:
                had = any(t[name] is not None for name in CONTEXT)
                for name in CONTEXT:
                    t[name] = None
                t["types"] = [type(v).__name__ for k, v in t.items() if k != "types"]
                t["had"] = had
            rows.append((turns, parsed.notes, parsed.form))
    return rows


def native_without_context(group: list[Any], fmt: FormatConfig) -> list[Any] | None:
    """Per distinct rollout the native reading without context (``None``: Python's); ``None`` when the
    whole group is Python's."""
    with core("native"):
        got = parse.native_group(group, fmt, LIMITS, 0, context=False)
    if got is None:
        return None
    parsed, _, _ = got
    return [None if p is None else (snapshot(p.turns), p.notes, p.form) for p in parsed]


def assert_same_without_context(group: list[Any], fmt: FormatConfig) -> int:
    """Native without context == Python with its context blanked, for every distinct rollout the native
    side reads (the others Python reads, context and all); returns how many turns had a context."""
    require_native()
    py = python_without_context(group, fmt)
    had = sum(t.pop("had") for row in py if row[0] != "error" for t in row[0])
    nat = native_without_context(group, fmt)
    if nat is None:  # a value only Python keys: the whole group is read by Python
        return had
    assert len(nat) == len(py)
    assert [n for n, p in zip(nat, py, strict=True) if n is not None or p[0] != "error"] == [
        p for n, p in zip(nat, py, strict=True) if n is not None or p[0] != "error"
    ], (fmt, group)
    return had


def test_real_traces_in_all_forms() -> None:
    rng = random.Random(18)
    had = {form: 0 for form in parse.FORMS}
    for k, record in enumerate(gold_records(sample=True)):
        group = list(gold_rollouts(record, rng))
        form_of = [next(f for f in parse.FORMS if f in r) for r in group]
        for form in parse.FORMS:
            part = [r for r, f in zip(group, form_of, strict=True) if f == form]
            fmt = FORMATS[k % len(FORMATS)]
            had[form] += assert_same_without_context(part, fmt)
            assert None not in (native_without_context(part, fmt) or [None])  # all read natively
    # the text and messages forms had a context to leave out (the turns form never has one)
    assert had["text"] > 100 and had["messages"] > 10 and had["turns"] == 0


def test_with_context_the_turns_keep_it() -> None:
    """``context=True`` (the default): the reading of ``parse_rollout``, text and observation included."""
    require_native()
    group = [
        {"text": "<answer>a</answer>"},
        {"messages": [{"role": "assistant", "content": "x"}, {"role": "tool", "content": "y"}]},
    ]
    with core("native"):
        on = parse.native_group(group, FormatConfig(), LIMITS, 0)
        off = parse.native_group(group, FormatConfig(), LIMITS, 0, context=False)
    assert on is not None and off is not None
    assert on[0][0].turns[0].text == "<answer>a</answer>"
    assert on[0][1].turns[0].observation == [("tool", "y")]
    assert off[0][0].turns[0].text is None and off[0][1].turns[0].observation is None


OBSERVED = st.builds(
    lambda rollout, content: {"messages": [*rollout["messages"], {"role": "tool", "content": content}]},
    ROLLOUTS.filter(lambda r: "messages" in r),
    st.none() | st.text(max_size=3),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ROLLOUTS | OBSERVED, min_size=1, max_size=4), st.sampled_from(FORMATS))
def test_any_group(group: list[Any], fmt: FormatConfig) -> None:
    assert_same_without_context(group + [dict(r) for r in group[:2]], fmt)


@pytest.fixture(scope="module")
def requests() -> dict[str, dict[str, Any]]:
    sample = gold_records(sample=True)
    return {form: build(sample, form) for form in workload.FORMS}


@pytest.fixture
def restore() -> Iterator[None]:
    before = native.active()
    yield
    native.select(before)
    engine.turn_context = parse.turn_context  # type: ignore[attr-defined]


def score(request: dict[str, Any], context: bool | None) -> engine.ScoreResult:
    """``engine.score`` on the native core, the context read as ``turn_context`` says (``None``) or forced."""
    native.select("native")
    real = parse.turn_context
    engine.turn_context = real if context is None else (lambda cfg: context)  # type: ignore[attr-defined]
    try:
        return engine.score(request)
    finally:
        engine.turn_context = real  # type: ignore[attr-defined]


@pytest.mark.parametrize("form", workload.FORMS)
@pytest.mark.parametrize("preset", list(engine.presets()))
def test_no_stage_reads_the_context_it_was_not_given(
    requests: dict[str, dict[str, Any]], preset: str, form: str, restore: None
) -> None:
    require_native()
    request = {**with_other_observations(requests[form], form), "preset": preset}
    ref = score(request, True)
    got = score(request, None)
    found = list(differences(ref.body, got.body, "body", exact=True))
    assert not found, f"{len(found)} differences, first: {found[:5]}"
    assert got.stats.warnings == ref.stats.warnings
    assert got.stats.rollout_warnings == ref.stats.rollout_warnings


def with_other_observations(request: dict[str, Any], form: str) -> dict[str, Any]:
    """Each group with a copy of its first rollout that saw other tool responses (the same calls; the turns
    form has none): GiGPO's anchor states of its later turns differ from the original's only through the
    context."""
    groups = []
    for group in request["groups"]:
        first = copy.deepcopy(group["rollouts"][0])
        if form == "text":
            end = FormatConfig().turn_end
            first["text"] = first["text"].replace(end, end + " (another response)", 1)
        elif form == "messages":
            for msg in first["messages"][1:]:
                if msg["role"] != "assistant":
                    msg["content"] = f"another response: {msg['content']}"
        groups.append({**group, "rollouts": [*group["rollouts"], first]})
    return {**request, "groups": groups}


def test_presets_that_read_the_context_need_it(requests: dict[str, dict[str, Any]], restore: None) -> None:
    """toolrl (format checks of the turn text) and GiGPO (anchor states from what follows each turn) score
    differently without the context: the test above would see a stage reading it."""
    require_native()
    needing = [p for p, cfg in PRESET_CONFIGS.items() if parse.turn_context(cfg)]
    kinds = {PRESET_CONFIGS[p].reward == "toolrl" for p in needing}
    assert kinds == {True, False}  # toolrl and gigpo presets both
    assert not parse.turn_context(PRESET_CONFIGS["matchtir-km"])
    for preset in needing:
        changed = []
        for form in ("text", "messages"):
            request = {**with_other_observations(requests[form], form), "preset": preset}
            ref, got = score(request, True), score(request, False)
            changed.append(bool(list(differences(ref.body, got.body, "body", exact=True))))
        assert any(changed), preset
