"""The fast paths of the native group reader (native/src/parse_hash.rs, parse_keys.rs, parse_json.rs's
string scan, parse_ffi.rs) against the Python reference.

- the keyed hash that groups identical rollouts: strings equal but for one character, at every offset
  around its 16-byte steps, or stored in another width, stay apart; equal copies (new objects) are joined;
- the cache of decoded keys and call names: the arguments equal Python's strictly (types, key order),
  duplicate keys keep the last value at the first key's position, keys escaped or not, over the cache's
  size bound, non-ASCII and past its length bound, and every key works as a dict key of its dict;
- the eight-byte scan of JSON strings: a quote, a backslash, a control character or a non-ASCII
  character at every offset decodes as orjson decodes it (or is malformed alike).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from turnscore.core import parse

from tests.native.test_group_parity import LIMITS, assert_group_parity, natively
from tests.native.test_parse_parity import QWEN, assert_text_parity, block, call_text, core
from tests.support.native import require_native


def turns_rollout(value: Any) -> dict[str, Any]:
    return {"turns": [{"tool_calls": [{"name": "f", "arguments": {"a": value}}]}]}


@pytest.mark.parametrize("size", [0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 47, 100])
def test_strings_equal_but_for_one_character_stay_apart(size: int) -> None:
    base = "x" * size
    variants = [base + "y"] + [base[:k] + "z" + base[k + 1 :] + "y" for k in range(size)]
    variants += [base + "\xe9", base + "\u0100", base + "\U0001f600"]  # other widths, same length
    group = [{"text": v} for v in variants] + [turns_rollout(v) for v in variants]
    copies = [{"text": "".join(list(v))} for v in variants]  # equal values, new string objects
    rows, order = assert_group_parity(group + copies)
    assert len(rows) == len(group)
    assert order[1 + len(group) :] == [1 + k for k in range(len(variants))]
    assert natively(group + copies) is not None


def test_long_texts_differing_at_the_end_stay_apart() -> None:
    text = "<tool_call>\n" + json.dumps({"name": "f", "arguments": {"q": "w" * 3000}}) + "\n</tool_call>"
    k = len(text) - 20
    assert text[k] == "w"
    group = [{"text": text}, {"text": text[:k] + "v" + text[k + 1 :]}, {"text": "".join(list(text))}]
    rows, order = assert_group_parity(group)
    assert len(rows) == 2
    assert order == [7, 1, 2, 1]


def native_arguments(text: str) -> list[dict[str, Any]]:
    require_native()
    with core("native"):
        got = parse.native_group([{"text": text}], QWEN, LIMITS, 0)
    assert got is not None and got[0][0] is not None
    return [c.arguments for t in got[0][0].turns for c in t.calls]


def test_cached_keys_keep_order_duplicates_and_dict_use() -> None:
    bodies = [
        '{"a": 1, "b": 2, "a": 3}',
        '{"b": 1, "a": 2}',
        '{"\\u0061": 1, "a\\u00e9": 2, "\\u00e9": 3, "a": 4}',
        '{"' + "k" * 64 + '": 1, "' + "k" * 65 + '": 2, "\u00e9t\u00e9": 3, "": 4}',
        '{"query": {"query": "query"}, "name": "name"}',
    ]
    text = "\n".join(block('{"name": "f", "arguments": ' + b + "}") for b in bodies * 3)
    assert_text_parity(text, QWEN)
    for args in native_arguments(text):
        for key, value in args.items():
            assert type(key) is str
            assert args["".join(list(key))] is value  # an equal fresh string finds it: the hash is right


def test_more_keys_than_the_cache_holds() -> None:
    keys = [f"key{k}" for k in range(3000)]
    args = "{" + ", ".join(f'"{k}": {i}' for i, k in enumerate(keys)) + "}"
    text = call_text(args) + call_text(args) + block('{"name": "key7", "arguments": {"key7": "key7"}}')
    assert_text_parity(text, QWEN)
    first, second, last = native_arguments(text)
    assert list(first) == keys and first == second
    assert last == {"key7": "key7"}


SPECIALS = ['"', "\\", "\x00", "\x1f", "\x7f", "\xe9", "\u20ac", "\U0001f600"]


@pytest.mark.parametrize("special", SPECIALS)
def test_string_scan_at_every_offset(special: str) -> None:
    for offset in range(20):
        for escaped in (True, False):
            raw = "a" * offset + special + "b" * (19 - offset)
            value = json.dumps(raw, ensure_ascii=escaped)[1:-1] if escaped else raw
            assert_text_parity(call_text('{"v": "' + value + '", "w": "' + value + value + '"}'), QWEN)


VALUES = st.text(max_size=40) | st.integers(-(2**63), 2**64 - 1)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(max_size=70), VALUES, max_size=6), st.booleans())
def test_any_keys_and_strings(arguments: dict[str, Any], ascii_only: bool) -> None:
    body = json.dumps({"name": "f", "arguments": arguments}, ensure_ascii=ascii_only)
    assert_text_parity(block(body), QWEN)
    assert_group_parity([{"text": block(body)}, turns_rollout(arguments), {"text": block(body)}])
    nat = native_arguments(block(body))
    if nat:
        assert orjson.dumps(nat[0]) == orjson.dumps(orjson.loads(body)["arguments"])
