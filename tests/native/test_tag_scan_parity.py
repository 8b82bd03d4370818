"""The one-pass tag scan of the compiled text parser (native/src/parse_hits.rs, parse_read.rs) against the
Python reference, on formats whose tags are arbitrary strings.

The compiled parser finds every occurrence of every tag of a format in one pass (each tag anchored on its
first byte or a rarer one of its next three) and answers each ``str.find`` from those; a text whose
comparisons pass a linear work bound is searched per query instead. The formats here make tags share
prefixes and first bytes, contain each other, equal each other, span one byte or many, and hold non-ASCII
characters; the texts are built from fragments of those tags, so occurrences overlap, nest, cross turn
boundaries and form anew where a think block is removed.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from turnscore.core import native, parse
from turnscore.core.config import FormatConfig

from tests.native.test_parse_parity import assert_rollout_parity, assert_text_parity

pytestmark = pytest.mark.skipif(
    not native.available(),
    reason=f"the compiled extension turnscore_native is not importable ({native.import_error()})",
)

CALL = '{"name": "f", "arguments": {"a": 1}}'


def fmt_of(sep: str, end: str, call: tuple[str, str], answer: tuple[str, str], **kw: object) -> FormatConfig:
    """A format with literal tags (what the compiled parser reads)."""
    fmt = FormatConfig(
        turn_separator=sep,
        turn_end=end,
        tool_call_pattern=re.escape(call[0]) + "(.*?)" + re.escape(call[1]),
        answer_pattern=re.escape(answer[0]) + "(.*?)" + re.escape(answer[1]),
        **kw,  # type: ignore[arg-type]
    )
    assert parse.text_parser(fmt) is not None, fmt
    return fmt


BASE_FORMATS = [
    FormatConfig(),
    # tags sharing a first byte and prefixes; the answer tags prefixes of the call tags
    fmt_of("\n<|a|>\n", "<|e|>", ("<c>", "</c>"), ("<c", "</")),
    # open == close, the call and answer tags equal, one-byte tags
    fmt_of("|", "#", ("@", "@"), ("@", "@")),
    # tags longer than eight bytes that share their first eight, the separator inside the turn end
    fmt_of("<<<<<<<<<", "<<<<<<<<<<", ("<<<<<<<<<call>", "<<<<<<<<</call>"), ("<<<<<<<<<a>", "<<<<<<<<</a>")),
    # non-ASCII tags; the think tags inside them
    fmt_of("\n—\n", "«end»", ("«<think>", "</think>»"), ("«a", "»")),
    # five or six distinct anchor bytes; the separator anchored on its third byte (the turn end's first)
    fmt_of("\nT$", "$", ("[[", "]]"), ("{{", "}}")),
    # periodic tags: many overlapping occurrences
    fmt_of("aa", "aaa", ("aaaa", "aaaaa"), ("ab", "ba")),
]


def variants(fmt: FormatConfig) -> list[FormatConfig]:
    return [
        replace(fmt, strip_think=strip, call_layout=layout, answer=answer)
        for strip in (True, False)
        for layout in ("object", "lines")
        for answer in ("tag", "last_text")
    ]


FORMATS = [v for f in BASE_FORMATS for v in variants(f)]


def fragments(fmt: FormatConfig) -> list[str]:
    """The tags of ``fmt`` (and the think tags), their prefixes and suffixes, and some text."""
    calls, answers = fmt.scanners()
    assert isinstance(calls, parse.TagScanner) and isinstance(answers, parse.TagScanner)
    tags = [fmt.turn_separator, fmt.turn_end, calls.open, calls.close, answers.open, answers.close]
    tags += ["<think>", "</think>"]
    out = list(tags)
    for t in tags:
        out += [t[: len(t) // 2], t[len(t) // 2 :], t[:-1], t[1:]]
    out += [CALL, '"name" "arguments"', " ", "\n", "\u00a0", "é", "x"]
    return [s for s in out if s]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FORMATS), st.data())
def test_texts_of_tag_fragments(fmt: FormatConfig, data: st.DataObject) -> None:
    pieces = data.draw(st.lists(st.sampled_from(fragments(fmt)), max_size=40))
    text = "".join(pieces)
    assert_text_parity(text, fmt)
    assert_rollout_parity({"messages": [{"role": "assistant", "content": text}]}, fmt)


@pytest.mark.parametrize(
    "fmt", FORMATS[:8], ids=lambda f: f"think={f.strip_think}-{f.call_layout}-{f.answer}"
)
@pytest.mark.parametrize(
    "text",
    [
        # kept text on both sides of a removed think block: a tag forms across the cut
        "<tool<think>x</think>_call>" + CALL + "</tool_call><|im_end|><answer>a</answer>",
        "a<think>x</think>b<tool_call>" + CALL + "</tool_call><|im_end|>tail<answer>b</answer>",
        # an unclosed think block with text before it and a turn end after it
        "before <tool_call>" + CALL + "</tool_call><think>x<|im_end|><answer>after</answer>",
        "<ans<think>y<|im_end|>wer>z</answer>",
        # the prompt's think block closed first, then another
        "x</think><answer>a</answer><think>b</think> c",
        "</think></think><think><think></think>",
        "",
    ],
)
def test_think_cuts(fmt: FormatConfig, text: str) -> None:
    assert_text_parity(text, fmt)
    assert_text_parity(text + "\n<|im_start|>assistant\n" + text, fmt)


def test_texts_past_the_work_bound() -> None:
    """A long tag matched on its first eight bytes at every position: the pass gives up, queries search."""
    tag = "a" * 40
    fmt = fmt_of("\n", "a" * 12, (tag, tag + "b"), ("a" * 9, "b"), strip_think=False)
    for text in ["a" * 5000, "a" * 3000 + "b" + "a" * 41 + CALL + tag + "b", ("a" * 39 + "b") * 200]:
        assert_text_parity(text, fmt)
        assert_text_parity("\n" + text + "\n" + text, fmt)
