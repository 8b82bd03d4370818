"""The linear tag scanner gives exactly re.finditer's matches for OPEN(.*?)CLOSE patterns."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from turnscore.core.tags import RegexScanner, TagScanner, scanner

PIECES = [
    "<tool_call>",
    "</tool_call>",
    "<tool_",
    "call>",
    "x",
    "\n",
    "{",
    "<answer>",
    "</answer>",
    "<",
    ">",
    "/",
]


def test_default_patterns_use_the_tag_scanner():
    assert scanner(r"<tool_call>(.*?)</tool_call>") == TagScanner("<tool_call>", "</tool_call>")
    assert scanner(r"<answer>(.*?)</answer>") == TagScanner("<answer>", "</answer>")
    assert scanner(r"\[TOOL\](.*?)\[/TOOL\]") == TagScanner("[TOOL]", "[/TOOL]")
    assert isinstance(scanner(r"ANSWER: (\w+)"), RegexScanner)
    assert isinstance(scanner(r"<a>(.*?)</a>|<b>(.*?)</b>"), RegexScanner)
    assert isinstance(scanner(r"<a\d>(.*?)</a>"), RegexScanner)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(PIECES), max_size=40),
    st.sampled_from([("<tool_call>", "</tool_call>"), ("<answer>", "</answer>"), ("<", ">")]),
)
def test_tag_scanner_equals_regex(pieces, tags):
    text = "".join(pieces)
    pattern = re.escape(tags[0]) + "(.*?)" + re.escape(tags[1])
    fast = scanner(pattern)
    assert isinstance(fast, TagScanner)
    slow = RegexScanner(re.compile(pattern, re.DOTALL))
    assert fast.spans(text) == slow.spans(text)
    assert fast.first(text) == slow.first(text)


def test_degenerate_unclosed_tags():
    text = "<tool_call>\n" * 50_000 + "</tool_call>" + "<tool_call>" * 10
    spans = scanner(r"<tool_call>(.*?)</tool_call>").spans(text)
    assert len(spans) == 1
    assert spans[0][2].count("<tool_call>") == 49_999
