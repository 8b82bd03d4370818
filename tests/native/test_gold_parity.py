"""Gold traces compiled with the native core (core/gold.py: the calls read by ``structured_calls``, the
answer's tokens by ``answer_tokens``) against the Python reference: every real trace, in both of its forms
(``turns``, and ``calls`` with ``turn_sizes``), must compile to the same trace (ref, calls with their
arguments compared strictly, answer tokens, key sets), and a trace with a bad call must raise the same
error (type, message, JSON path) on both cores.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from turnscore.core import gold, native
from turnscore.core.gold import CompiledGold, compile_gold

from tests.native.test_parse_parity import core, strict
from tests.support.gold import gold_records
from tests.support.native import answers

pytestmark = pytest.mark.skipif(
    not native.available(),
    reason=f"the compiled extension turnscore_native is not importable ({native.import_error()})",
)


NATIVE_CALLS = gold._native_calls


def snapshot(g: CompiledGold) -> tuple[Any, ...]:
    return (
        g.ref,
        g.canonical,
        [(type(c.name), c.name, strict(c.arguments)) for c in g.calls],
        g.answer,
        g.answer_tokens,
        g.arg_keys,
        g.accepted,
        g.turn_sizes,
    )


def outcome(obj: Any) -> Any:
    """What ``compile_gold`` gives for ``obj``: the compiled trace, or its error with its JSON path."""
    try:
        return ("ok", snapshot(compile_gold(obj, "groups[0].gold")))
    except Exception as exc:
        return ("error", type(exc), str(exc), vars(exc))


def both(obj: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any, list[bool]]:
    """(python, native) outcomes of ``obj``, and whether the native reading answered, per call of it."""
    # wraps the real reader, never an earlier call's spy (spies would nest, one per trace)
    answered = answers(monkeypatch, gold, "_native_calls", NATIVE_CALLS)
    with core("python"):
        py = outcome(copy.deepcopy(obj))
    with core("native"):
        nat = outcome(copy.deepcopy(obj))
    return py, nat, answered


def as_calls(record: dict[str, Any]) -> dict[str, Any]:
    """The record's trace in the ``calls`` + ``turn_sizes`` form."""
    turns = record["gold"]["turns"]
    trace = {"calls": [c for t in turns for c in t], "turn_sizes": [len(t) for t in turns]}
    trace["answer"] = record["gold"]["answer"]
    trace["accepted_values"] = record.get("accepted_values")
    return trace


def test_every_gold_trace_compiles_the_same_on_both_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    records = gold_records()
    native_read = 0
    for record in records:
        for obj in (record, as_calls(record)):
            py, nat, answered = both(obj, monkeypatch)
            assert nat == py, record["id"]
            assert py[0] == "ok", (record["id"], py)
            native_read += sum(answered)
    with_calls = sum(1 for r in records if any(r["gold"]["turns"]))
    assert native_read == 2 * with_calls  # the native reading answered for every trace with calls


BAD_CALLS: list[Any] = [
    {"name": 3, "arguments": {}},
    {"arguments": {"a": 1}},
    {"name": "f", "arguments": {}, "argumnets": {}},
    {"function": {"name": "f", "arguments": {}, "extra": 1}},
    {"name": "f", "arguments": {"a": json.loads("[" * 40 + "1" + "]" * 40)}},
    "not a call",
    ["f", {}],
    None,
    {"name": "f", "arguments": '{"a": ' + "[" * 200 + "]" * 200 + "}"},
    {"name": "f", "arguments": {"big": 123456789012345678901234567890}},  # read, but not canonical JSON
]
ODD_CALLS: list[Any] = [
    {"name": "f", "arguments": '{"a": 1, "b": [true, null, 2.5]}'},
    {"name": "f", "arguments": "not json"},
    {"name": "f", "parameters": {"x": "y"}},
    {"name": "f", "arguments": None, "parameters": {"x": 1}},
    {"function": {"name": "g", "arguments": '{"k": "v"}'}, "type": "function", "id": "c1"},
    {"function": "f", "name": "h"},
    {"name": "f", "arguments": 12},
]


@pytest.mark.parametrize("odd", BAD_CALLS + ODD_CALLS)
def test_a_call_of_any_kind_compiles_or_fails_the_same(odd: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    record = gold_records(sample=True)[3]
    rng = random.Random(repr(odd))
    for obj in (record, as_calls(record)):
        trace = obj.get("gold", obj)
        calls = trace["turns"][0] if "turns" in trace else trace["calls"]
        calls.insert(rng.randrange(len(calls) + 1), odd)
        if "turn_sizes" in trace:
            trace["turn_sizes"][0] += 1
        py, nat, _ = both(obj, monkeypatch)
        assert nat == py
        assert py[0] == ("error" if odd in BAD_CALLS else "ok")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)
CALL = st.dictionaries(
    st.sampled_from(["name", "arguments", "parameters", "id", "type", "function", "index", "args"]),
    st.text(max_size=4) | JSON | st.dictionaries(st.sampled_from(["name", "arguments", "x"]), JSON),
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(calls=st.lists(CALL | JSON, max_size=4), answer=st.none() | st.text(max_size=20))
def test_generated_traces_compile_the_same(calls: list[Any], answer: str | None) -> None:
    trace = {"calls": calls, "answer": answer if calls or answer is not None else "x"}
    with core("python"):
        py = outcome(copy.deepcopy(trace))
    with core("native"):
        nat = outcome(copy.deepcopy(trace))
    assert nat == py
