"""The native reading of a whole group (native/src/parse_group.rs: identical rollouts once, each distinct one
parsed, limits and the cap of model calls) against the Python loop it replaces (``request.dedupe_key``, then
``parse.parse_rollout`` per distinct rollout), through ``engine._read_rollouts`` under both cores.

Both must give the same distinct rollouts in the same order, field by field (tests/native/
test_parse_parity.py's strict snapshot), the same index per rollout, and the same error (type, message, JSON
path) for a group that holds a bad rollout. What the native side leaves to Python (a group with values that
are not plain JSON, a rollout it does not read) must still come out the same.
"""

from __future__ import annotations

import gc
import math
import random
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from turnscore import workload
from turnscore.core import engine, parse
from turnscore.core.config import FormatConfig
from turnscore.core.gold import CompiledGold
from turnscore.core.limits import DEFAULT_LIMITS, RolloutLimits

from tests.native.test_parse_parity import FORMATS, call_objects, core, gold_rollouts, json_values, snapshot
from tests.support.gold import gold_records
from tests.support.native import require_native

LIMITS = DEFAULT_LIMITS.rollout()


def read(core_name: str, rollouts: list[Any], fmt: FormatConfig, limits: RolloutLimits = LIMITS) -> Any:
    """(distinct rollouts as snapshots, index per rollout), or the error ``_read_rollouts`` raises."""
    unique: list[Any] = []
    order: list[int] = [7]  # as after an earlier group: the indices go on from ``len(unique)``
    unique.append(None)
    with core(core_name):
        try:
            engine._read_rollouts(rollouts, 3, [], fmt, limits, unique, order)
        except Exception as exc:
            return ("error", type(exc), str(exc), vars(exc))
    rows = [(r.group, snapshot(r.parsed.turns), r.parsed.notes, r.parsed.form) for r in unique[1:]]
    return rows, order


def assert_group_parity(
    rollouts: list[Any], fmt: FormatConfig = FORMATS[0], limits: RolloutLimits = LIMITS
) -> Any:
    require_native()
    py = read("python", rollouts, fmt, limits)
    nat = read("native", rollouts, fmt, limits)
    assert nat == py, (fmt, rollouts)
    return nat


def natively(rollouts: list[Any], fmt: FormatConfig = FORMATS[0]) -> Any:
    """What the native group reader returns (``None``: the whole group is Python's)."""
    require_native()
    with core("native"):
        return parse.native_group(rollouts, fmt, LIMITS, 0)


def test_real_traces_in_groups_with_repeats() -> None:
    rng = random.Random(18)
    for k, record in enumerate(gold_records(sample=True)):
        rollouts = list(gold_rollouts(record, rng))
        group = rollouts + [dict(r) for r in rng.sample(rollouts, 4)]  # equal copies, new objects
        rng.shuffle(group)
        fmt = FORMATS[k % len(FORMATS)]
        got = assert_group_parity(group, fmt)
        assert len(got[0]) < len(group)  # the copies were joined
        assert natively(group, fmt) is not None  # and the native side read the group


def test_identical_means_the_same_json_value() -> None:
    """Rollouts are joined only when they are the same value: key order, 1 / 1.0 / True, 0.0 / -0.0 and
    a text-only rollout vs the same text with another form are all different rollouts."""
    call = {"name": "f", "arguments": {"a": 1, "b": "x"}}
    variants = [
        {"turns": [{"tool_calls": [call]}]},
        {"turns": [{"tool_calls": [{"name": "f", "arguments": {"b": "x", "a": 1}}]}]},
        {"turns": [{"tool_calls": [{"name": "f", "arguments": {"a": 1.0, "b": "x"}}]}]},
        {"turns": [{"tool_calls": [{"name": "f", "arguments": {"a": True, "b": "x"}}]}]},
        {"turns": [{"tool_calls": [{"name": "f", "arguments": {"a": 0.0, "b": "x"}}]}]},
        {"turns": [{"tool_calls": [{"name": "f", "arguments": {"a": -0.0, "b": "x"}}]}]},
        {"turns": [{"tool_calls": [call]}], "text": None},
        {"text": "<answer>a</answer>"},
        {"text": "<answer>a</answer>", "messages": None},
        {"messages": [{"role": "assistant", "content": "<answer>a</answer>"}]},
    ]
    group = variants + [dict(v) for v in variants]
    rows, order = assert_group_parity(group)
    assert len(rows) == len(variants)
    assert order == [7] + [1 + k for k in range(len(variants))] * 2
    assert natively(group) is not None


@pytest.mark.parametrize(
    ("odd", "written"),
    [
        (math.nan, None),  # orjson writes NaN and infinity as null: Python's keys join them with null
        (math.inf, None),
        ((1, 2), [1, 2]),  # a tuple as a list
        (type("Sub", (str,), {})("x"), "x"),  # a subclass as its base
        (2**70, 2**70),  # beyond 64 bits orjson fails: Python does not key the rollout
    ],
)
def test_values_orjson_writes_like_others_leave_the_group_to_python(odd: Any, written: Any) -> None:
    plain = {"name": "f", "arguments": {"a": written}}
    group = [
        {"turns": [{"tool_calls": [plain]}]},
        {"turns": [{"tool_calls": [{"name": "f", "arguments": {"a": odd}}]}]},
        {"turns": [{"tool_calls": [plain]}]},
    ]
    assert natively(group) is None
    assert_group_parity(group)


def test_rollouts_python_reads_keep_their_slot() -> None:
    """A rollout the native side does not read (text with a lone surrogate) is read by Python in its
    place; the others natively."""
    group = [
        {"text": "<answer>a</answer>"},
        {"text": "\ud800<answer>b</answer>"},
        {"text": "<answer>a</answer>"},
    ]
    got = natively(group)
    assert got is not None
    parsed, order, first = got
    assert parsed[0] is not None and parsed[1] is None
    assert order == [0, 1, 0] and first == [0, 1]
    assert_group_parity(group)


BAD = [
    "not a rollout",
    {"txt": "a"},
    {"text": "a", "turns": []},
    {},
    {"text": 5},
    {"messages": "x"},
    {"turns": [{"tool_calls": [{"name": "f", "argument": {}}]}]},
    {"messages": [{"role": "assistant", "content": 3}]},
    {"text": "x" * 101},
    {"turns": [{"answer": "a"}] * 6},
    {"turns": [{"tool_calls": [{"name": "f"}] * 3}, {"calls": [{"name": "g"}] * 3}]},
]


@pytest.mark.parametrize("bad", BAD)
def test_errors_and_limits_are_pythons(bad: Any) -> None:
    """The same error with the same path, at the first bad rollout, whatever comes after it."""
    limits = RolloutLimits(max_calls=5, max_turns=5, max_text_chars=100)
    good = {"text": "<answer>a</answer>"}
    for group in ([good, bad], [good, bad, {"text": 7}], [bad, good, bad]):
        got = assert_group_parity(group, FORMATS[0], limits)
        assert got[0] == "error"


def test_model_calls_over_the_limit_are_capped_alike() -> None:
    rng = random.Random(5)
    capped = 0
    for record in gold_records(sample=True)[::3]:
        group = [r for r in gold_rollouts(record, rng) if "text" in r]  # calls read from model text
        for max_calls in (0, 1, 2, 3):
            limits = RolloutLimits(max_calls=max_calls, max_turns=1_024, max_text_chars=1_000_000)
            rows, _ = assert_group_parity(group, FORMATS[0], limits)
            capped += sum(n.code == "calls_over_limit" for _, _, notes, _ in rows for n in notes)
    assert capped > 20


def test_formats_python_reads_are_left_to_python() -> None:
    fmt = replace(FormatConfig(), tool_call_pattern=r"<tc\d>(.*?)</tc>")
    group = [{"text": "<tc1>{}</tc>"}, {"text": "<tc1>{}</tc>"}]
    assert natively(group, fmt) is None
    assert_group_parity(group, fmt)


def test_result_objects_are_built_by_writing_their_slots() -> None:
    require_native()
    with core("native"):
        parser = parse.text_parser(FormatConfig())
    assert parser is not None and parser.direct_slots


def test_result_objects_are_not_tracked_by_the_cyclic_gc() -> None:
    """What the native reader builds (a tree over the request's values: no cycle can pass through it) is
    left to reference counting, as the Python reference's objects are not."""
    group = [
        {"text": '<tool_call>{"name": "f", "arguments": {"a": [1]}}</tool_call>'},
        {"messages": [{"role": "assistant", "content": "", "tool_calls": [{"name": "g"}]}, {"role": "tool"}]},
    ]
    got = natively(group)
    assert got is not None
    for parsed in got[0]:
        objects = [parsed, parsed.turns, parsed.notes]
        for turn in parsed.turns:
            objects += [turn, turn.calls, *turn.calls]
            if turn.observation is not None:
                objects.append(turn.observation)
        assert not any(gc.is_tracked(o) for o in objects)
    with core("python"):
        reference = parse.parse_rollout(group[0], FormatConfig(), LIMITS, "r")
    assert gc.is_tracked(reference) and gc.is_tracked(reference.turns[0])


ROLLOUTS = st.one_of(
    st.builds(
        lambda calls: {"turns": [{"tool_calls": calls}, {"answer": "a"}]},
        st.lists(call_objects(json_values), max_size=3),
    ),
    st.builds(
        lambda calls, content: {"messages": [{"role": "assistant", "content": content, "tool_calls": calls}]},
        st.none() | st.lists(call_objects(json_values), max_size=2),
        st.sampled_from(
            ["", "<answer>a</answer>", '<tool_call>{"name": "f", "arguments": {"x": 1}}</tool_call>']
        ),
    ),
    st.builds(
        lambda t: {"text": t},
        st.sampled_from(["", "<answer>a</answer>", '<tool_call>{"name": "f"}</tool_call>']),
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(ROLLOUTS, min_size=1, max_size=4),
    st.lists(st.integers(0, 3), max_size=8),
    st.sampled_from(FORMATS),
)
def test_any_group(pool: list[Any], picks: list[int], fmt: FormatConfig) -> None:
    group = pool + [pool[k % len(pool)] for k in picks]  # repeats: the same object and equal copies
    group += [dict(pool[k % len(pool)]) for k in picks[:2]]
    assert_group_parity(group, fmt)


def test_gold_lists_pass_through() -> None:
    """Each distinct rollout carries its group's index and references."""
    require_native()
    gold = CompiledGold([], "a", None, None)
    unique: list[Any] = []
    order: list[int] = []
    with core("native"):
        engine._read_rollouts(
            [{"text": "a"}, {"text": "a"}], 2, [gold], FormatConfig(), LIMITS, unique, order
        )
    assert [(r.group, r.golds) for r in unique] == [(2, [gold])] and order == [0, 0]
    assert workload.FORMS == parse.FORMS
