"""The lean path of ``engine.score`` (service/turnscore/core/lean.py, native/src/lean: raw rollouts to score
columns in one call) gives, for every request it serves, the whole response body and ``ScoreStats`` that
(b) the native core with the lean path off (``lean.LEAN = False``) and (c) the Python core give:

- every eligible preset on the gold traces in each rollout form and mixed, with malformed calls, identical
  rollouts, answers and think blocks; hand-written rollouts for every parse note (calls in think, unclosed
  think, text that looks like a call, calls over the cap, no assistant message, no answer), blocks the
  Python reference decodes (integers beyond 64 bits) and several references under hard settings the
  presets do not combine;
- a spy on the extension's ``score_lean``: it ran (and answered) for each eligible request, never for an
  ineligible one (ToolRL, GiGPO, ``explain``); OT specifics are in test_lean_ot_parity.py;
- errors (a rollout over a limit, an unknown key, two forms, an unknown ``gold_ref``) are the per-stage
  path's; a past deadline raises ``DeadlineExceeded``; the cell budget's ``LimitExceeded`` is the same.
"""

from __future__ import annotations

import copy
import dataclasses
import random
import time
from collections.abc import Iterator
from typing import Any

import pytest
from turnscore import workload
from turnscore.core import engine, lean, native
from turnscore.core import request as request_module
from turnscore.core.config import PRESETS
from turnscore.core.errors import DeadlineExceeded, TurnScoreError
from turnscore.core.gold import compile_gold
from turnscore.core.limits import DEFAULT_LIMITS, Limits
from turnscore.core.parse import turn_context

from tests.native.test_engine_parity import differences
from tests.native.test_score_parity import OVERRIDES, _request
from tests.support.gold import gold_records
from tests.support.native import answers, require_native

ELIGIBLE = [
    name
    for name, cfg in PRESETS.items()
    if cfg.reward != "toolrl" and cfg.assignment in ("hungarian", "greedy", "ot") and not turn_context(cfg)
]
INELIGIBLE = [name for name in PRESETS if name not in ELIGIBLE]
MIXED = "mixed"
RECORDS = 40  # gold records per request (the sample's first ones)


@pytest.fixture
def lean_runs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """One entry per call of the extension's ``score_lean``: whether it answered."""
    require_native()
    before = native.active()
    native.select("native")
    ran = answers(monkeypatch, native.module(), "score_lean")
    yield ran
    native.select(before)
    lean.LEAN = True


def build(form: str, seed: int = 18) -> dict[str, Any]:
    """A group per gold record: perturbed rollouts (with think blocks), a duplicate of the first, the gold
    calls themselves and them with the first written so that it does not parse."""
    rng = random.Random(seed)
    forms = workload.FORMS if form == MIXED else (form,)
    groups = []
    for rec in gold_records(sample=True)[:RECORDS]:
        group = workload.make_group(rec, 3, rng, forms=forms, filler_chars=rng.choice((0, 40)))
        gold = group["gold"]
        group["rollouts"].append(copy.deepcopy(group["rollouts"][0]))
        exact = [[dict(c) for c in turn] for turn in gold["turns"]]
        group["rollouts"].append(workload.render(exact, gold["answer"], rng.choice(forms), rng, 0.0))
        broken = [[dict(c) for c in turn] for turn in gold["turns"]]
        if broken and broken[0]:
            broken[0][0][workload.MALFORMED] = True
            group["rollouts"].append(workload.render(broken, gold["answer"], rng.choice(forms), rng, 0.0))
        groups.append(group)
    return {"groups": groups}


def _call(name: str, **arguments: Any) -> str:
    import json

    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


END = "<|im_end|>\n<|im_start|>user\n<tool_response>\nok\n</tool_response><|im_end|>"
SEP = workload.SEP


def crafted() -> dict[str, Any]:
    """Rollouts written by hand for each parse note and the decoding corners, in two groups."""
    gold = {
        "turns": [
            [{"name": "Get", "arguments": {"x": 1}}],
            [{"name": "Put", "arguments": {"y": "Ünï", "z": 2.5}}],
        ],
        "answer": "done it",
    }
    texts = [
        "<think>"
        + _call("Get", x=1)
        + "</think>\n"
        + _call("Get", x=1)
        + END
        + SEP
        + "<answer>done it</answer>",
        "<think>never closed " + _call("Get", x=1),
        '{"name": "Get", "arguments": {"x": 1}}' + END + SEP + "<answer>done</answer>",
        SEP.join([_call("get", x=1.0) + _call("Put", y="ünï", z=2.5) + END] * 4) + SEP + "<answer>x</answer>",
        "<tool_call>\n"
        + '{"name": "Get", "arguments": {"x": 123456789012345678901234567890}}'
        + "\n</tool_call>"
        + END,
        "<tool_call>\n{Get: oops\n</tool_call>" + END + SEP + "<answer>DONE IT</answer>",
        "",
    ]
    rollouts: list[dict[str, Any]] = [{"text": t} for t in texts]
    rollouts += [
        {"messages": [{"role": "user", "content": "hi"}]},
        {
            "messages": [
                {"role": "assistant", "content": _call("Get", x=1)},
                {"role": "tool", "content": "ok"},
                {"role": "assistant", "content": [{"type": "text", "text": "<answer>done it</answer>"}]},
            ]
        },
        {
            "turns": [
                {"tool_calls": [{"name": "Get", "arguments": '{"x": 1}'}, {"arguments": {}}]},
                {"answer": "no"},
            ]
        },
        {"turns": [{"calls": [{"function": {"name": "Put", "arguments": {"y": "Ünï", "z": 2.5}}}]}]},
    ]
    return {
        "groups": [
            {"id": "a", "gold": gold, "rollouts": rollouts},
            {"id": 7, "gold": gold, "rollouts": rollouts[::-1] + rollouts[:2]},
        ]
    }


def three(request: dict[str, Any], runs: list[bool], limits: Limits | None = None) -> list[Any]:
    """(lean path, native core with it off, Python core) results; each run on its own copy."""
    out = []
    for core, on in (("native", True), ("native", False), ("python", False)):
        native.select(core)
        lean.LEAN = on
        out.append(engine.score(copy.deepcopy(request), limits=limits))
    lean.LEAN = True
    return out


def stats_of(result: engine.ScoreResult) -> dict[str, Any]:
    s = result.stats
    return {
        "groups": s.groups,
        "rollouts": s.rollouts,
        "malformed": s.malformed_calls,
        "warnings": s.warnings,
        "per_rollout": list(s.rollout_warnings),
        "preset": s.preset,
        "rollout_stats": [dataclasses.asdict(r) for r in s.rollout_stats],
        "golds": sorted(result.golds),
    }


def assert_same(results: list[Any]) -> None:
    got, off, ref = results
    exact = list(differences(off.body, got.body, "body", exact=True))
    assert not exact, f"lean vs native: {len(exact)} differences, first: {exact[:5]}"
    assert not list(differences(stats_of(off), stats_of(got), "stats", exact=True))
    close = list(differences(ref.body, got.body, "body"))
    assert not close, f"lean vs python: {len(close)} differences, first: {close[:5]}"
    found = list(differences(stats_of(ref), stats_of(got), "stats"))
    assert not found, found[:5]


@pytest.mark.parametrize("form", [*workload.FORMS, MIXED])
@pytest.mark.parametrize("preset", ELIGIBLE)
def test_eligible_presets_match(preset: str, form: str, lean_runs: list[bool]) -> None:
    request = {**build(form), "preset": preset}
    results = three(request, lean_runs)
    assert lean_runs == [True]  # the lean path served it (the two other runs never reach it)
    assert_same(results)
    assert results[0].stats.malformed_calls > 0 and results[0].stats.warnings


@pytest.mark.parametrize("preset", ["matchtir-km", "matchtir-reference-km"])
def test_crafted_rollouts_match(preset: str, lean_runs: list[bool]) -> None:
    limits = dataclasses.replace(DEFAULT_LIMITS, max_calls_per_rollout=6)
    results = three({**crafted(), "preset": preset}, lean_runs, limits)
    assert lean_runs == [True]
    assert_same(results)
    codes = set(results[0].stats.warnings)
    if PRESETS[preset].format.strip_think:
        assert codes >= {"calls_in_think_ignored", "think_unclosed"}
    assert codes >= {
        "no_calls_parsed_from_text",
        "calls_over_limit",
        "malformed_calls",
        "no_assistant_messages",
        "answer_missing",
    }


@pytest.mark.parametrize("config", [c for c in OVERRIDES if c.get("assignment") != "ot"], ids=str)
def test_several_references_and_settings_match(config: dict[str, Any], lean_runs: list[bool]) -> None:
    request = {**_request(18), "explain": False, "preset": "matchtir-km", "config": config}
    results = three(request, lean_runs)
    assert lean_runs == [True]
    assert_same(results)


@pytest.mark.parametrize("preset", INELIGIBLE)
def test_ineligible_presets_never_reach_it(preset: str, lean_runs: list[bool]) -> None:
    three({**build("text"), "preset": preset}, lean_runs)
    assert lean_runs == []


@pytest.mark.parametrize("explain", [True, "matrix"])
def test_explain_never_reaches_it(explain: Any, lean_runs: list[bool]) -> None:
    three({**crafted(), "preset": "matchtir-km", "explain": explain}, lean_runs)
    assert lean_runs == []


def _error(request: dict[str, Any], limits: Limits | None = None, deadline: float | None = None) -> Any:
    try:
        engine.score(copy.deepcopy(request), limits=limits, deadline=deadline)
    except TurnScoreError as e:
        return type(e), str(e), getattr(e, "args", None)
    raise AssertionError("no error")


def _errors(
    request: dict[str, Any], limits: Limits | None = None, deadline: float | None = None
) -> list[Any]:
    out = []
    for core, on in (("native", True), ("native", False), ("python", False)):
        native.select(core)
        lean.LEAN = on
        out.append(_error(request, limits, deadline))
    lean.LEAN = True
    return out


def _broken(kind: str) -> dict[str, Any]:
    request = {**crafted(), "preset": "matchtir-km"}
    rollouts = request["groups"][1]["rollouts"]
    if kind == "unknown_key":
        rollouts[3] = {**rollouts[3], "bogus": 1}
    elif kind == "two_forms":
        rollouts[2] = {"text": "x", "turns": []}
    elif kind == "too_many_turns":
        rollouts[1] = {"turns": [{"answer": "a"}] * (DEFAULT_LIMITS.max_turns_per_rollout + 1)}
    elif kind == "bad_group":  # a later group's error after an earlier group's rollout error
        request["groups"][0]["rollouts"][0] = {"text": 3}
        request["groups"][1]["gold"] = 5
    elif kind == "unknown_ref":
        request["groups"][0] = {"id": "r", "gold_ref": "nowhere", "rollouts": [{"text": "x"}]}
    elif kind == "ref_to_a_later_gold":  # known only once the group after it is read: still unknown
        ref = compile_gold(request["groups"][1]["gold"]).ref
        request["groups"][0] = {"id": "r", "gold_ref": ref, "rollouts": [{"text": "x"}]}
    return request


@pytest.mark.parametrize(
    "kind", ["unknown_key", "two_forms", "too_many_turns", "bad_group", "unknown_ref", "ref_to_a_later_gold"]
)
def test_errors_are_the_same(kind: str, lean_runs: list[bool]) -> None:
    got, off, ref = _errors(_broken(kind))
    assert got == off == ref


def test_past_deadline_raises(lean_runs: list[bool]) -> None:
    native.select("native")
    with pytest.raises(DeadlineExceeded):
        engine.score({**build("text"), "preset": "matchtir-km"}, deadline=time.monotonic() - 1)


def test_cell_budget_error_matches(lean_runs: list[bool]) -> None:
    """Over the budget the lean path raises the same error as the others (its call answers the count)."""
    request = {**crafted(), "preset": "matchtir-km"}
    errors = _errors(request, dataclasses.replace(DEFAULT_LIMITS, max_match_cells=3))
    assert lean_runs == [True]
    assert errors[0] == errors[1] == errors[2] and "max_match_cells" in errors[0][1]


def test_the_switch_turns_it_off(lean_runs: list[bool]) -> None:
    request = {**build("turns"), "preset": "matchtir-km"}
    native.select("native")
    lean.LEAN = False
    engine.score(request)
    assert lean_runs == []
    lean.LEAN = True
    engine.score(request)
    assert lean_runs == [True]


def test_a_value_it_cannot_key_hands_the_request_back(lean_runs: list[bool]) -> None:
    """A value that is not UTF-8 (a lone surrogate): the lean call answers ``None``, the per-stage path
    scores the request, with the same body as with the lean path off and as the Python core."""
    request = {**crafted(), "preset": "matchtir-km"}
    request["groups"][0]["rollouts"].append(
        {"turns": [{"tool_calls": [{"name": "Get", "arguments": {"x": "\ud800"}}]}]}
    )
    results = three(request, lean_runs)
    assert lean_runs == [False]
    assert_same(results)


def test_a_request_handed_back_is_read_once(lean_runs: list[bool], monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-stage path starts from the groups the lean path read: each gold is compiled once."""
    request = {**crafted(), "preset": "matchtir-km"}
    request["groups"][1]["rollouts"].append(
        {"turns": [{"tool_calls": [{"name": "Get", "arguments": {"x": "\ud800"}}]}]}
    )
    calls: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return compile_gold(*args, **kwargs)

    monkeypatch.setattr(request_module, "compile_gold", counted)
    native.select("native")
    got = engine.score(copy.deepcopy(request))
    assert lean_runs == [False] and len(calls) == len(request["groups"])
    native.select("python")
    assert not list(differences(engine.score(copy.deepcopy(request)).body, got.body, "body"))
