"""The request's warnings from the extension (native/src/diag.rs ``diagnostics``, diagnostics.collect)
against the Python reference ``diagnostics.collect_python``: on every real gold trace in each rollout form,
with repeated rollouts, references without an answer, turns without an answer and notes from parsing,
under presets that add ``answer_missing`` and one that does not; the same warnings (codes, paths, counts,
messages, order), per-rollout counts and totals. Inputs it does not handle go back to Python."""

from __future__ import annotations

import random
from typing import Any

import pytest
from turnscore import workload
from turnscore.core import diagnostics, engine, native
from turnscore.core.config import resolve
from turnscore.core.limits import DEFAULT_LIMITS
from turnscore.core.request import read_request
from turnscore.core.rewards import Rollout
from turnscore.core.turns import Note, ParsedRollout

from tests.native.test_engine_parity import build
from tests.native.test_parse_parity import core
from tests.support.gold import gold_records
from tests.support.native import answers, require_native


@pytest.fixture(autouse=True)
def _native() -> None:
    require_native()


def _request(form: str) -> dict[str, Any]:
    request = build(gold_records(), form)
    rng = random.Random(7)
    for k, group in enumerate(request["groups"]):
        rollouts = group["rollouts"]
        rollouts.append(rollouts[0])  # a repeated rollout (one parsed object)
        rollouts.insert(1, {"text": f"no think, no answer {k % 2}"})
        rollouts.append({"turns": [{"tool_calls": []}]})
        rollouts.append({"messages": [{"role": "user", "content": "hi"}]})  # no assistant message
        if k % 3 == 0:
            group["gold"]["answer"] = None  # no reference answer: no answer_missing
        rng.shuffle(rollouts)
    return request


def _rollouts(request: dict[str, Any]) -> list[Rollout]:
    req = read_request(request, DEFAULT_LIMITS)
    _, unique, order = engine._parse_groups(req, DEFAULT_LIMITS, {}, {}, None)
    return [unique[k] for k in order]


def _same(got: diagnostics.Diagnostics, want: diagnostics.Diagnostics) -> None:
    assert got.warnings == want.warnings
    assert [list(w) for w in got.warnings] == [list(w) for w in want.warnings]  # key order
    assert got.per_rollout == want.per_rollout
    assert got.totals == want.totals
    assert list(got.totals) == list(want.totals)
    assert all(type(n) is int for n in got.per_rollout)


@pytest.mark.parametrize("form", workload.FORMS)
@pytest.mark.parametrize(
    ("preset", "config"),
    [
        ("matchtir-km", None),
        ("matchtir-ot", None),
        ("grpo-outcome", None),
        ("matchtir-km", {"outcome": "none"}),
        ("matchtir-km", {"format": {"answer": "last_text"}}),
    ],
)
def test_every_gold_trace_gives_the_same_warnings(
    form: str, preset: str, config: dict[str, Any] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = _request(form)
    rollouts = _rollouts(request)
    cfg = resolve(preset, config)
    m = native.module() or pytest.fail("no extension")
    ran = answers(monkeypatch, m, "diagnostics")
    with core("native"):
        got = diagnostics.collect(rollouts, cfg)
    assert ran == [True]  # the extension answered
    want = diagnostics.collect_python(rollouts, cfg)
    _same(got, want)
    assert "malformed_calls" in want.totals
    if cfg.outcome != "none":
        assert "answer_missing" in want.totals
    else:
        assert "answer_missing" not in want.totals
    assert sum(want.per_rollout) == sum(want.totals.values())


def test_toolrl_is_collected_in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    request = _request("text")
    request["preset"] = "toolrl"  # parsed as ToolRL reads it (the turns' text: parse.turn_context)
    rollouts = _rollouts(request)
    cfg = resolve("toolrl", None)
    m = native.module() or pytest.fail("no extension")
    ran = answers(monkeypatch, m, "diagnostics")
    with core("native"):
        got = diagnostics.collect(rollouts, cfg)
    assert ran == []
    assert "toolrl_format_missing_think" in got.totals
    _same(got, diagnostics.collect_python(rollouts, cfg))


def _rollout(group: int, notes: list[Any], golds: list[Any], answer: str | None = None) -> Rollout:
    parsed = ParsedRollout([], "text", notes)
    if answer is not None:
        parsed.turns = [type("T", (), {"answer": answer})(), type("T", (), {"answer": None})()]
    return Rollout(group, parsed, golds)


def test_groups_out_of_order_and_shared_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    gold = type("G", (), {"answer": "x"})()
    plain = type("G", (), {"answer": None})()
    shared = _rollout(1, [Note("think_unclosed", ".text", 2)], [gold])
    rollouts = [
        _rollout(0, [], [gold], "a"),
        shared,
        _rollout(0, [Note("malformed_calls", ".text", 3), Note("think_unclosed", ".text")], [plain]),
        shared,
        _rollout(2, [], [plain, gold]),
        _rollout(1, [], [gold], "b"),
        _rollout(0, [Note("malformed_calls", ".turns[2]", 5)], [gold]),
        _rollout(2, [], [plain]),
    ]
    cfg = resolve("matchtir-km", None)
    m = native.module() or pytest.fail("no extension")
    ran = answers(monkeypatch, m, "diagnostics")
    with core("native"):
        got = diagnostics.collect(rollouts, cfg)
        empty = diagnostics.collect([], cfg)
    assert ran == [True, True]
    want = diagnostics.collect_python(rollouts, cfg)
    _same(got, want)
    assert want.per_rollout == [0, 3, 4, 3, 1, 0, 6, 0]
    assert [w["path"] for w in want.warnings] == [
        "groups[1].rollouts[0].text",
        "groups[1].rollouts[0]",
        "groups[0].rollouts[1].text",
    ]
    _same(empty, diagnostics.collect_python([], cfg))


@pytest.mark.parametrize(
    "note",
    [
        Note("malformed_calls", ".text", True),  # type: ignore[arg-type]
        Note("malformed_calls", ".text", 2**70),
        Note("malformed_calls", 3, 1),  # type: ignore[arg-type]
        Note("malformed_calls", "\ud800", 1),
    ],
)
def test_what_it_does_not_handle_goes_to_python(note: Note, monkeypatch: pytest.MonkeyPatch) -> None:
    gold = type("G", (), {"answer": None})()
    rollouts = [_rollout(0, [Note("think_unclosed", ".text")], [gold]), _rollout(0, [note], [gold])]
    cfg = resolve("matchtir-km", None)
    m = native.module() or pytest.fail("no extension")
    ran = answers(monkeypatch, m, "diagnostics")
    with core("native"):
        try:
            got: Any = diagnostics.collect(rollouts, cfg)
        except TypeError as exc:  # the reference's own error (a path that is not a str)
            got = exc
    assert ran == [False]
    try:
        want: Any = diagnostics.collect_python(rollouts, cfg)
    except TypeError as exc:
        assert type(got) is TypeError and str(got) == str(exc)
        return
    _same(got, want)
