"""Real model output (SCORING.md §1, format settings; API.md warnings): Qwen3 and Hermes chat-template text
in `text` rollouts and in `messages` content, think blocks, answers with and without tags."""

from __future__ import annotations

import json
from typing import Any

import pytest
from turnscore.core import engine
from turnscore.core.config import resolve
from turnscore.core.diagnostics import CODES
from turnscore.core.errors import ConfigError, LimitExceeded
from turnscore.core.limits import Limits

GOLD = {
    "calls": [
        {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}},
        {"name": "get_time", "arguments": {"timezone": "Europe/Paris"}},
    ],
    "answer": "It is 15 degrees and 14:00 in Paris.",
}
SEP = "\n<|im_start|>assistant\n"


def hermes(name: str, arguments: dict[str, Any]) -> str:
    """One call as the Hermes / Qwen chat templates render it."""
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


CALL_W = hermes("get_weather", {"city": "Paris", "unit": "celsius"})
CALL_T = hermes("get_time", {"timezone": "Europe/Paris"})
FAKE = hermes("delete_account", {"user": "me"})


def qwen3_turn(think: str, body: str) -> str:
    """An assistant turn of the Qwen3 chat template (thinking on)."""
    return f"<think>\n{think}\n</think>\n\n{body}"


def tool_reply(content: str) -> str:
    return f"<|im_end|>\n<|im_start|>user\n<tool_response>\n{content}\n</tool_response><|im_end|>"


QWEN3_TEXT = (
    qwen3_turn("The user wants the weather and the time. Both tools.", f"{CALL_W}\n{CALL_T}")
    + tool_reply('{"temperature": 15}')
    + SEP
    + qwen3_turn("I have both.", "It is 15 degrees and 14:00 in Paris.")
    + "<|im_end|>"
)


def score(rollouts: list[dict[str, Any]], config: Any = None, preset: str | None = None, **kw: Any) -> Any:
    req: dict[str, Any] = {"groups": [{"gold": kw.pop("gold", GOLD), "rollouts": rollouts}]}
    if kw.pop("explain", False):
        req["explain"] = True
    if config is not None:
        req["config"] = config
    if preset is not None:
        req["preset"] = preset
    return engine.score(req, **kw)


def rows(result: Any) -> list[dict[str, Any]]:
    return result.body["groups"][0]["rollouts"]


def codes(result: Any) -> dict[str, dict[str, Any]]:
    return {w["code"]: w for w in result.body["warnings"]}


LAST_TEXT = {"format": {"answer": "last_text"}}


# -- text ----------------------------------------------------------------------------------------------------


def test_qwen3_text_calls_and_plain_answer() -> None:
    tag = score([{"text": QWEN3_TEXT}], explain=True)
    last = score([{"text": QWEN3_TEXT}], LAST_TEXT)
    for r in (rows(tag)[0], rows(last)[0]):
        assert r["num_calls"] == 2 and r["turn_rewards"][0] == pytest.approx(1.0)
    assert rows(tag)[0]["outcome_reward"] == 0.0  # no <answer> tag
    assert codes(tag)["answer_missing"]["message"].endswith('format.answer to "last_text"')
    assert rows(last)[0]["outcome_reward"] == pytest.approx(1.0)  # the plain final text is the answer
    assert last.body["warnings"] == []
    assert last.body["config"]["format"]["answer"] == "last_text"


def test_tagged_answer_is_read_in_both_modes() -> None:
    text = QWEN3_TEXT.replace("It is 15 degrees and 14:00 in Paris.<|im_end|>", "<answer>15 degrees</answer>")
    for config in (None, LAST_TEXT):
        r = rows(score([{"text": text}], config))[0]
        # token-set F1 of "15 degrees" against the 9 tokens of the gold ("14:00" is "14", "00")
        assert r["outcome_reward"] == pytest.approx(2 * (2 / 9) / (1 + 2 / 9))


def test_call_inside_think_is_not_a_call() -> None:
    text = qwen3_turn(f"Should I call {FAKE}? No.", f"{CALL_W}\n{CALL_T}") + "<|im_end|>"
    result = score([{"text": text}], explain=True)
    r = rows(result)[0]
    assert [m["name"] for m in r["matches"]] == ["get_weather", "get_time"]
    assert r["turn_rewards"] == [pytest.approx(1.0)]
    w = codes(result)["calls_in_think_ignored"]
    assert w["count"] == 1 and w["path"] == "groups[0].rollouts[0].text"
    # off: the reference code's reading, every block is a call (an unmatched one here)
    for kw in ({"config": {"format": {"strip_think": False}}}, {"preset": "matchtir-reference-km"}):
        r = rows(score([{"text": text}], explain=True, **kw))[0]  # type: ignore[arg-type]
        assert [m["name"] for m in r["matches"]] == ["delete_account", "get_weather", "get_time"]


def test_only_calls_in_think_gives_no_calls_and_a_warning() -> None:
    text = qwen3_turn(f"{CALL_W}", "Let me check.") + "<|im_end|>"
    result = score([{"text": text}])
    assert rows(result)[0]["num_calls"] == 0
    assert set(codes(result)) == {"calls_in_think_ignored", "answer_missing"}


def test_unclosed_think_drops_the_rest_of_the_turn() -> None:
    truncated = "<think>\nI will call " + CALL_W + " and then keep thinking"
    result = score([{"text": truncated + "<|im_end|>" + SEP + CALL_T}])
    r = rows(result)[0]
    assert r["num_turns"] == 2 and r["num_calls"] == 1  # the second turn's call only
    assert r["turn_rewards"][0] == 0.0 and r["turn_rewards"][1] == pytest.approx(1.0)
    assert codes(result)["think_unclosed"]["count"] == 1
    assert codes(result)["calls_in_think_ignored"]["count"] == 1


def test_think_opened_by_the_prompt() -> None:
    """Templates that end the generation prompt with "<think>\\n": the response opens with the think text and
    its first "</think>" has no opening tag."""
    text = f"Maybe {FAKE} first?\n</think>\n\n{CALL_W}\n{CALL_T}<|im_end|>"
    r = rows(score([{"text": text}], explain=True))[0]
    assert [m["name"] for m in r["matches"]] == ["get_weather", "get_time"]


def test_hermes_text_without_think_is_unchanged() -> None:
    text = f"{CALL_W}\n{CALL_T}<|im_end|>" + SEP + "<answer>It is 15 degrees and 14:00 in Paris.</answer>"
    on, off = score([{"text": text}]), score([{"text": text}], {"format": {"strip_think": False}})
    assert rows(on) == rows(off)
    assert rows(on)[0]["return"] == pytest.approx(2.0) and on.body["warnings"] == []


# -- messages content ----------------------------------------------------------------------------------------


def structured(*calls: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"type": "function", "function": {"name": n, "arguments": json.dumps(a)}, "id": f"c{i}"}
        for i, (n, a) in enumerate(calls)
    ]


def test_calls_written_in_content_equal_structured_calls() -> None:
    answer = {
        "role": "assistant",
        "content": "<think>\nDone.\n</think>\n\n<answer>15 degrees, 14:00</answer>",
    }
    tool = {"role": "tool", "content": "15"}
    text_form = [
        {"role": "assistant", "content": qwen3_turn("Both tools.", f"{CALL_W}\n{CALL_T}")},
        tool,
        answer,
    ]
    structured_form = [
        {
            "role": "assistant",
            "content": "<think>\nBoth tools.\n</think>\n\n",
            "tool_calls": structured(
                ("get_weather", {"city": "Paris", "unit": "celsius"}),
                ("get_time", {"timezone": "Europe/Paris"}),
            ),
        },
        tool,
        answer,
    ]
    result = score([{"messages": text_form}, {"messages": structured_form}])
    a, b = rows(result)
    assert a["num_calls"] == b["num_calls"] == 2
    assert a["turn_rewards"] == b["turn_rewards"] and a["outcome_reward"] == b["outcome_reward"] > 0
    assert result.body["warnings"] == []


def test_structured_calls_win_over_calls_in_content() -> None:
    msg = {
        "role": "assistant",
        "content": CALL_W,
        "tool_calls": structured(("get_time", {"timezone": "UTC"})),
    }
    r = rows(score([{"messages": [msg]}], explain=True))[0]
    assert [m["name"] for m in r["matches"]] == ["get_time"]  # the content is not read for calls
    empty = {**msg, "tool_calls": []}  # an empty list is no structured calls: the content is read
    r = rows(score([{"messages": [empty]}], explain=True))[0]
    assert [m["name"] for m in r["matches"]] == ["get_weather"]


def test_content_parts_and_think_in_content() -> None:
    parts = [{"type": "text", "text": f"<think>{FAKE}</think>"}, {"type": "text", "text": CALL_T}]
    result = score([{"messages": [{"role": "assistant", "content": parts}]}], explain=True)
    assert [m["name"] for m in rows(result)[0]["matches"]] == ["get_time"]
    assert codes(result)["calls_in_think_ignored"]["path"] == "groups[0].rollouts[0].messages[0].content"


def test_plain_chat_answer_with_last_text() -> None:
    msgs = [
        {"role": "user", "content": "Weather and time in Paris?"},
        {"role": "assistant", "content": f"{CALL_W}\n{CALL_T}"},
        {"role": "tool", "content": "15"},
        {"role": "assistant", "content": "<think>ok</think>It is 15 degrees and 14:00 in Paris."},
    ]
    assert rows(score([{"messages": msgs}]))[0]["outcome_reward"] == 0.0
    assert rows(score([{"messages": msgs}], LAST_TEXT))[0]["outcome_reward"] == pytest.approx(1.0)
    # a trajectory that stops after calling has no answer, whatever the mode
    r = rows(score([{"messages": msgs[:3]}], LAST_TEXT))[0]
    assert r["outcome_reward"] == 0.0 and r["num_calls"] == 2


def test_failed_call_attempt_is_not_an_answer() -> None:
    attempts = [
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}',  # never closed
        '{"name": "get_weather", "arguments": {"city": "Paris"}}',  # raw JSON, no tags
    ]
    result = score([{"text": t} for t in attempts], LAST_TEXT)
    assert [r["outcome_reward"] for r in rows(result)] == [0.0, 0.0]
    w = codes(result)
    assert w["no_calls_parsed_from_text"]["count"] == 2 and w["answer_missing"]["count"] == 2
    assert "hint" not in w["answer_missing"]["message"] and "last_text" not in w["answer_missing"]["message"]


def test_content_calls_over_max_calls_are_scored_as_malformed_not_refused() -> None:
    """Calls the model wrote beyond max_calls_per_rollout are dropped, counted malformed and warned (never a
    refused request); structured ones over it are the client's error."""
    limits = Limits(max_calls_per_rollout=2)
    content = "\n".join([CALL_W] * 5)
    result = score([{"messages": [{"role": "assistant", "content": content}]}], limits=limits)
    r = rows(result)[0]
    assert r["num_calls"] == 2 and r["malformed_calls"] == 3
    (over,) = [w for w in result.body["warnings"] if w["code"] == "calls_over_limit"]
    assert over["path"] == "groups[0].rollouts[0].messages" and over["count"] == 3
    many = structured(*[("get_weather", {})] * 3)
    with pytest.raises(LimitExceeded):
        score([{"messages": [{"role": "assistant", "content": "", "tool_calls": many}]}], limits=limits)


# -- warnings ------------------------------------------------------------------------------------------------


def test_warnings_aggregate_over_the_request() -> None:
    bad = {"text": "<tool_call>{not json}</tool_call>\n" + CALL_W}
    groups = [
        {"id": "a", "gold": GOLD, "rollouts": [{"text": CALL_W}] * 3},
        {"id": "b", "gold": GOLD, "rollouts": [{"text": CALL_W}, *[bad] * 511]},
    ]
    result = engine.score({"groups": groups, "config": {"outcome": "none"}})
    (w,) = result.body["warnings"]
    assert w == {
        "code": "malformed_calls",
        "path": "groups[1].rollouts[1].text",
        "count": 511,
        "message": w["message"],
    }
    assert "malformed_calls" in w["message"]
    assert result.stats.warnings == {"malformed_calls": 511}
    assert result.stats.rollout_warnings == [0] * 4 + [1] * 511
    assert sum(r["malformed_calls"] for r in result.body["groups"][1]["rollouts"]) == 511


def test_warning_paths_for_every_form() -> None:
    rollouts = [
        {"turns": [{"tool_calls": [{"name": "get_time"}]}, {"tool_calls": [{"arguments": {}}]}]},
        {
            "messages": [
                {"role": "assistant", "content": "", "tool_calls": [{"function": {"arguments": "{}"}}]}
            ]
        },
        {"messages": [{"role": "model", "content": CALL_W}]},
    ]
    result = score(rollouts, {"outcome": "none"})
    assert codes(result)["malformed_calls"] == {
        "code": "malformed_calls",
        "path": "groups[0].rollouts[0].turns[1].tool_calls",
        "count": 2,
        "message": codes(result)["malformed_calls"]["message"],
    }
    assert codes(result)["no_assistant_messages"]["path"] == "groups[0].rollouts[2].messages"
    assert set(codes(result)) == {
        "malformed_calls",
        "no_assistant_messages",
    }  # outcome none: no answer_missing


def test_wrong_format_shows_up() -> None:
    """Qwen-style output scored with a format that expects other tags: no calls, and it says so."""
    cfg = {"format": {"tool_call_pattern": "<function_call>(.*?)</function_call>"}}
    result = score([{"text": QWEN3_TEXT}] * 4, cfg)
    assert all(r["num_calls"] == 0 for r in rows(result))
    w = codes(result)["no_calls_parsed_from_text"]
    assert w["count"] == 4 and w["path"] == "groups[0].rollouts[0].text"


def test_toolrl_missing_think() -> None:
    text = f"{CALL_W}<|im_end|>"
    result = score([{"text": text}, {"text": "<think>x</think>\n" + text}], preset="toolrl")
    w = codes(result)["toolrl_format_missing_think"]
    assert w["count"] == 1 and w["path"] == "groups[0].rollouts[0].text"
    assert [r["toolrl"]["format"] for r in rows(result)] == [0.0, 0.0]  # both lack the gold's answer block


def test_no_warnings_on_clean_output_and_on_advantages() -> None:
    text = f"{CALL_W}\n{CALL_T}<|im_end|>" + SEP + "<answer>It is 15 degrees and 14:00 in Paris.</answer>"
    assert score([{"text": text}]).body["warnings"] == []
    body = engine.advantages({"groups": [{"rollouts": [{"turn_rewards": [1.0]}]}]}).body
    assert body["warnings"] == []


def test_codes_are_a_fixed_set() -> None:
    assert set(CODES) >= {
        "malformed_calls",
        "no_calls_parsed_from_text",
        "calls_in_think_ignored",
        "think_unclosed",
        "answer_missing",
        "toolrl_format_missing_think",
        "no_assistant_messages",
    }
    assert set(CODES.values()) <= {"call", "turn", "rollout"}


# -- settings ------------------------------------------------------------------------------------------------


def test_format_settings_per_preset() -> None:
    fmt = {name: resolve(name, None).format for name in engine.presets()}
    assert fmt["matchtir-km"].strip_think and fmt["matchtir-ot"].strip_think
    assert not fmt["matchtir-reference-km"].strip_think and not fmt["matchtir-reference-ot"].strip_think
    assert not fmt["toolrl"].strip_think
    assert all(f.answer == "tag" for f in fmt.values())
    assert resolve("toolrl", {"format": "qwen"}).format.strip_think
    assert not resolve(None, {"format": {"strip_think": False}}).format.strip_think


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ({"strip_think": "yes"}, "format.strip_think"),
        ({"answer": "last"}, "format.answer"),
        ({"turn_end": ""}, "format.turn_end"),
    ],
)
def test_bad_format_settings(value: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        resolve(None, {"format": value})
    assert err.value.details["key"] == key
