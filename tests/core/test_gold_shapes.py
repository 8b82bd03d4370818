"""compile_gold reads the shape of a trace (calls / turns / turn_sizes / answer, the call limit) and builds
the JSON paths of its call lists only when Python reads the calls: against the earlier reading, kept here
as the reference, every shape gives the same compiled trace or the same error (type, message, path, in
the same order of checks), on the active core, on real gold traces and on broken variants of them."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from turnscore.core import gold, native
from turnscore.core.errors import InvalidRequest, LimitExceeded
from turnscore.core.gold import CompiledGold, compile_gold, gold_trace

from tests.support.gold import gold_records


def reference(obj: Any, path: str = "gold", max_calls: int | None = 64) -> CompiledGold:
    """compile_gold as it read traces before (paths of every call list built up front)."""
    trace, path, av_path = gold_trace(obj, path)
    if all(trace.get(k) is None for k in ("calls", "turns", "answer")):
        raise InvalidRequest(path, "a gold trace needs calls, turns or an answer (got none of them)")
    if trace.get("calls") is not None and trace.get("turns") is not None:
        raise InvalidRequest(path, "expected one of calls, turns (got both)")
    turn_sizes: list[int] | None = None
    sources: list[tuple[str, list[Any]]] = []
    if trace.get("calls") is not None:
        calls_obj = trace["calls"]
        if not isinstance(calls_obj, list):
            raise InvalidRequest(f"{path}.calls", "expected a list of calls")
        sources.append((f"{path}.calls", calls_obj))
        if trace.get("turn_sizes") is not None:
            turn_sizes = gold.turn_sizes_of(trace["turn_sizes"], len(calls_obj), path)
    elif trace.get("turns") is not None:
        if trace.get("turn_sizes") is not None:
            raise InvalidRequest(f"{path}.turn_sizes", "only with calls (turns give their own sizes)")
        turns = trace["turns"]
        if not isinstance(turns, list):
            raise InvalidRequest(f"{path}.turns", "expected a list of turns (each a list of calls)")
        turn_sizes = []
        for t, turn in enumerate(turns):
            if not isinstance(turn, list):
                raise InvalidRequest(f"{path}.turns[{t}]", "expected a list of calls")
            turn_sizes.append(len(turn))
            sources.append((f"{path}.turns[{t}]", turn))
    n_calls = sum(len(part) for _, part in sources)
    if max_calls is not None and n_calls > max_calls:
        raise LimitExceeded("max_gold_calls", max_calls, path, n_calls)
    calls = gold._python_calls(sources)
    answer = trace.get("answer")
    if answer is not None and not isinstance(answer, str):
        raise InvalidRequest(f"{path}.answer", "expected a string or null")
    accepted = gold._accepted(trace.get("accepted_values"), len(calls), turn_sizes, av_path)
    return CompiledGold(calls, answer, accepted, turn_sizes)


class Sub(list):  # type: ignore[type-arg]
    pass


def outcome(fn: Any, obj: Any, max_calls: int | None) -> Any:
    try:
        g = fn(copy.deepcopy(obj), "groups[3].gold", max_calls)
        return ("ok", g.ref, g.canonical, g.turn_sizes, g.accepted, [type(c.name) for c in g.calls])
    except Exception as exc:
        return ("error", type(exc), str(exc), vars(exc))


def variants(record: dict[str, Any]) -> list[Any]:
    trace = record["gold"]
    turns = trace["turns"]
    flat = [c for t in turns for c in t]
    out: list[Any] = [record, dict(trace), {"calls": flat, "answer": trace["answer"]}]
    out.append({"calls": flat, "turn_sizes": [len(t) for t in turns], "answer": "a"})
    out.append({"calls": flat, "turn_sizes": [len(flat) + 1]})
    out.append({"calls": flat, "turn_sizes": [True] * len(flat)})
    out.append({"calls": flat, "turn_sizes": "3"})
    out.append({"calls": tuple(flat)})
    out.append({"calls": Sub(flat), "answer": None})
    out.append({"turns": [Sub(t) for t in turns], "answer": "x"})
    out.append({"turns": [Sub(turns[0])] if turns else [Sub()], "answer": "x"})
    out.append({"turns": turns, "turn_sizes": [1]})
    out.append({"turns": turns, "calls": flat})
    out.append({"turns": [*turns, "not a turn", 3]})
    out.append({"turns": tuple(turns)})
    out.append({"turns": [[*t, {"name": 1}] for t in turns] or [[{"name": 1}]]})
    out.append({"turns": [*turns, [{"name": "f", "arguments": {}, "bad": 1}]]})
    out.append({"turns": turns, "answer": 3})
    out.append({"turns": turns, "answer": None, "accepted_values": {"9.9.x": [1]}})
    out.append({"turns": [[], []], "answer": None})
    out.append({"turns": [], "answer": "only"})
    out.append({"answer": None})
    out.append({"turns": turns, "oops": 1})
    out.append([turns])
    return out


@pytest.mark.parametrize("core", ["python", "native"])
@pytest.mark.parametrize("max_calls", [64, 2, None])
def test_every_shape_compiles_or_fails_as_before(max_calls: int | None, core: str) -> None:
    if core == "native" and not native.available():
        pytest.skip("the compiled extension is not importable")
    before = native.active()
    native.select(core)
    try:
        _every_shape(max_calls)
    finally:
        native.select(before)


def _every_shape(max_calls: int | None) -> None:
    seen_errors = set()
    for record in gold_records(sample=True):
        for obj in variants(record):
            want = outcome(reference, obj, max_calls)
            assert outcome(compile_gold, obj, max_calls) == want, obj
            if want[0] == "error":
                seen_errors.add(want[2])
    assert len(seen_errors) >= 10
