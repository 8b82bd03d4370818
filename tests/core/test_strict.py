"""Strict requests: an unknown key anywhere is an InvalidRequest naming its path, with a suggestion; a
gold-data record is read as its gold by the one core function."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from turnscore.core import engine, keys
from turnscore.core.errors import ConfigError, InvalidRequest, UnknownKey
from turnscore.core.gold import compile_gold

from tests.support.gold import gold_records

CALL = {"name": "get_weather", "arguments": {"city": "Paris"}}
GOLD = {"calls": [CALL], "answer": "sunny"}
TEXT = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call><answer>sunny</answer>'


def request(**group: Any) -> dict[str, Any]:
    return {"groups": [{"gold": GOLD, "rollouts": [{"text": TEXT}], **group}]}


def unknown(req: dict[str, Any], score: bool = True) -> dict[str, Any]:
    with pytest.raises(UnknownKey) as info:
        (engine.score if score else engine.advantages)(req)
    details = info.value.details
    assert info.value.code == "invalid_request"
    assert details["path"] in info.value.message and details["unknown"] in info.value.message
    return details


@pytest.mark.parametrize(
    ("mutate", "path", "suggestion"),
    [
        (lambda r: r.update(prest="toolrl"), "prest", "preset"),
        (lambda r: r.update(explian=True), "explian", "explain"),
        (lambda r: r["groups"][0].update(rollout=[]), "groups[0].rollout", "rollouts"),
        (lambda r: r["groups"][0].update(gold={"call": [CALL]}), "groups[0].gold.call", "calls"),
        (lambda r: r["groups"][0].update(gold={"tool_calls": [CALL]}), "groups[0].gold.tool_calls", "calls"),
        (
            lambda r: r["groups"][0].update(gold={"calls": [{"name": "f", "args": {}}]}),
            "groups[0].gold.calls[0].args",
            "arguments",
        ),
        (
            lambda r: r["groups"][0].update(
                gold={"turns": [[{"type": "function", "function": {"name": "f", "argumnts": {}}}]]}
            ),
            "groups[0].gold.turns[0][0].function.argumnts",
            "arguments",
        ),
        (
            lambda r: r["groups"][0].update(references=[GOLD, {**GOLD, "anwser": "x"}], gold=None),
            "groups[0].references[1].anwser",
            "answer",
        ),
        (
            lambda r: r["groups"][0]["rollouts"].append({"text": "", "txt": ""}),
            "groups[0].rollouts[1].txt",
            "text",
        ),
        (
            lambda r: r["groups"][0].update(rollouts=[{"turns": [{"tool_call": [CALL]}]}]),
            "groups[0].rollouts[0].turns[0].tool_call",
            "tool_calls",
        ),
        (
            lambda r: r["groups"][0].update(
                rollouts=[{"turns": [{"tool_calls": [{"name": "f", "args": {}}]}]}]
            ),
            "groups[0].rollouts[0].turns[0].tool_calls[0].args",
            "arguments",
        ),
        (
            lambda r: r["groups"][0].update(
                rollouts=[{"messages": [{"role": "assistant", "contnet": "hi"}]}]
            ),
            "groups[0].rollouts[0].messages[0].contnet",
            "content",
        ),
        (
            lambda r: r["groups"][0].update(gold={"gold": {"turns": [[CALL]]}, "accepted_value": {}}),
            "groups[0].gold.accepted_value",
            "accepted_values",
        ),
        (
            lambda r: r["groups"][0].update(gold={"gold": {"turns": [[CALL]], "extra": 1}}),
            "groups[0].gold.gold.extra",
            None,
        ),
    ],
)
def test_unknown_keys_name_their_path_and_a_suggestion(mutate, path, suggestion):
    req = request()
    mutate(req)
    details = unknown(req)
    assert details["path"] == path
    assert details["suggestion"] == suggestion
    assert details["unknown"] == path.rsplit(".", 1)[-1]


def test_advantages_rows_and_groups_are_strict():
    row = {"turn_rewards": [1.0], "outcome_reward": 0.5}
    ok = {"groups": [{"id": 1, "rollouts": [row]}]}
    engine.advantages(ok)
    bad = copy.deepcopy(ok)
    bad["groups"][0]["rollouts"][0]["outcome"] = 1.0
    assert unknown(bad, score=False)["path"] == "groups[0].rollouts[0].outcome"
    bad = copy.deepcopy(ok)
    bad["groups"][0]["gold"] = GOLD  # advantages groups carry no gold
    assert unknown(bad, score=False)["path"] == "groups[0].gold"


def test_chat_message_keys_a_real_log_carries_are_accepted():
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "weather?", "name": "alice"},
        {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "reasoning_content": "call the tool",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "index": 0,
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "name": "get_weather", "content": "sunny"},
        {"role": "assistant", "content": "<answer>sunny</answer>", "function_call": None, "annotations": []},
    ]
    body = engine.score(request(rollouts=[{"messages": messages}])).body
    assert body["groups"][0]["rollouts"][0]["num_calls"] == 1


def test_config_unknown_key_has_a_suggestion():
    with pytest.raises(ConfigError) as info:
        engine.score({**request(), "config": {"gama": 0.5}})
    assert info.value.details["path"] == "config.gama"
    assert info.value.details["suggestion"] == "gamma"
    assert "did you mean 'gamma'" in info.value.message
    with pytest.raises(ConfigError) as info:
        engine.score({**request(), "config": {"format": {"stlye": "qwen"}}})
    assert info.value.details["suggestion"] == "style"


@pytest.mark.parametrize(
    "gold", [{}, {"answer": None}, {"calls": None, "turns": None}, {"accepted_values": None}]
)
def test_gold_with_neither_calls_turns_nor_answer_is_invalid(gold):
    with pytest.raises(InvalidRequest) as info:
        engine.score(request(gold=gold))
    assert info.value.details["path"] == "groups[0].gold"


def test_gold_with_an_answer_only_or_no_calls_is_valid():
    engine.score(request(gold={"answer": "sunny"}))
    engine.score(request(gold={"calls": [], "answer": None}))


@pytest.mark.parametrize("record", gold_records(per_source=2, sample=True), ids=lambda r: r["id"])
def test_a_gold_data_record_is_its_gold(record):
    trace = {**record["gold"], "accepted_values": record["accepted_values"]}
    assert compile_gold(record).ref == compile_gold(trace).ref
    rollouts = [{"text": TEXT}, {"turns": [{"tool_calls": c} for c in record["gold"]["turns"]]}]
    as_record = engine.score({"groups": [{"gold": record, "rollouts": rollouts}]}).body
    as_trace = engine.score({"groups": [{"gold": trace, "rollouts": rollouts}]}).body
    assert as_record == as_trace
    assert as_record["groups"][0]["gold_ref"] == compile_gold(trace).ref
    # the exact gold calls score the best possible return: the record was not read as "no gold"
    perfect, other = as_record["groups"][0]["rollouts"][1], as_record["groups"][0]["rollouts"][0]
    assert perfect["return"] > other["return"]
    refs = engine.score({"groups": [{"references": [record, trace], "rollouts": rollouts}]}).body
    assert refs["groups"][0]["gold_refs"] == [compile_gold(trace).ref] * 2


def test_record_accepted_values_in_two_places_is_invalid():
    record = {"gold": {"calls": [CALL], "accepted_values": [None]}, "accepted_values": [None]}
    with pytest.raises(InvalidRequest) as info:
        compile_gold(record, "gold")
    assert info.value.details["path"] == "gold.accepted_values"


def test_gold_calls_and_turns_together_are_invalid():
    with pytest.raises(InvalidRequest):
        compile_gold({"calls": [CALL], "turns": [[CALL]]})
    with pytest.raises(InvalidRequest):
        compile_gold({"turns": [[CALL]], "turn_sizes": [1]})


def test_suggestions():
    assert keys.suggestion("prest", keys.SCORE_REQUEST) == "preset"
    assert keys.suggestion("args", keys.TOOL_CALL) == "arguments"
    assert keys.suggestion("tool_call", keys.TURN) == "tool_calls"
    assert keys.suggestion("call", keys.GOLD_TRACE) == "calls"
    assert keys.suggestion("zzzzzz", keys.GOLD_TRACE) is None
    assert keys.suggestion("params", keys.FUNCTION) == "arguments"


@pytest.mark.parametrize("gid", [True, False, [1], {"a": 1}])
def test_group_id_is_a_string_a_number_or_null(gid):
    with pytest.raises(InvalidRequest) as info:
        engine.score(request(id=gid))
    assert info.value.details["path"] == "groups[0].id"
    with pytest.raises(InvalidRequest):
        engine.advantages({"groups": [{"id": gid, "rollouts": []}]})
