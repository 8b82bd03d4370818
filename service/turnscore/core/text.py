"""Answer normalization and the outcome metrics (SCORING.md §4)."""

from __future__ import annotations

import string

_PUNCT_TO_SPACE = str.maketrans({c: " " for c in string.punctuation})
# the same for ASCII text, as one byte table (str.translate with a dict costs ~4 ns a character)
_ASCII_FOLD = bytes.maketrans(
    (string.ascii_uppercase + string.punctuation).encode(),
    (string.ascii_lowercase + " " * len(string.punctuation)).encode(),
)


def _folded(s: str) -> str:
    """``s`` lower-cased, every ASCII punctuation character to a space."""
    if s.isascii():
        return s.encode().translate(_ASCII_FOLD).decode()
    return s.lower().translate(_PUNCT_TO_SPACE)


def normalize_answer(s: str) -> str:
    """Lower-case, every ASCII punctuation character to a space, whitespace collapsed and trimmed."""
    return " ".join(_folded(s).split())


def answer_tokens(s: str) -> list[str]:
    return _folded(s).split()


def f1_tokens(pred: frozenset[str] | set[str], gold: frozenset[str] | set[str]) -> float:
    """Token-set F1; 0 when either side has no tokens."""
    if not pred or not gold:
        return 0.0
    common = len(pred & gold)
    if common == 0:
        return 0.0
    precision = common / len(pred)
    recall = common / len(gold)
    return 2 * precision * recall / (precision + recall)


def outcome_score(
    pred: str | None, gold_tokens: frozenset[str] | None, gold: str | None, metric: str
) -> float:
    """``f1`` / ``em`` / ``none`` between a predicted answer and the gold answer; 0 if either is missing."""
    if metric == "none" or pred is None or gold is None or gold_tokens is None:
        return 0.0
    if metric == "em":
        g = normalize_answer(gold)
        return 1.0 if g and normalize_answer(pred) == g else 0.0
    return f1_tokens(frozenset(answer_tokens(pred)), gold_tokens)
