"""Issue 19 in the core: work limits checked before matching, the deadline, nested JSON in strings, RE2."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from turnscore.core import engine
from turnscore.core.calls import TooDeep, decode_arguments, within_depth
from turnscore.core.errors import ConfigError, DeadlineExceeded, InvalidRequest, LimitExceeded
from turnscore.core.limits import MAX_NESTED_JSON_DEPTH
from turnscore.core.tags import RegexScanner, TagScanner, scanner

GOLD = {"calls": [{"name": "f", "arguments": {"x": 1}}, {"name": "f", "arguments": {"x": 2}}]}


def block(x: int) -> str:
    return f'<tool_call>{{"name": "f", "arguments": {{"x": {x}}}}}</tool_call>'


def request(texts: list[str], **top: Any) -> dict[str, Any]:
    return {**top, "groups": [{"gold": GOLD, "rollouts": [{"text": t} for t in texts]}]}


def test_depth_is_counted_in_containers() -> None:
    assert within_depth({}, 1) and not within_depth({"a": {}}, 1) and within_depth({"a": [1, {}]}, 3)
    deep = "[" * (MAX_NESTED_JSON_DEPTH + 1) + "]" * (MAX_NESTED_JSON_DEPTH + 1)
    with pytest.raises(TooDeep):
        decode_arguments('{"a": ' + deep + "}")
    assert decode_arguments('{"a": [[1]]}') == {"a": [[1]]}


def test_match_cells_count_distinct_rollouts_times_gold_calls() -> None:
    texts = [block(1) * 3, block(2) * 3, block(1) * 3]  # two distinct rollouts of 3 calls, gold of 2
    limits = engine.Limits(max_match_cells=12)
    assert engine.score(request(texts), limits=limits).body["groups"]
    with pytest.raises(LimitExceeded) as err:
        engine.score(request(texts), limits=engine.Limits(max_match_cells=11))
    assert err.value.limit == "max_match_cells" and err.value.details["actual"] == 12
    with pytest.raises(LimitExceeded) as err:
        engine.score(request(texts, preset="matchtir-ot"), limits=engine.Limits(max_ot_cells=11))
    assert err.value.limit == "max_ot_cells"
    # no matching, no cells
    none = request(texts, config={"assignment": "none"})
    assert engine.score(none, limits=engine.Limits(max_match_cells=1)).body["groups"]


def test_text_call_blocks_over_max_calls_per_rollout_are_malformed_not_matched() -> None:
    """Model output never fails the request: call blocks beyond the limit are not matched (bounded work),
    counted as malformed and warned."""
    limits = engine.Limits(max_calls_per_rollout=2)
    ok = engine.score(request([block(1) * 2]), limits=limits).body
    assert ok["groups"][0]["rollouts"][0]["malformed_calls"] == 0
    over = engine.score(request([block(1) * 5]), limits=limits).body
    row = over["groups"][0]["rollouts"][0]
    assert row["num_calls"] == 2 and row["malformed_calls"] == 3
    assert [w["count"] for w in over["warnings"] if w["code"] == "calls_over_limit"] == [3]
    lines = '<tool_call>{"name": "f"}\n{"name": "f"}\n{"name": "f"}</tool_call>'
    toolrl = engine.score(request([lines], config={"format": "toolrl"}), limits=limits).body
    assert toolrl["groups"][0]["rollouts"][0]["malformed_calls"] == 1


def test_gold_calls_limit_names_the_trace() -> None:
    with pytest.raises(LimitExceeded) as err:
        engine.score(request([block(1)]), limits=engine.Limits(max_gold_calls=1))
    assert err.value.limit == "max_gold_calls" and err.value.details["path"] == "groups[0].gold"


def test_deadline_stops_the_work() -> None:
    with pytest.raises(DeadlineExceeded):
        engine.score(request([block(1)]), deadline=time.monotonic() - 1)
    assert engine.score(request([block(1)]), deadline=time.monotonic() + 60).body["groups"]


def test_over_deep_gold_arguments_string_is_invalid_with_its_path() -> None:
    gold = {"calls": [{"name": "f", "arguments": '{"a": ' * 300 + "1" + "}" * 300}]}
    with pytest.raises(InvalidRequest) as err:
        engine.score({"groups": [{"gold": gold, "rollouts": [{"text": block(1)}]}]})
    assert err.value.path == "groups[0].gold.calls[0].arguments"


@pytest.mark.parametrize(
    "pattern",
    [r"\[C\]\s*(.*?)\[/C\]", r"<c>\s*(.*?)\s*</c>", r"(?:<c>|<call>)(.*?)</c(?:all)?>", r"CALL: (\{.*?\})$"],
)
def test_re2_patterns_find_what_re_finds(pattern: str) -> None:
    found = scanner(pattern)
    assert isinstance(found, RegexScanner)
    text = '[C]{"a": 1}[/C] x <c> 1 </c>\n<call>2</call> é<c>ü\n3</c> CALL: {"b": 2}'
    expected = [(m.start(), m.end(), m.group(1)) for m in re.compile(pattern, re.DOTALL).finditer(text)]
    assert found.spans(text) == expected


def test_literal_tags_keep_the_fast_path_and_hostile_patterns_cost_nothing() -> None:
    assert isinstance(scanner(r"<tool_call>(.*?)</tool_call>"), TagScanner)
    hostile = scanner("(?:a+)+$")
    t0 = time.perf_counter()
    assert hostile.spans("a" * 100_000 + "!") == []
    assert time.perf_counter() - t0 < 0.5


@pytest.mark.parametrize(
    "pattern", [r"<(t)>(.*?)</\1>", r"(?=<a>)(.*?)</a>", r"(?<!x)<a>(.*?)</a>", "(a)(b)"]
)
def test_patterns_re2_refuses_are_config_errors(pattern: str) -> None:
    with pytest.raises(ConfigError) as err:
        engine.score(request([block(1)], config={"format": {"answer_pattern": pattern}}))
    assert err.value.key == "format.answer_pattern"
