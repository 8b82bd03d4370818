"""ToolRL's reward: correctness + format (SCORING.md §8)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from .calls import Call
from .config import ScoringConfig
from .gold import CompiledGold
from .tags import Scanner
from .turns import ParsedRollout
from .values import python_key

_THINK = re.compile(r"\s*<think>.*?</think>", re.DOTALL)
_TURN_END = "<|im_end|>"


@dataclass(frozen=True, slots=True)
class Bounds:
    correctness_max: float
    correctness_min: float
    format_max: float
    format_min: float


def bounds(cfg: ScoringConfig, step: int) -> Bounds:
    """Reward bounds, moving with ``step`` when ToolRL's dynamic schedule is on."""
    if not cfg.toolrl_schedule:
        return Bounds(
            cfg.toolrl_correctness_max,
            cfg.toolrl_correctness_min,
            cfg.toolrl_format_max,
            cfg.toolrl_format_min,
        )
    s = step / 150
    return Bounds(min(3.0, 2 + s), max(-3.0, -2 - s), max(1.0, 2 - s), min(-1.0, -2 + 2 * s))


def _calls_equal(a: Call, b: Call) -> bool:
    return a.name == b.name and python_key(a.arguments) == python_key(b.arguments)


def _name_similarity(a: list[str], b: list[str]) -> float:
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    inter = sum((Counter(a) & Counter(b)).values())
    return inter / (len(a) + len(b) - inter)


def correctness(pred: list[Call], gold: CompiledGold, any_block: bool, malformed: int, b: Bounds) -> float:
    gcalls = gold.calls
    if not gcalls:
        return 0.0
    if not any_block or malformed:
        return b.correctness_min
    if len(pred) == len(gcalls) and all(_calls_equal(p, g) for p, g in zip(pred, gcalls, strict=True)):
        return b.correctness_max
    score = _name_similarity([c.name for c in pred], [c.name for c in gcalls])
    used: set[int] = set()
    for g in gcalls:
        gk = set(g.arguments)
        best, best_val = -1, 0.0
        for idx, p in enumerate(pred):
            if idx in used or p.name != g.name:
                continue
            pk = set(p.arguments)
            union = gk | pk
            val = len(gk & pk) / len(union) if union else 1.0
            val += sum(1 for k in gk if k in pk and python_key(p.arguments[k]) == python_key(g.arguments[k]))
            if val > best_val:
                best, best_val = idx, val
        if best >= 0:
            used.add(best)
            score += best_val
    local_max = 1 + sum(1 + len(g.arguments) for g in gcalls)
    return (b.correctness_max - b.correctness_min) * score / local_max + b.correctness_min


def _text_turn_ok(
    text: str, calls_scan: Scanner, answers_scan: Scanner, need_call: bool, need_ans: bool, turn_end: str
) -> bool:
    text = text.split(turn_end, 1)[0]
    m = _THINK.match(text)
    if m is None:
        return False
    rest = text[m.end() :]
    calls = calls_scan.spans(rest)
    answers = answers_scan.spans(rest)
    if len(calls) != int(need_call) or len(answers) != int(need_ans):
        return False
    spans = sorted([(c[0], c[1]) for c in calls] + [(a[0], a[1]) for a in answers])
    if need_call and need_ans and calls[0][0] > answers[0][0]:
        return False
    pos = 0
    for start, end in spans:
        if start < pos or rest[pos:start].strip():
            return False
        pos = end
    return not rest[pos:].strip()


def format_ok(
    rollout: ParsedRollout, gold: CompiledGold, calls: Scanner, answers: Scanner, turn_end: str = _TURN_END
) -> bool:
    """Every assistant turn is ``<think>…</think>`` followed by exactly the blocks the gold expects.

    ``text``: checked on the text of each turn up to its ``turn_end`` (``<|im_end|>``). ``messages`` and
    ``turns`` carry no raw text: a turn passes when it has calls exactly when the gold has calls and an
    answer exactly when the gold has an answer.
    """
    need_call = bool(gold.calls)
    need_ans = gold.answer is not None
    if not rollout.turns:
        return False
    for turn in rollout.turns:
        if turn.text is not None:
            if not _text_turn_ok(turn.text, calls, answers, need_call, need_ans, turn_end):
                return False
        elif (turn.blocks > 0) != need_call or (turn.answer is not None) != need_ans:
            return False
    return True


def turns_missing_think(rollout: ParsedRollout, turn_end: str) -> int:
    """Text turns that do not start with ``<think>…</think>`` (the format check fails on each of them)."""
    return sum(
        1 for t in rollout.turns if t.text is not None and _THINK.match(t.text.split(turn_end, 1)[0]) is None
    )
