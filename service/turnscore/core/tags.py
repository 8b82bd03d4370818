"""Finding tagged blocks (``<tool_call>…</tool_call>``, ``<answer>…</answer>``) in model output.

A pattern of the form ``OPEN(.*?)CLOSE`` with literal ``OPEN``/``CLOSE`` (every default pattern) is
scanned with ``str.find`` in linear time, with exactly the matches ``re.finditer(pattern, DOTALL)``
gives. A regex engine takes quadratic time on degenerate output such as thousands of unclosed
``<tool_call>`` tags, which RL policies do produce.

Any other pattern runs on RE2 (the ``google-re2`` binding), a linear-time engine: a pattern sent in a
request can never backtrack (``(?:a+)+$`` on a long output costs microseconds, where Python's ``re``
takes time exponential in its length, holding the GIL). RE2 has no backreferences and no lookaround:
:func:`compile_pattern` refuses them (:class:`PatternError`). Without the binding installed, only
``OPEN(.*?)CLOSE`` patterns with literal tags are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

try:
    import re2
except ImportError:  # pragma: no cover - google-re2 is a dependency; kept for bare core installs
    re2 = None

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


class PatternError(ValueError):
    """A pattern RE2 does not accept (syntax, backreferences, lookaround), or RE2 is not installed."""


def compile_pattern(pattern: str) -> Any:
    """``pattern`` compiled by RE2 with ``.`` matching newlines (as ``re.DOTALL``); :class:`PatternError`
    if RE2 refuses it."""
    if re2 is None:
        raise PatternError("only '<open>(.*?)<close>' patterns with literal tags (no google-re2 here)")
    options = re2.Options()
    options.dot_nl = True
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        msg = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        raise PatternError(f"not accepted by RE2 (no backreferences, no lookaround): {msg}") from None


def _encodable(text: str) -> str:
    """``text`` as RE2 can take it: lone surrogates (not UTF-8) become ``?`` (offsets unchanged)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


@dataclass(frozen=True, slots=True)
class RegexScanner:
    """Any other pattern, on RE2 (linear time); the body is group 1, else the whole match."""

    pattern: Any  # re2._Regexp

    def _body(self, m: Any) -> str:
        return str(m.group(1) if self.pattern.groups >= 1 else m.group(0))

    def spans(self, text: str) -> list[Span]:
        return [(m.start(), m.end(), self._body(m)) for m in self.pattern.finditer(_encodable(text))]

    def first(self, text: str) -> str | None:
        m = self.pattern.search(_encodable(text))
        return None if m is None else self._body(m)


Scanner = TagScanner | RegexScanner


def scanner(pattern: str) -> Scanner:
    """The fastest exact scanner for ``pattern`` (``.`` matches newlines): a literal-tag pattern is
    scanned with ``str.find``, any other runs on RE2 (:class:`PatternError` if RE2 refuses it)."""
    parts = pattern.split("(.*?)")
    if len(parts) == 2:
        op, cl = _literal(parts[0]), _literal(parts[1])
        if op is not None and cl is not None:
            return TagScanner(op, cl)
    return RegexScanner(compile_pattern(pattern))


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
