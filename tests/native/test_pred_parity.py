"""Model calls read straight to match keys (native/src/parse_pred.rs ``decode_pred``) against the old way.

``pred_from_text`` (the direct reading) and ``pred_from_text_reference`` (``decode_call``'s Python objects
keyed by ``pred_call``) must give the same outcome, name and value keys under every ``value_match`` mode and
both case settings: on every gold call rendered in several shapes (and on perturbed rollout calls), on
hand-made tricky bodies, and on hypothesis-built JSON (duplicate keys, raw number literals, broken text).
A few outcomes are also checked against the Python reference directly (names, argument names, values.py
equality).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from turnscore import workload
from turnscore.core import native
from turnscore.core.limits import MAX_NESTED_JSON_DEPTH
from turnscore.core.values import values_equal

from tests.support.gold import gold_records

pytestmark = pytest.mark.skipif(
    not native.available(), reason=f"the compiled extension is not importable: {native.import_error()}"
)

MODES = ("exact", "normalized", "python")
CASES = (False, True)
LIMIT = MAX_NESTED_JSON_DEPTH


@pytest.fixture(scope="module")
def ext() -> Any:
    import turnscore_native

    return turnscore_native


def _agree(ext: Any, body: str, limit: int = LIMIT) -> dict[tuple[str, bool], Any]:
    """Both readings of ``body`` under every mode and case setting, asserted equal; the outcomes."""
    out = {}
    for mode in MODES:
        for cs in CASES:
            got = ext.pred_from_text(body, limit, mode, cs)
            want = ext.pred_from_text_reference(body, limit, mode, cs)
            assert got == want, (body, limit, mode, cs)
            out[mode, cs] = got
    return out


def _shapes(name: str, args: Any) -> list[str]:
    """A call as models write it: plain, OpenAI wrapper, arguments as a JSON string, ``parameters``,
    pretty-printed, non-ASCII unescaped, and behind repeated keys that the later ones override."""
    text = json.dumps(args)
    plain = json.dumps({"name": name, "arguments": args})
    return [
        plain,
        json.dumps({"name": name, "arguments": args}, ensure_ascii=False, separators=(",", ":")),
        json.dumps({"type": "function", "function": {"name": name, "arguments": text}}),
        json.dumps({"name": name, "arguments": text}, ensure_ascii=False),
        json.dumps({"name": name, "parameters": args}, indent=2),
        json.dumps({"name": "outer", "function": {"name": name.upper(), "parameters": args}}),
        '{"name": 5, "arguments": {"zz": [1]}, "parameters": null, ' + plain[1:],
        '\n\t {"arguments": "not json", ' + plain[1:] + " \r\n",
    ]


def _gold_calls() -> Iterator[dict[str, Any]]:
    rng = random.Random(18)
    for record in gold_records():
        turns = record["gold"]["turns"]
        for turn in turns:
            yield from turn
        for turn in workload.perturb_turns(turns, rng, rng.random()):
            yield from turn


def test_gold_calls_agree(ext: Any) -> None:
    n = 0
    for call in _gold_calls():
        name, args = call.get("name"), call.get("arguments")
        bodies = [json.dumps(call)]
        if isinstance(name, str) and isinstance(args, dict):
            bodies += _shapes(name, args)
        for body in bodies:
            got = _agree(ext, body)
            if not (isinstance(name, str) and isinstance(args, dict)):
                continue
            for (mode, cs), out in got.items():
                assert out[0] == "call", (body, mode, out)
                if body is bodies[0] or body is bodies[1]:
                    assert out[1] == (name if cs else name.lower())
                    assert [a for a, _ in out[2]] == sorted(args)
                    n += 1
    assert n > 1000


# (body, limit): every exactness point of the grammar and of the keys
TRICKY: list[tuple[str, int]] = [
    (b, LIMIT)
    for b in [
        '{"name": "f", "arguments": {"a": 1, "b": 1.0, "c": true, "d": 1e0, "e": 10E-1, "f": -0.0, "g": 0}}',
        '{"name": "f", "arguments": {"a": 9223372036854775807, "b": -9223372036854775808}}',
        '{"name": "f", "arguments": {"a": 9223372036854775808, "b": 18446744073709551615}}',
        '{"name": "f", "arguments": {"a": 18446744073709551616}}',
        '{"name": "f", "arguments": {"a": -9223372036854775809}}',
        '{"name": "f", "arguments": {"a": 1e19, "b": 1e300, "c": 1.7976931348623157e308, "d": 5e-324}}',
        '{"name": "f", "arguments": {"a": 1e400}}',
        '{"name": "f", "arguments": {"a": -1e400}}',
        '{"name": "f", "arguments": {"a": 0.1, "b": 0.30000000000000004, "c": 2.5e-8, "d": 123456789.125}}',
        '{"name": "f", "arguments": {"a": 1.}}',
        '{"name": "f", "arguments": {"a": 01}}',
        '{"name": "f", "arguments": {"a": +1}}',
        '{"name": "f", "arguments": {"a": NaN}}',
        '{"name": "f", "arguments": {"a": Infinity}}',
        '{"name": "f", "arguments": {"a": "x\\u00e9\\ud83d\\ude00\\n\\t\\"\\\\\\/"}}',
        '{"name": "f", "arguments": {"a": "\\ud83d"}}',
        '{"name": "f", "arguments": {"a": "\\ude00"}}',
        '{"name": "f", "arguments": {"a": "\\ud83d\\u0041"}}',
        '{"name": "f", "arguments": {"a": "\\x41"}}',
        '{"name": "f", "arguments": {"a": "tab\there"}}',
        '{"name": "f", "arguments": {"a": "é ß İ ǅ Σ ΣΑΣ", "b": "٣", "c": "１２"}}',
        '{"name": "f", "arguments": {"a": " 1.50 ", "b": "1_000", "c": "-0", "d": "+7", "e": "inf"}}',
        '{"name": "f", "arguments": {"a": "NaN", "b": "-Infinity", "c": "1e5", "d": ".5", "e": "5."}}',
        '{"name": "f", "arguments": {"a": "1e400", "b": " Hello   World ", "c": "TRUE", "d": "1E5"}}',
        '{"name": "f", "arguments": {"a": "' + "1" * 4001 + '"}}',
        '{"name": "f", "arguments": {"a": "' + "1" * 4001 + '", "a": 2}}',
        '{"name": "f", "arguments": {"a": "' + "9" * 30 + '", "b": "-' + "0" * 25 + '1"}}',
        '{"name": "f", "arguments": {"a": 1, "a": "x", "b": {"k": 1, "k": 2, "j": [1, {"z": null}]}}}',
        '{"name": "f", "arguments": {"b": [], "a": {}, "c": [[]], "d": [{}], "": ""}}',
        '{"name": "f", "arguments": {"a": 1}, "arguments": null, "parameters": {"p": 2}}',
        '{"name": "f", "arguments": "{\\"a\\": 1, \\"a\\": 2}"}',
        '{"name": "f", "arguments": "[1, 2]"}',
        '{"name": "f", "arguments": "\\"str\\""}',
        '{"name": "f", "arguments": "{\\"a\\": 1} x"}',
        '{"name": "f", "arguments": "{\\"a\\": 1e400}"}',
        '{"name": "f", "arguments": "{\\"a\\": 99999999999999999999}"}',
        '{"name": "f", "arguments": "  {\\"a\\": [true, false, null]}  "}',
        '{"name": "f", "arguments": 5}',
        '{"name": "f", "arguments": [1]}',
        '{"name": "f", "parameters": "{\\"p\\": 1}"}',
        '{"name": "f"}',
        '{"name": "F", "function": {"name": "G", "arguments": {"x": 1}}}',
        '{"name": "F", "function": {"arguments": {"x": 1}}, "arguments": {"y": 2}}',
        '{"name": "F", "function": "G"}',
        '{"function": {"name": 3, "arguments": {}}, "name": "F"}',
        '{"function": {"name": "G", "function": {"name": "H"}}}',
        '{"name": "Straße", "arguments": {}}',
        '{"name": "ΣΑΣ", "arguments": {}}',
        '{"name": "İstanbul", "arguments": {}}',
        '{"name": "\\u0130X", "arguments": {}}',
        '{"name": null, "arguments": {}}',
        '{"name": ["f"], "arguments": {}}',
        '{"name": "f", "name": 1}',
        '{"name": 1, "name": "f"}',
        '{"arguments": {"a": 1}}',
        '{"name": "f", "arguments": {"a": 1}} trailing',
        '{"name": "f", "arguments": {"a": 1}}}',
        '{"name": "f", "arguments": {"a": 1},}',
        '{"name": "f", "arguments": {"a": 1,}}',
        '{"name": "f", "arguments": {"a" 1}}',
        '{"name": "f", "arguments": {a: 1}}',
        "{'name': 'f'}",
        '{"name": "f", "arguments": {"a": tru}}',
        '{"name": "f", "arguments": {"a": nul}}',
        '{"name": "f", "arguments": {"a": [1 2]}}',
        '{"name": "f", "arguments": {"a": "unterminated}}',
        '{"name": "f", "arguments": {"a": 1}',
        '\ufeff{"name": "f"}',
        "[1, 2]",
        '"just a string"',
        "42",
        "",
        "   ",
        "{",
        "{}",
        "null",
        '{"name": "f", "arguments": {"a": 1}} {"name": "g"}',
        ' \t\r\n{ "name" : "f" , "arguments" : { "a" : [ 1 , 2 ] } } \n',
        '{"name": "f", "arguments": {"k\\u00e9y": 1, "ké": 2, "kéy": 3}}',
    ]
]
DEEP = "[" * 40 + "]" * 40
VERY_DEEP = "[" * 70 + "]" * 70
TRICKY += [
    ('{"name": "f", "arguments": {"a": ' + DEEP + "}}", LIMIT),
    ('{"name": "f", "arguments": {"a": ' + DEEP + ', "a": 1}}', LIMIT),
    ('{"name": "f", "x": ' + DEEP + ', "arguments": {"a": 1}}', LIMIT),
    ('{"name": "f", "arguments": "{\\"a\\": ' + DEEP + '}"}', LIMIT),
    ('{"name": "f", "arguments": "' + DEEP + '"}', LIMIT),
    ('{"name": "f", "arguments": {"a": [[1]]}}', 3),
    ('{"name": "f", "arguments": {"a": [[1]]}}', 4),
    ('{"function": {"name": "f", "arguments": {"a": [1]}}}', 3),
    ('{"function": {"name": "f", "arguments": {"a": [1]}}}', 4),
    ('{"name": "f", "arguments": {"a": ' + VERY_DEEP + "}}", 200),
    ('{"name": "f", "arguments": {"a": ' + VERY_DEEP + ', "a": 1}}', 200),
    ('{"name": "f", "arguments": {"a": ' + VERY_DEEP + "}} x", 200),
    ('{"name": "f", "arguments": {"a": ' + VERY_DEEP + "}, }", 200),
    ('{"name": "f", "arguments": {"a": ' + "[" * 63 + "1" + "]" * 63 + "}}", 200),
    ('{"name": "f", "arguments": {"a": ' + "[" * 64 + "1" + "]" * 64 + "}}", 200),
    ('{"name": "f", "arguments": {"a": ' + "[" * 64 + "]" * 64 + "}}", 200),
    ('{"name": "f", "arguments": {"a": ' + '{"k": ' * 64 + "1" + "}" * 64 + "}}", 200),
]


@pytest.mark.parametrize("body, limit", TRICKY)
def test_tricky_bodies_agree(ext: Any, body: str, limit: int) -> None:
    _agree(ext, body, limit)


def _value_keys(ext: Any, values: list[str], mode: str) -> list[str]:
    body = '{"name": "f", "arguments": {' + ", ".join(f'"v{k}": {v}' for k, v in enumerate(values)) + "}}"
    got = ext.pred_from_text(body, LIMIT, mode, False)
    assert got[0] == "call", got
    return [r for _, r in sorted(got[2], key=lambda a: int(a[0][1:]))]


def test_expected_outcomes(ext: Any) -> None:
    k = _value_keys(ext, ["1", "1.0", "true", "1e0", "-0.0", "0", "false"], "python")
    assert k[0] == k[1] == k[2] == k[3] and k[4] == k[5] == k[6]
    k = _value_keys(ext, ["1", "1.0", "true", "false", "0"], "exact")
    assert k[0] == k[1] != k[2] and k[3] != k[4]
    k = ['" 1.50 "', "1.5", '" Hello   World"', '"hello world"', '"１２"', "12"]
    k = _value_keys(ext, k, "normalized")
    assert k[0] == k[1] and k[2] == k[3] and k[4] == k[5]
    k = _value_keys(ext, ["18446744073709551615", "1.8446744073709552e19", "[1, [2]]", "[1, [2.0]]"], "exact")
    assert k[0] != k[1] and k[2] == k[3]
    k = _value_keys(ext, ['{"a": 1, "a": 2}', '{"a": 2}', '{"b": 1, "a": 2}', '{"a": 2, "b": 1}'], "exact")
    assert k[0] == k[1] and k[2] == k[3]
    name = ext.pred_from_text('{"name": "GetWeather", "arguments": {}}', LIMIT, "exact", False)
    assert name == ("call", "getweather", ())
    assert ext.pred_from_text('{"name": "ΣΑΣ"}', LIMIT, "exact", False)[1] == "ΣΑΣ".lower()
    assert ext.pred_from_text('{"name": "f", "arguments": {"a": 1e400}}', LIMIT, "exact", True) == "malformed"
    big = '{"name": "f", "arguments": {"a": 18446744073709551616}}'
    assert ext.pred_from_text(big, LIMIT, "exact", True) == "delegate"
    deep = '{"name": "f", "arguments": {"a": ' + DEEP + "}}"
    assert ext.pred_from_text(deep, LIMIT, "exact", True) == "delegate"
    long_number = '{"name": "f", "arguments": {"a": "' + "1" * 4001 + '"}}'
    assert ext.pred_from_text(long_number, LIMIT, "normalized", True) == "delegate"
    assert ext.pred_from_text(long_number, LIMIT, "exact", True)[0] == "call"


class Obj(list[tuple[str, Any]]):
    """A JSON object as written: its members in order, repeated names allowed."""


class Raw(str):
    """A literal written as is (numbers orjson may refuse or delegate)."""


def _dump(v: Any, ascii: bool) -> str:
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, Obj):
        return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=ascii)}: {_dump(x, ascii)}" for k, x in v) + "}"
    if isinstance(v, list):
        return "[" + ",".join(_dump(x, ascii) for x in v) + "]"
    return json.dumps(v, ensure_ascii=ascii)


NUMBERS = ["1E2", "1e-400", "1.5e308", "2e308", "-0", "0.1e1", "1e19", "1e18", "-1e19"]
NUMBERS += ["1234567890123456789012", "4.0", "00", "1.", "-"]
NUMBERS += ["9223372036854775808", "-9223372036854775808", "18446744073709551616"]
TEXTS = ["1", "1.0", " 1.50 ", "-0", "1e3", "inf", "nan", "TRUE", "A  b", "İ", "ß", "ǅ", "1_000", "٣"]
TEXTS += ["\x0b1\x1f", "-Infinity"]
NAMES = ["f", "F", "GetWeather", "ÄÖ", "Straße", "ΣΑΣ", "İ", ""]
KEYS = st.sampled_from(["a", "b", "A", "é", "name", "arguments"]) | st.text(max_size=3)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from(TEXTS)
    | st.sampled_from(NUMBERS).map(Raw)
)
VALUES = st.recursive(
    SCALARS,
    lambda c: st.lists(c, max_size=4) | st.lists(st.tuples(KEYS, c), max_size=4).map(Obj),
    max_leaves=16,
)


@st.composite
def bodies(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(NAMES) | st.text(max_size=4))
    args = draw(st.lists(st.tuples(KEYS, VALUES), max_size=5).map(Obj))
    ascii = draw(st.booleans())
    shape = draw(st.sampled_from(["plain", "text", "function", "parameters", "dup"]))
    inner = _dump(args, ascii)
    if shape == "plain":
        body = Obj([("name", name), ("arguments", Raw(inner))])
    elif shape == "text":
        body = Obj([("name", name), ("arguments", inner)])
    elif shape == "function":
        body = Obj([("function", Obj([("name", name), ("arguments", inner)]))])
    elif shape == "parameters":
        body = Obj([("name", name), ("parameters", Raw(inner))])
    else:
        body = Obj([("name", 1), ("arguments", Raw(inner)), ("name", name), ("arguments", draw(VALUES))])
    text = _dump(body, ascii)
    if draw(st.integers(0, 4)) == 0 and text:  # broken: a character removed or inserted
        k = draw(st.integers(0, len(text) - 1))
        text = text[:k] + draw(st.sampled_from(["", ",", "]", "}", '"', "\\", " 0"])) + text[k + 1 :]
    return text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies())
def test_generated_bodies_agree(body: str) -> None:
    import turnscore_native

    _agree(turnscore_native, body)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES, VALUES, st.sampled_from(MODES))
def test_keys_equal_as_values_py(a: Any, b: Any, mode: str) -> None:
    """Two values' keys are equal exactly when values.py calls the decoded values equal."""
    import orjson
    import turnscore_native

    texts = [_dump(a, True), _dump(b, True)]
    try:
        decoded = [orjson.loads(t) for t in texts]
    except orjson.JSONDecodeError:
        return
    body = '{"name": "f", "arguments": {"a": ' + texts[0] + ', "b": ' + texts[1] + "}}"
    got = turnscore_native.pred_from_text(body, LIMIT, mode, False)
    if got == "delegate":
        return
    keys = dict(got[2])
    assert (keys["a"] == keys["b"]) == values_equal(decoded[0], decoded[1], mode), (texts, mode)
