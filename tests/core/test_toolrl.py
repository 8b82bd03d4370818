"""ToolRL reward (SCORING.md §8)."""

from __future__ import annotations

import pytest
from turnscore.core import engine


def toolrl_row(text: str, gold: dict, **kw) -> dict:
    req = {"preset": "toolrl", "groups": [{"gold": gold, "rollouts": [{"text": text}]}], **kw}
    return engine.score(req).body["groups"][0]["rollouts"][0]


GOLD = {
    "calls": [{"name": "a", "arguments": {"x": 1, "y": "s"}}, {"name": "b", "arguments": {}}],
    "answer": None,
}


def tc(*lines: str) -> str:
    return "<tool_call>\n" + "\n".join(lines) + "\n</tool_call>"


def test_exact_list_gets_max_and_format():
    text = "<think>ok</think>\n" + tc(
        '{"name": "a", "parameters": {"x": 1, "y": "s"}}', '{"name": "b", "parameters": {}}'
    )
    r = toolrl_row(text, GOLD)
    assert r["toolrl"] == {"format": 1.0, "correctness": 3.0}
    assert r["outcome_reward"] == 4.0 and r["return"] == 4.0


def test_partial_credit_formula():
    text = "<think>ok</think>\n" + tc('{"name": "a", "parameters": {"x": 1, "y": "t"}}')
    r = toolrl_row(text, GOLD)
    # names: |{a} ∩ {a, b}| / (1 + 2 - 1) = 0.5; gold a: Jaccard 1 + 1 correct value = 2; gold b: none
    score = 0.5 + 2.0
    local_max = 1 + (1 + 2) + (1 + 0)
    assert r["toolrl"]["correctness"] == pytest.approx(6 * score / local_max - 3)


def test_no_block_or_malformed_line_gives_min_and_no_gold_calls_zero():
    assert toolrl_row("<think>x</think>", GOLD)["toolrl"]["correctness"] == -3.0
    bad = "<think>x</think>\n" + tc('{"name": "a", "parameters": {"x": 1, "y": "s"}}', "{oops")
    assert toolrl_row(bad, GOLD)["toolrl"]["correctness"] == -3.0
    assert toolrl_row("<think>x</think>", {"calls": [], "answer": "hi"})["toolrl"]["correctness"] == 0.0


def test_names_are_case_sensitive_and_values_python():
    gold = {"calls": [{"name": "a", "arguments": {"f": True}}], "answer": None}
    assert (
        toolrl_row("<think>x</think>\n" + tc('{"name": "a", "parameters": {"f": 1}}'), gold)["toolrl"][
            "correctness"
        ]
        == 3.0
    )
    r = toolrl_row("<think>x</think>\n" + tc('{"name": "A", "parameters": {"f": true}}'), gold)
    assert r["toolrl"]["correctness"] == pytest.approx(-3.0)


def test_format_rules():
    good_call = "<think>x</think>\n" + tc('{"name": "b", "parameters": {}}')
    assert toolrl_row(good_call, GOLD)["toolrl"]["format"] == 1.0
    assert toolrl_row(tc('{"name": "b", "parameters": {}}'), GOLD)["toolrl"]["format"] == 0.0
    both_gold = {"calls": [{"name": "b", "arguments": {}}], "answer": "hello"}
    ok = good_call + "\n<response>hello</response>"
    assert toolrl_row(ok, both_gold)["toolrl"]["format"] == 1.0
    assert (
        toolrl_row("<think>x</think><response>hi</response>" + tc("{}"), both_gold)["toolrl"]["format"] == 0.0
    )
    assert toolrl_row(good_call + " trailing junk", GOLD)["toolrl"]["format"] == 0.0
    assert toolrl_row(good_call + tc("{}"), GOLD)["toolrl"]["format"] == 0.0


def test_dynamic_schedule_bounds():
    text = "<think>ok</think>\n" + tc(
        '{"name": "a", "parameters": {"x": 1, "y": "s"}}', '{"name": "b", "parameters": {}}'
    )
    r0 = toolrl_row(text, GOLD, config={"toolrl_schedule": True}, step=0)
    assert r0["toolrl"] == {"format": 2.0, "correctness": 2.0}
    r = toolrl_row(text, GOLD, config={"toolrl_schedule": True}, step=75)
    assert r["toolrl"] == {"format": pytest.approx(1.5), "correctness": pytest.approx(2.5)}
    bad = toolrl_row("no think", GOLD, config={"toolrl_schedule": True}, step=0)
    assert bad["toolrl"] == {"format": -2.0, "correctness": -2.0}
    late = toolrl_row("no think", GOLD, config={"toolrl_schedule": True}, step=10_000)
    assert late["toolrl"] == {"format": -1.0, "correctness": -3.0}


def test_trajectory_estimator_over_group():
    good = "<think>ok</think>\n" + tc(
        '{"name": "a", "parameters": {"x": 1, "y": "s"}}', '{"name": "b", "parameters": {}}'
    )
    req = {"preset": "toolrl", "groups": [{"gold": GOLD, "rollouts": [{"text": good}, {"text": "nothing"}]}]}
    rows = engine.score(req).body["groups"][0]["rollouts"]
    assert rows[0]["advantages"] == [rows[0]["trajectory_advantage"]]
    assert rows[0]["trajectory_advantage"] == pytest.approx(-rows[1]["trajectory_advantage"])
