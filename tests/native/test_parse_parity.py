"""The compiled parse of model text (native/src/parse.rs) against the Python reference (core/parse.py).

Both cores read the same rollouts: every real gold trace rendered by the workload generator
(turnscore.workload: dropped, extra, renamed, wrong-valued, repeated and malformed calls, think text)
in the ``text`` and ``messages`` forms, under every literal-tag format (qwen and toolrl styles x think
stripping x call layout x answer mode), plus hypothesis-built adversarial text and JSON. The turns must be
equal field by field, with the arguments compared strictly (types, key order, float bits), and the notes
equal.
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields, replace
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from turnscore import workload
from turnscore.core import keys, native, parse, turns
from turnscore.core.calls import Call, call_or_none
from turnscore.core.config import FORMAT_STYLES, FormatConfig, _fmt
from turnscore.core.limits import DEFAULT_LIMITS, MAX_NESTED_JSON_DEPTH
from turnscore.core.turns import Note, Turn

from tests.support.gold import gold_records

pytestmark = pytest.mark.skipif(
    not native.available(),
    reason=f"the compiled extension turnscore_native is not importable ({native.import_error()})",
)

SEP = workload.SEP
LIMITS = DEFAULT_LIMITS.rollout()
DEFAULT_FORMAT = FormatConfig()


def _formats() -> list[FormatConfig]:
    out = []
    for style in FORMAT_STYLES:
        base = _fmt(style)
        for strip in (True, False):
            for layout in ("object", "lines"):
                for answer in ("tag", "last_text"):
                    out.append(replace(base, strip_think=strip, call_layout=layout, answer=answer))
    return out


FORMATS = _formats()


@contextmanager
def core(name: str) -> Iterator[None]:
    before = native.active()
    native.select(name)
    try:
        yield
    finally:
        native.select(before)


def strict(value: Any) -> Any:
    """``value`` with its types, key order and float bits spelled out (``1 == 1.0 == True`` in Python)."""
    kind = type(value)
    if kind is dict:
        return ("dict", [(strict(k), strict(v)) for k, v in value.items()])
    if kind is list:
        return ("list", [strict(v) for v in value])
    if kind is float:
        return ("float", struct.pack("<d", value))
    return (kind.__name__, value)


def snapshot(turns: list[Turn]) -> list[Any]:
    out = []
    for t in turns:
        assert type(t) is Turn
        assert all(type(c) is Call for c in t.calls)
        assert type(t.calls) is list
        row = {f.name: getattr(t, f.name) for f in fields(Turn)}
        row["calls"] = [(type(c.name), c.name, strict(c.arguments)) for c in t.calls]
        row["types"] = [type(v).__name__ for v in row.values()]
        out.append(row)
    return out


def both_text(text: str, fmt: FormatConfig) -> tuple[Any, Any]:
    """(python, native) of ``parse_text``: turns and notes."""
    res = []
    for name in ("python", "native"):
        with core(name):
            notes: list[Note] = []
            turns = parse.parse_text(text, fmt, notes)
            res.append((snapshot(turns), notes))
    return res[0], res[1]


def assert_text_parity(text: str, fmt: FormatConfig) -> None:
    py, nat = both_text(text, fmt)
    assert nat == py, (fmt, text)


def assert_rollout_parity(rollout: Any, fmt: FormatConfig = DEFAULT_FORMAT) -> None:
    """Both cores read ``rollout`` to the same turns and notes, or raise the same error."""
    res: list[Any] = []
    for name in ("python", "native"):
        with core(name):
            try:
                p = parse.parse_rollout(rollout, fmt, LIMITS, "r")
            except Exception as exc:  # the same error, with the same JSON path and message
                res.append(("error", type(exc), str(exc), vars(exc)))
            else:
                res.append((snapshot(p.turns), p.notes, p.form))
    assert res[1] == res[0], (fmt, rollout)


def test_the_native_parser_runs_for_literal_tags_only() -> None:
    with core("native"):
        for fmt in FORMATS:
            assert parse.text_parser(fmt) is not None
        assert parse.text_parser(replace(FormatConfig(), tool_call_pattern=r"<tc\d>(.*?)</tc>")) is None
        assert parse.text_parser(replace(FormatConfig(), answer_pattern=r"ANSWER: (\w+)")) is None
    with core("python"):
        assert parse.text_parser(FormatConfig()) is None


def test_turn_fields_are_those_the_native_parser_sets() -> None:
    assert tuple(f.name for f in fields(Turn)) == turns.NATIVE_TURN_FIELDS


# -- every real gold trace, in the workload generator's renderings -------------------------------------


def _as_lines(text: str) -> str:
    """ToolRL's layout: the consecutive call blocks of a turn merged into one block, one JSON per line."""
    return text.replace("\n</tool_call>\n<tool_call>\n", "\n")


def _mangle(text: str, rng: random.Random) -> str:
    """Text a policy may write: a cut, a lost or stray tag, think text holding a call, an unclosed think."""
    kind = rng.randrange(7)
    cut = rng.randrange(len(text) + 1)
    if kind == 0:
        return text[:cut]
    if kind == 1:
        return text.replace(rng.choice(["</tool_call>", "<tool_call>", "</answer>", "</think>"]), "", 1)
    if kind == 2:
        return (
            text[:cut]
            + rng.choice(["<tool_call>", "</tool_call>", "<think>", "</think>", "<answer>"])
            + text[cut:]
        )
    if kind == 3:
        return '<think>plan: <tool_call>\n{"name": "x", "arguments": {}}\n</tool_call></think>' + text
    if kind == 4:
        return "reasoning done</think>" + text
    if kind == 5:
        return text + SEP + '<think>still {"name": "f", "arguments": {}} thinking'
    return text + SEP + "  The answer is 42.  " + rng.choice(["", "<|im_end|>tail"])


def gold_rollouts(record: dict[str, Any], rng: random.Random) -> Iterator[dict[str, Any]]:
    gold = workload.gold_of(record)
    for _ in range(3):
        quality = rng.random()
        turns = workload.perturb_turns(gold["turns"], rng, quality)
        answer = workload.perturb_answer(gold["answer"], rng, quality)
        filler = rng.choice([0, 0, 40])
        text = workload.render(turns, answer, "text", rng, malformed_rate=0.15, filler_chars=filler)["text"]
        yield {"text": text}
        yield {"text": _as_lines(text)}
        yield {"text": _mangle(text, rng)}
    for form in ("messages", "turns"):
        turns = workload.perturb_turns(gold["turns"], rng, rng.random())
        yield workload.render(turns, gold["answer"], form, rng, filler_chars=rng.choice([0, 40]))


def test_every_gold_trace_parses_the_same_on_both_cores() -> None:
    records = gold_records()
    rng = random.Random(18)
    checked = 0
    for k, record in enumerate(records):
        fmts = [FORMATS[k % len(FORMATS)], FORMATS[(k * 7 + 3) % len(FORMATS)]]
        for rollout in gold_rollouts(record, rng):
            for fmt in fmts:
                assert_rollout_parity(rollout, fmt)
                checked += 1
    assert checked >= len(records) * 20


def test_sample_traces_under_every_format() -> None:
    records = gold_records(sample=True)[::5]
    rng = random.Random(7)
    for record in records:
        for rollout in gold_rollouts(record, rng):
            for fmt in FORMATS:
                assert_rollout_parity(rollout, fmt)


def test_ranking_rollouts_with_malformed_calls() -> None:
    rng = random.Random(3)
    for record in gold_records(sample=True)[::7]:
        group, _labels = workload.ranking_group(record, rng, combos=2, form="text")
        for rollout in group["rollouts"]:
            for fmt in (FORMATS[0], FORMATS[-1]):
                assert_rollout_parity(rollout, fmt)


# -- JSON edge cases: the native decoder must read exactly what orjson reads ----------------------------

QWEN = FormatConfig()


def block(body: str) -> str:
    return f"<tool_call>\n{body}\n</tool_call>"


def call_text(arguments: str) -> str:
    return block('{"name": "f", "arguments": ' + arguments + "}")


EDGE_ARGUMENTS = [
    '{"a": 1, "a": 2, "b": 3, "a": 4}',  # duplicate keys: the last value, at the first position
    '{"n": 18446744073709551615, "m": -9223372036854775808, "z": -0, "f": -0.0}',
    '{"big": 18446744073709551616, "neg": -9223372036854775809}',  # beyond 64 bits: floats (orjson)
    '{"x": 123456789012345678901234567890}',
    '{"x": 1e400}',  # infinity: not JSON for orjson
    '{"x": 1e-400, "y": 4.9e-324, "z": 2.4e-324, "w": 1.7976931348623157e308}',
    '{"x": 1.7976931348623159e308}',
    '{"x": 0.30000000000000004, "y": 1E5, "z": 1e+5, "w": 100000000000000000000000e-4}',
    '{"x": 01}',
    '{"x": 1.}',
    '{"x": .5}',
    '{"x": -}',
    '{"x": NaN}',
    '{"x": Infinity}',
    '{"x": [1,]}',
    '{"x": 1,}',
    '{"s": "\\ud83d\\ude00 \\u00e9 \\n \\" \\\\ \\/ \\b \\f \\r \\t \\u0000"}',
    '{"s": "\\ud800"}',
    '{"s": "\\udc00"}',
    '{"s": "\\ud800\\u0041"}',
    '{"s": "\\ud800x"}',
    '{"s": "\\x"}',
    '{"s": "a\x01"}',
    '{"s": "a\x7f \u2028 😀 é"}',
    '{"s": "\\u00E9\\u00e9"}',
    '{"t": true, "f": false, "n": null}',
    '{"t": tru}',
    '{"a" :1 , "b"\t:\r[ ]\n}',
    '"{\\"inner\\": [1, 2.5, {\\"k\\": null}]}"',  # arguments as a JSON string holding an object
    '"[1, 2]"',
    '"not json"',
    '"{\\"a\\": 1} trailing"',
    "[1, 2]",
    "3",
    "null",
    '{"a": 1}, "parameters": {"b": 2}',
    'null, "parameters": {"b": 2}',
    '"{\\"n\\": 99999999999999999999999}"',
]


@pytest.mark.parametrize("arguments", EDGE_ARGUMENTS)
def test_json_edge_cases(arguments: str) -> None:
    assert_text_parity(call_text(arguments), QWEN)


EDGE_BLOCKS = [
    "",
    "   ",
    "{}",
    "[]",
    '{"name": 3}',
    '{"name": "f"}',
    '{"name": "f", "name": 3}',
    '{"name": 3, "name": "f"}',
    '{"function": {"name": "g", "arguments": "{\\"a\\": 1}"}, "name": "f"}',
    '{"function": {"arguments": {}}, "name": "f", "arguments": {"z": 1}}',
    '{"function": {"name": 7}, "name": "f"}',
    '{"function": "x", "name": "f"}',
    '{"function": {"name": "g"}, "function": 1, "name": "f"}',
    '{"type": "function", "function": {"name": "g", "parameters": {"p": [1]}}}',
    '{"name": "f", "arguments": null, "parameters": {"p": 1}}',
    '{"name": "f", "arguments": {}, "parameters": {"p": 1}}',
    '{"name": "f", "arguments": 5}',
    '{"name": "f", "arguments": {"a": 1}} trailing',
    '{"name": "f", "arguments": {"a": 1}}}',
    '{"name": "f"',
    '\ufeff{"name": "f"}',
    '\x0c{"name": "f"}\x1c',
    '{"n\\u0061me": "f", "\\u0061rguments": {"k": "v"}}',
    '{"name": "\\ud83d\\ude00", "arguments": {}}',
    '{"name": "f", "arguments": {"a": 1}}\n{"name": "g", "arguments": {}}',
]


@pytest.mark.parametrize("body", EDGE_BLOCKS)
@pytest.mark.parametrize("layout", ["object", "lines"])
def test_call_block_edge_cases(body: str, layout: str) -> None:
    assert_text_parity(block(body), replace(QWEN, call_layout=layout))


def nested(depth: int, kind: str) -> str:
    """A value ``depth`` containers deep."""
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a": ' * (depth - 1) + "{}" + "}" * (depth - 1)


@pytest.mark.parametrize("depth", [1, 2, 30, 31, 32, 33, 34, 40, 1023, 1024, 1025, 1100])
@pytest.mark.parametrize("kind", ["list", "dict"])
def test_depth_around_the_limit(depth: int, kind: str) -> None:
    value = nested(depth, kind)
    texts = [
        call_text(value),  # arguments nested: 2 deeper than the value (the call object)
        call_text(json.dumps(value)),  # arguments as a string holding the nested value
        call_text('{"a": ' + value + ', "a": 1}'),  # the deep value dropped by a duplicate key
        block('{"name": "f", "x": ' + value + ', "x": 0, "arguments": {}}'),
        block(value),
    ]
    for text in texts:
        assert_text_parity(text, QWEN)
    assert MAX_NESTED_JSON_DEPTH == 32  # the cases above straddle it


# -- hypothesis: JSON values, numbers, raw grammar, text structure --------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


def _escape(s: str, rng: random.Random) -> str:
    out = []
    for ch in s:
        if 0xD800 <= ord(ch) <= 0xDFFF:
            out.append(f"\\u{ord(ch):04x}")  # a lone surrogate escape: not JSON for orjson
        elif ch in '"\\' or ord(ch) < 0x20 or rng.random() < 0.1:
            code = ord(ch)
            if code > 0xFFFF:
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04X}\\u{0xDC00 + (code & 0x3FF):04x}")
            else:
                out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def dump(value: Any, rng: random.Random) -> str:
    """JSON text of ``value`` with random spacing and escapes (floats by repr: what a model may write)."""
    sp = rng.choice(["", " ", "\n  ", "\t"])
    if isinstance(value, dict):
        items = [f"{_escape(k, rng)}{sp}:{sp}{dump(v, rng)}" for k, v in value.items()]
        if items and rng.random() < 0.2:
            items.append(items[0])  # a duplicate key
        return "{" + sp + ("," + sp).join(items) + sp + "}"
    if isinstance(value, list):
        return "[" + ("," + sp).join(dump(v, rng) for v in value) + "]"
    if isinstance(value, str):
        return _escape(value, rng)
    if isinstance(value, float):
        return rng.choice([repr(value), f"{value:.17e}", f"{value:.3g}"])
    return json.dumps(value)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values, st.randoms(use_true_random=False), st.booleans())
def test_any_json_value_as_arguments(value: Any, rng: random.Random, as_string: bool) -> None:
    text = dump(value, rng)
    if as_string:
        text = _escape(text, rng)
    assert_text_parity(call_text(text), QWEN)


NUMBER = st.from_regex(r"\A-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?\Z")
JUNK_NUMBER = st.text(alphabet="-+0123456789.eE", min_size=1, max_size=12)


@settings(max_examples=500, deadline=None)
@given(st.one_of(NUMBER, JUNK_NUMBER))
def test_numbers(number: str) -> None:
    assert_text_parity(call_text('{"x": ' + number + ', "y": [' + number + "]}"), QWEN)
    try:
        expected = orjson.loads(number)
    except orjson.JSONDecodeError:
        return
    with core("native"):
        (turn,) = parse.parse_text(call_text('{"x": ' + number + "}"), QWEN)
    assert strict(turn.calls[0].arguments) == strict({"x": expected})


JSON_TOKENS = [*'{}[],:"1-.e0 \né\x01\\', '"name"', '"arguments"', '"f"', "true", "null", "\\u", "d83d"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(JSON_TOKENS), max_size=24))
def test_raw_json_grammar(tokens: list[str]) -> None:
    body = "".join(tokens)
    assert_text_parity(block('{"name": "f", "arguments": ' + body), QWEN)
    assert_text_parity(block(body), QWEN)


TEXT_PIECES = [
    "<tool_call>",
    "</tool_call>",
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
    "<response>",
    "</response>",
    "<|im_end|>",
    SEP,
    '{"name": "f", "arguments": {"a": 1}}',
    '{"name": "g", "parameters": {}}',
    '"name"',
    '"arguments"',
    '"parameters"',
    "{bad",
    "\n",
    " ",
    "\r\n",
    "\x0b",
    "\x1c",
    "\u2028",
    "\u00a0",
    "x",
    "é",
    "😀",
    "\ud800",  # a lone surrogate: native hands the text to Python
]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(TEXT_PIECES), max_size=30), st.sampled_from(FORMATS))
def test_adversarial_text(pieces: list[str], fmt: FormatConfig) -> None:
    text = "".join(pieces)
    assert_text_parity(text, fmt)
    assert_rollout_parity({"messages": [{"role": "assistant", "content": text}]}, fmt)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60), st.sampled_from(FORMATS))
def test_any_text(text: str, fmt: FormatConfig) -> None:
    assert_text_parity(text, fmt)


def test_unclosed_tags_and_many_openers() -> None:
    for text in [
        "<tool_call>" * 500 + '{"name": "f", "arguments": {}}',
        "<tool_call>" * 50 + '{"name": "f", "arguments": {}}</tool_call>',
        "<think>" * 10 + "</think>" * 3 + block('{"name": "f", "arguments": {}}'),
        "</think><think></think>" + block('{"name": "f", "arguments": {}}') + "<think>",
        "<answer><answer>a</answer></answer>",
    ]:
        for fmt in FORMATS:
            assert_text_parity(text, fmt)


def test_messages_content_with_structured_calls_reads_answers_only() -> None:
    content = (
        "<think>t <tool_call>{}</tool_call></think>" + block('{"name": "f", "arguments": {}}') + "<answer>a"
    )
    msgs = [
        {"role": "assistant", "content": content, "tool_calls": [{"name": "s", "arguments": {"q": 1}}]},
        {"role": "tool", "content": "ok"},
        {"role": "assistant", "content": content + "</answer>", "tool_calls": []},
        {"role": "assistant", "content": [{"type": "text", "text": "final words"}]},
    ]
    for fmt in FORMATS:
        assert_rollout_parity({"messages": msgs}, fmt)


def test_native_calls_are_the_dataclasses_python_builds() -> None:
    text = call_text('{"a": [1, 2.5, "x"], "b": {"c": null}}') + SEP + "<answer>done</answer>"
    with core("native"):
        turns = parse.parse_text(text, QWEN)
    assert turns[0].calls == [Call("f", {"a": [1, 2.5, "x"], "b": {"c": None}})]
    assert turns[1].answer == "done"
    with pytest.raises(AttributeError):
        turns[0].calls[0].name = "g"  # type: ignore[misc]  # frozen, as Python builds it
    assert turns[0].calls[0] == Call("f", turns[0].calls[0].arguments)
    assert hash(turns[0].text) == hash(text.split(SEP)[0])


# -- structured calls (``turns`` and ``messages`` forms): the client's call objects -----------------------

CALL_KEYS = ["name", "arguments", "parameters", "id", "type", "function", "index", "args", "extra"]


def call_objects(values: Any) -> Any:
    """Call objects as a client may build them: known keys (an unknown one now and then), names that
    are not strings, arguments as objects, JSON strings (valid or not, deep or not) or other values."""
    args = (
        values
        | json_values.map(lambda v: json.dumps(v))
        | st.sampled_from(
            [nested(31, "dict"), nested(32, "dict"), nested(33, "list"), "{bad", '{"a": 1} x', '"s"', "[1]"]
        )
        | st.builds(lambda d: {"deep": orjson.loads(nested(d, "dict"))}, st.integers(28, 34))
    )
    name = st.text(max_size=5) | values
    fields = st.fixed_dictionaries(
        {},
        optional={
            "name": name,
            "arguments": args,
            "parameters": args,
            "id": st.text(max_size=3),
            "type": st.just("function"),
            "index": st.integers(0, 3),
        },
    )
    wrapped = st.fixed_dictionaries(
        {"function": fields}, optional={"id": st.text(max_size=3), "type": st.just("function")}
    )
    odd = st.dictionaries(st.sampled_from(CALL_KEYS), values, max_size=4)
    return fields | wrapped | odd | values


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(call_objects(json_values), max_size=5), st.booleans())
def test_structured_calls(calls: list[Any], as_messages: bool) -> None:
    if as_messages:
        rollout = {"messages": [{"role": "assistant", "content": "<answer>a</answer>", "tool_calls": calls}]}
    else:
        rollout = {"turns": [{"tool_calls": calls}, {"calls": calls[:1], "answer": "a"}]}
    assert_rollout_parity(rollout)


class Args(dict):  # type: ignore[type-arg]
    pass


class Name(str):
    pass


@pytest.mark.parametrize(
    "call",
    [
        {"name": "f", "arguments": Args(a=1)},
        {"name": Name("f"), "arguments": {"a": 1}},
        {"name": "f", "arguments": Name('{"a": 1}')},
        {"name": "f", "arguments": b'{"a": 1}'},
        {"name": "f", "arguments": '{"a": "\ud800"}'},
        {"name": "f", "arguments": '{"a": "\udc00\ud800"}'},
        {"name": "f", "arguments": "\ud800"},
        {"name": "f", "arguments": '{"a": "\ud800"}'},
        {"name": "f", "arguments": ("a", 1)},
        {"name": "f", "arguments": {"a": (1, 2)}},
        {"name": "f", "arguments": {"a": [[[[1]]]]}, "function": Args(name="g")},
        {"name": "f", "function": Args(nam="g")},
        {"name": "f", "function": {"nam": "g"}},
        {"nme": "f"},
        {1: "f"},
        Args(name="f"),
        ("name", "f"),
        {"name": "f", "arguments": '{"n": 123456789012345678901234567890}'},
    ],
)
def test_structured_calls_of_any_python_value(call: Any) -> None:
    """In-process callers may pass any Python objects: what is not plain JSON is read by Python."""
    assert_rollout_parity({"turns": [{"tool_calls": [{"name": "ok", "arguments": {}}, call]}]})
    assert_rollout_parity({"messages": [{"role": "assistant", "content": None, "tool_calls": [call]}]})


def test_plain_structured_calls_are_read_natively() -> None:
    with core("native"):
        m = native.module()
        assert m is not None
        calls = [
            {"name": "f", "arguments": '{"a": 1}'},
            {"function": {"name": "g", "arguments": {"b": [2]}}},
            {},
        ]
        got = m.structured_calls(calls, Call, call_or_none, MAX_NESTED_JSON_DEPTH)
    assert got == ([Call("f", {"a": 1}), Call("g", {"b": [2]})], 1)
    assert got[0][1].arguments is calls[1]["function"]["arguments"]  # the client's object, as Python keeps it


def test_compiled_known_keys_are_core_keys() -> None:
    """The compiled side keeps its own copy of the known keys (it must not call back into Python per
    object): the copy equals core/keys.py, so a key added or dropped there cannot make the cores differ."""
    import turnscore_native

    core_keys = {name: list(getattr(keys, name)) for name in ("TOOL_CALL", "FUNCTION", "MESSAGE", "TURN")}
    compiled_keys = turnscore_native.KNOWN_KEYS
    assert compiled_keys == core_keys


def test_unknown_keys_are_the_python_error() -> None:
    for calls in (
        [{"name": "f", "arguments": {}}, {"name": "f", "argument": {}}],
        [{"function": {"name": "f", "args": "{}"}}],
    ):
        assert_rollout_parity({"turns": [{"tool_calls": calls}]})
        with core("native"), pytest.raises(Exception, match="argument"):
            parse.parse_rollout({"turns": [{"tool_calls": calls}]}, FormatConfig(), LIMITS, "r")


# -- the messages and turns forms: plain JSON natively, everything else (and every error) on Python --------

ROLES = st.sampled_from(["assistant", "assistant", "tool", "user", "system", 1, None])
CONTENT = (
    st.none()
    | st.lists(st.sampled_from(TEXT_PIECES), max_size=8).map("".join)
    | st.lists(
        st.sampled_from(TEXT_PIECES)
        | st.builds(lambda t: {"type": "text", "text": t}, st.sampled_from(TEXT_PIECES))
        | st.just({"type": "image"})
        | st.just({"text": 3})
        | st.just(3),
        max_size=4,
    )
    | st.just(7)
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.fixed_dictionaries(
            {"role": ROLES},
            optional={
                "content": CONTENT,
                "tool_calls": st.none()
                | st.lists(call_objects(json_scalars), max_size=3)
                | st.just({"a": 1}),
                "tool_call_id": st.text(max_size=2),
                "reasoning": st.text(max_size=2),
                "contnet": st.just("typo"),
            },
        )
        | st.just("not a message"),
        max_size=6,
    ),
    st.sampled_from(FORMATS),
)
def test_messages(messages: list[Any], fmt: FormatConfig) -> None:
    assert_rollout_parity({"messages": messages}, fmt)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "tool_calls": st.none() | st.lists(call_objects(json_scalars), max_size=3) | st.just("x"),
                "calls": st.none() | st.lists(call_objects(json_scalars), max_size=2),
                "answer": st.none() | st.text(max_size=4) | st.just(5),
                "state": json_values,
                "sate": st.just(1),
            },
        )
        | st.just(["not a turn"]),
        max_size=5,
    )
)
def test_turns(turns: list[Any]) -> None:
    assert_rollout_parity({"turns": turns})


@pytest.mark.parametrize(
    "rollout",
    [
        {"messages": [{"role": "assistant", "content": "\ud800<answer>a</answer>"}]},
        {"messages": [{"role": Name("assistant"), "content": "x"}]},
        {"messages": [{"role": "assistant", "content": [Name("x"), {"text": Name("y")}]}]},
        {"messages": [{"role": "assistant", "content": ("x",)}]},
        {"messages": [Args(role="assistant", content="x")]},
        {"messages": [{"role": "assistant", "content": "x", "tool_calls": ({"name": "f"},)}]},
        {"messages": [{"role": "user", "content": "q"}, {"role": "tool"}]},
        {"messages": []},
        {"turns": [{"answer": Name("a")}, {"state": {"b": [1, 2.5], "a": None}}, {"state": 2**70}]},
        {"turns": [{"tool_calls": ({"name": "f"},)}]},
        {"turns": [{"tool_calls": None, "calls": [{"name": "f"}], "answer": None}]},
        {"turns": [Args(answer="a")]},
        {"turns": []},
    ],
)
def test_forms_with_odd_python_values(rollout: dict[str, Any]) -> None:
    for fmt in (FORMATS[0], FORMATS[-1]):
        assert_rollout_parity(rollout, fmt)


def test_messages_and_turns_are_read_natively() -> None:
    msgs = [
        {"role": "user", "content": "q"},
        {
            "role": "assistant",
            "content": "<think>t</think>",
            "tool_calls": [{"name": "f", "arguments": "{}"}],
        },
        {"role": "tool", "content": "ok"},
        {"role": "assistant", "content": [{"type": "text", "text": "<answer>a</answer>"}]},
    ]
    with core("native"):
        parser = parse.text_parser(DEFAULT_FORMAT)
        got = parser.parse_messages(msgs, ".messages", call_or_none)
        m = native.module()
        assert m is not None
        got_turns = m.parse_turns([{"calls": [{"name": "f"}], "state": {"s": 1}}], ".turns", Call, Turn,
                                  call_or_none, turns.canonical_json, MAX_NESTED_JSON_DEPTH)  # fmt: skip
    assert got is not None and got_turns is not None
    assert got[0][0].observation == [("tool", "ok")]
    assert got[0][1].answer == "a"
    assert got_turns[0][0].state == b'{"s":1}'


def test_the_parse_bench_measures_both_cores() -> None:
    from bench.native_parse import measure

    before = native.active()
    row = measure("distinct", ("text",), groups=1, rounds=1)
    assert row["rollouts"] == 16
    assert row["python_us"] > 0 and row["native_us"] > 0
    assert native.active() == before  # the bench restores the core it found
