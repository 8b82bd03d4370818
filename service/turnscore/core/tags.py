"""Finding tagged blocks (``<tool_call>…</tool_call>``, ``<answer>…</answer>``) in model output.

A pattern of the form ``OPEN(.*?)CLOSE`` with literal ``OPEN``/``CLOSE`` (every default pattern) is
scanned with ``str.find`` in linear time, with exactly the matches ``re.finditer(pattern, DOTALL)``
gives. A regex engine takes quadratic time on degenerate output such as thousands of unclosed
``<tool_call>`` tags, which RL policies do produce. Any other pattern runs through ``re``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

Span = tuple[int, int, str]  # (start, end, body)

_META = set(".^$*+?{}[]|()")


def _literal(s: str) -> str | None:
    """The literal string a regex fragment matches, or ``None`` if it is not a plain literal."""
    out = []
    i = 0
    while i < len(s):
        ch = s[i]
        if ch == "\\":
            if i + 1 < len(s) and not s[i + 1].isalnum():
                out.append(s[i + 1])
                i += 2
                continue
            return None
        if ch in _META:
            return None
        out.append(ch)
        i += 1
    return "".join(out) or None


@dataclass(frozen=True, slots=True)
class TagScanner:
    open: str
    close: str

    def spans(self, text: str) -> list[Span]:
        out: list[Span] = []
        pos = 0
        lo, lc = len(self.open), len(self.close)
        find = text.find
        while True:
            o = find(self.open, pos)
            if o < 0:
                break
            c = find(self.close, o + lo)
            if c < 0:
                break  # no closing tag after this opener, so none after any later opener either
            out.append((o, c + lc, text[o + lo : c]))
            pos = c + lc
        return out

    def first(self, text: str) -> str | None:
        o = text.find(self.open)
        if o < 0:
            return None
        c = text.find(self.close, o + len(self.open))
        return None if c < 0 else text[o + len(self.open) : c]


@dataclass(frozen=True, slots=True)
class RegexScanner:
    pattern: re.Pattern[str]

    def _body(self, m: re.Match[str]) -> str:
        return m.group(1) if self.pattern.groups >= 1 else m.group(0)

    def spans(self, text: str) -> list[Span]:
        return [(m.start(), m.end(), self._body(m)) for m in self.pattern.finditer(text)]

    def first(self, text: str) -> str | None:
        m = self.pattern.search(text)
        return None if m is None else self._body(m)


Scanner = TagScanner | RegexScanner


def scanner(pattern: str) -> Scanner:
    """The fastest exact scanner for ``pattern`` (compiled with DOTALL)."""
    parts = pattern.split("(.*?)")
    if len(parts) == 2:
        op, cl = _literal(parts[0]), _literal(parts[1])
        if op is not None and cl is not None:
            return TagScanner(op, cl)
    return RegexScanner(re.compile(pattern, re.DOTALL))


THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


@dataclass(slots=True)
class Thought:
    """What :func:`strip_think` removed from a text: the think segments, and whether one was unclosed."""

    removed: list[str]
    unclosed: bool


def strip_think(text: str) -> tuple[str, Thought]:
    """``text`` without its ``<think>…</think>`` blocks, in linear time.

    A ``</think>`` before any ``<think>`` closes a think block the prompt opened (templates that end the
    generation prompt with ``<think>``): everything up to it is dropped. A ``<think>`` without a closing tag
    drops the rest of the text (the model was still thinking when it stopped).
    """
    removed: list[str] = []
    out: list[str] = []
    pos, unclosed = 0, False
    lo, lc = len(THINK_OPEN), len(THINK_CLOSE)
    first_close = text.find(THINK_CLOSE)
    if first_close >= 0:
        first_open = text.find(THINK_OPEN, 0, first_close)
        if first_open < 0:
            removed.append(text[:first_close])
            pos = first_close + lc
    while True:
        o = text.find(THINK_OPEN, pos)
        if o < 0:
            out.append(text[pos:])
            break
        out.append(text[pos:o])
        c = text.find(THINK_CLOSE, o + lo)
        if c < 0:
            removed.append(text[o + lo :])
            unclosed = True
            break
        removed.append(text[o + lo : c])
        pos = c + lc
    if not removed:
        return text, Thought(removed, False)
    return "".join(out), Thought(removed, unclosed)
