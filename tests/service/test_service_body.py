"""Body decoding without a server: exact depth on bytes, bounded gzip inflation."""

from __future__ import annotations

import gzip
import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from turnscore.core.errors import ErrorKind, LimitExceeded
from turnscore.http.body import GzipInflater
from turnscore.http.errors import http_status
from turnscore.runtime.decode import decode_json, json_depth, loads_within_depth, value_depth
from turnscore.runtime.errors import ServiceError


def depth_of(obj: Any) -> int:
    if isinstance(obj, dict):
        return 1 + max((depth_of(v) for v in obj.values()), default=0)
    if isinstance(obj, list):
        return 1 + max((depth_of(v) for v in obj), default=0)
    return 0


tricky_text = st.text(alphabet=st.sampled_from(list('[]{}"\\ab\n\u00e9/')), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | tricky_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(tricky_text, children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_json_depth_matches_structure(value: Any) -> None:
    for text in (orjson.dumps(value), json.dumps(value, indent=1).encode()):
        assert json_depth(text) == depth_of(value)
    assert value_depth(value) == depth_of(value)


def test_json_depth_on_escape_heavy_large_text() -> None:
    """Escape runs of every parity next to quotes and brackets, in a body larger than the count shortcut."""
    pieces = ["\\" * k + q for k in range(6) for q in ('"', "[", "]{", "\n", "")]
    value = [{"text": "".join(pieces) * 600, "nested": [[{"a": ['\\"]']}]]}, ["}\\"] * 3]
    text = orjson.dumps(value)
    assert len(text) > 64 * 1024 and b'\\\\\\"' in text
    assert json_depth(text) == depth_of(value) == 6
    assert loads_within_depth(text, 6) == value


def test_depth_limit_on_valid_invalid_and_beyond_orjson_text() -> None:
    assert loads_within_depth(b"[" * 64 + b"]" * 64, 64) is not None
    with pytest.raises(LimitExceeded) as exc:
        loads_within_depth(b"[" * 65 + b"]" * 65, 64)
    assert exc.value.details["limit"] == "max_json_depth" and exc.value.details["actual"] == 65
    assert loads_within_depth(b'["' + b"[" * 500 + b'"]', 4) == ["[" * 500]  # inside a string
    # counted from an offset (gRPC fields sit inside the document)
    with pytest.raises(LimitExceeded) as exc:
        loads_within_depth(b"[[1]]", 6, "groups[0].gold", 5)
    assert exc.value.details["actual"] == 7 and exc.value.details["path"] == "groups[0].gold"
    # too deep and not valid JSON: still the 413, measured on the bytes
    with pytest.raises(LimitExceeded):
        loads_within_depth(b"[" * 65 + b"]" * 64, 64)
    # deeper than orjson parses (1024): the 413, not a parse error
    with pytest.raises(LimitExceeded) as exc:
        decode_json(b"[" * 2000 + b"]" * 2000, 64)
    assert exc.value.details["actual"] == 2000
    with pytest.raises(ServiceError) as api:
        decode_json(b'{"a": [1, 2}', 64)
    assert api.value.code == "malformed_json" and api.value.kind is ErrorKind.BAD_REQUEST
    with pytest.raises(orjson.JSONDecodeError):
        loads_within_depth(b"[[[", 64)


def test_depth_of_adversarial_invalid_text_with_escapes_and_brackets_in_strings() -> None:
    """Text orjson rejects is measured on its bytes: brackets inside strings, escaped quotes and escaped
    backslashes before a closing quote must not shift the count (an attacker's hope: hide depth in a
    string, or make structure look like string)."""
    decoy = '"\\\\\\"' + "[" * 200 + '{\\"' + "]" * 3 + '"'  # a string of brackets ending in \\"
    for depth in (10, 64, 65, 200):
        text = ("[" * depth + decoy + ",").encode()  # unclosed and a trailing comma: not JSON
        assert json_depth(text) == depth
        if depth > 64:
            with pytest.raises(LimitExceeded) as exc:
                loads_within_depth(text, 64)
            assert exc.value.details["actual"] == depth
        else:
            with pytest.raises(orjson.JSONDecodeError):
                loads_within_depth(text, 64)
    # valid documents: structure hidden in keys and values never counts, real nesting does
    wide = {("[" * 50 + str(k)): ["{" * 50] for k in range(1000)}
    assert loads_within_depth(orjson.dumps(wide), 2) == wide
    with pytest.raises(LimitExceeded):
        loads_within_depth(orjson.dumps([wide]), 2)


def test_gzip_inflater_roundtrip_members_and_bomb() -> None:
    data = orjson.dumps({"x": "y" * 10_000})
    blob = gzip.compress(data)
    inf = GzipInflater(limit=len(data))
    for i in range(0, len(blob), 7):
        inf.feed(blob[i : i + 7])
    assert inf.finish() == data
    two = GzipInflater(limit=10 * len(data))
    two.feed(gzip.compress(b"ab") + gzip.compress(b"cd"))  # concatenated members are one gzip stream
    assert two.finish() == b"abcd"

    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024))
    inf = GzipInflater(limit=1024 * 1024)
    with pytest.raises(ServiceError) as exc:
        inf.feed(bomb)
    assert http_status(exc.value) == 413 and exc.value.details["limit"] == "max_body_bytes"
    assert len(inf.out) <= 1024 * 1024 + 1  # never inflated more than the limit

    truncated = GzipInflater(limit=len(data))
    truncated.feed(blob[: len(blob) // 2])
    with pytest.raises(ServiceError) as exc:
        truncated.finish()
    assert http_status(exc.value) == 400


def test_value_depth_of_deep_and_wide_values() -> None:
    """Level by level: far deeper than the recursion limit, and siblings of different depths."""
    deep: Any = "leaf"
    for _ in range(5000):
        deep = [deep]
    assert value_depth(deep) == 5000
    wide = {"a": [1, [2, {"b": [[3]]}]], "c": [], "d": {"e": {}}, "f": "[[[["}
    assert value_depth(wide) == depth_of(wide) == 6
    assert value_depth([]) == value_depth({}) == 1 and value_depth("x") == value_depth(3) == 0
