"""Input forms (SCORING.md §1): text, messages, turns; malformed calls are data."""

from __future__ import annotations

import pytest
from turnscore.core.config import resolve
from turnscore.core.errors import InvalidRequest, LimitExceeded
from turnscore.core.limits import DEFAULT_LIMITS
from turnscore.core.parse import parse_rollout

SEP = "\n<|im_start|>assistant\n"
QWEN = resolve(None, None).format
TOOLRL = resolve("toolrl", None).format
LIM = DEFAULT_LIMITS.rollout()


def parse(obj, fmt=QWEN):
    return parse_rollout(obj, fmt, LIM, "r")


def block(obj: str) -> str:
    return f"<tool_call>\n{obj}\n</tool_call>"


def test_text_turns_calls_answers():
    text = (
        "<think>a</think>"
        + block('{"name": "f", "arguments": {"x": 1}}')
        + block('{"name": "g", "arguments": "{\\"y\\": 2}"}')
        + "<|im_end|>\n<|im_start|>user\n<tool_response>ok</tool_response><|im_end|>"
        + SEP
        + "<answer> done </answer><|im_end|>"
    )
    p = parse({"text": text})
    assert len(p.turns) == 2
    assert [(c.name, c.arguments) for c in p.turns[0].calls] == [("f", {"x": 1}), ("g", {"y": 2})]
    assert p.turns[0].answer is None
    assert p.turns[1].answer == " done "
    assert p.malformed == 0


def test_malformed_blocks_are_counted_not_raised():
    text = (
        block("{not json")
        + block('{"arguments": {}}')
        + block('{"name": 3}')
        + block('["f"]')
        + block('{"name": "ok", "arguments": "not an object"}')
    )
    p = parse({"text": text})
    assert p.malformed == 4
    assert [(c.name, c.arguments) for c in p.turns[0].calls] == [("ok", {})]


def test_parameters_alias_and_openai_function_shape():
    p = parse({"text": block('{"name": "f", "parameters": {"a": 1}}')})
    assert p.turns[0].calls[0].arguments == {"a": 1}
    p = parse(
        {
            "turns": [
                {"tool_calls": [{"type": "function", "function": {"name": "f", "arguments": '{"b": 2}'}}]}
            ]
        }
    )
    assert p.turns[0].calls[0].arguments == {"b": 2}


def test_empty_text_is_one_empty_turn_and_leading_separator_opens_none():
    assert len(parse({"text": ""}).turns) == 1
    assert len(parse({"text": SEP + "x"}).turns) == 1


def test_toolrl_lines_layout_and_response_tag():
    text = (
        "<think>t</think>\n<tool_call>\n"
        + '{"name": "a", "parameters": {"x": 1}}\n{"name": "b", "parameters": {}}\n{oops\n'
        + "</tool_call>\n<response>hi</response>"
    )
    p = parse({"text": text}, TOOLRL)
    assert [c.name for c in p.turns[0].calls] == ["a", "b"]
    assert p.malformed == 1
    assert p.turns[0].answer == "hi"


def test_custom_separator_and_patterns():
    fmt = resolve(
        None,
        {
            "format": {
                "turn_separator": "###",
                "tool_call_pattern": r"<call>(.*?)</call>",
                "answer_pattern": r"ANSWER: (\w+)",
            }
        },
    ).format
    p = parse({"text": '<call>{"name": "f"}</call>###ANSWER: yes'}, fmt)
    assert [c.name for c in p.turns[0].calls] == ["f"]
    assert p.turns[1].answer == "yes"


def test_messages_form():
    msgs = [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"function": {"arguments": "{}"}},
            ],
        },
        {"role": "tool", "content": "<answer>not from the model</answer>"},
        {"role": "assistant", "content": [{"type": "text", "text": "<answer>42</answer>"}]},
    ]
    p = parse({"messages": msgs})
    assert len(p.turns) == 2
    assert p.turns[0].calls[0].name == "f"
    assert p.malformed == 1
    assert p.turns[1].answer == "42"


def test_turns_form():
    p = parse(
        {"turns": [{"tool_calls": [{"name": "f", "arguments": {"x": 1}}, "junk"]}, {"answer": "a"}, {}]}
    )
    assert len(p.turns) == 3
    assert p.malformed == 1
    assert p.turns[1].answer == "a"


@pytest.mark.parametrize(
    ("obj", "path"),
    [
        ("text", "r"),
        ({}, "r"),
        ({"text": "a", "turns": []}, "r"),
        ({"text": 5}, "r.text"),
        ({"messages": {}}, "r.messages"),
        ({"messages": [1]}, "r.messages[0]"),
        ({"messages": [{"content": "x"}]}, "r.messages[0].role"),
        ({"messages": [{"role": "assistant", "tool_calls": "x"}]}, "r.messages[0].tool_calls"),
        ({"turns": [[]]}, "r.turns[0]"),
        ({"turns": [{"answer": 3}]}, "r.turns[0].answer"),
    ],
)
def test_structural_errors_name_the_path(obj, path):
    with pytest.raises(InvalidRequest) as err:
        parse(obj)
    assert err.value.path == path


def test_limits():
    from turnscore.core.limits import RolloutLimits

    with pytest.raises(LimitExceeded) as err:
        parse_rollout({"text": "x" * 11}, QWEN, RolloutLimits(5, 5, 10), "r")
    assert err.value.limit == "max_text_chars"
    with pytest.raises(LimitExceeded) as err:
        parse_rollout({"turns": [{}] * 6}, QWEN, RolloutLimits(5, 5, 10), "r")
    assert err.value.limit == "max_turns_per_rollout"
    with pytest.raises(LimitExceeded) as err:
        parse_rollout({"turns": [{"tool_calls": [{"name": "f"}] * 6}]}, QWEN, RolloutLimits(5, 5, 10), "r")
    assert err.value.limit == "max_calls_per_rollout"
