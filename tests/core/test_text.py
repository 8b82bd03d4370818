"""Answer normalization (core/text.py): ASCII text takes a byte-table path, which must equal the general
``str`` path (lower-case, ASCII punctuation to spaces, ``str.split`` whitespace) on any ASCII string."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from turnscore.core import text


def reference(s: str) -> list[str]:
    return s.lower().translate(text._PUNCT_TO_SPACE).split()


def test_every_ascii_character() -> None:
    every = "".join(chr(c) for c in range(128))
    assert text.answer_tokens(every) == reference(every)
    assert text.answer_tokens("a\x1cb\x1fc\x0bd") == ["a", "b", "c", "d"]  # str.split's ASCII whitespace
    assert text.normalize_answer("  The ANSWER: 42, (final)!  ") == "the answer 42 final"


@settings(max_examples=500, deadline=None)
@given(s=st.text(st.characters(max_codepoint=127)) | st.text())
def test_tokens_equal_the_str_path(s: str) -> None:
    assert text.answer_tokens(s) == reference(s)
    assert text.normalize_answer(s) == " ".join(reference(s))
