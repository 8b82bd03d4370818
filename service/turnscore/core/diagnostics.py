"""Warnings (API.md ``warnings``): model output that was read and scored, but probably not as the user meant.

Parsing notes what it saw on each rollout (:class:`Note`: a code, a JSON path relative to the rollout, a
count); :func:`collect` adds the notes that need the gold or the settings and aggregates them over the
request: one warning per code, with the path of its first occurrence and the total count, so a request of
512 rollouts with one cause gives one entry. The codes are a fixed set (:data:`CODES`), so metrics can
label by code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import native, toolrl
from .config import ScoringConfig
from .rewards import Rollout, final_answer
from .turns import Note

# code -> what one occurrence is (the unit of `count`)
CODES: dict[str, str] = {
    "malformed_calls": "call",
    "no_calls_parsed_from_text": "turn",
    "calls_in_think_ignored": "call",
    "think_unclosed": "turn",
    "answer_missing": "rollout",
    "toolrl_format_missing_think": "turn",
    "no_assistant_messages": "rollout",
    "calls_over_limit": "call",
}


_MESSAGES: dict[str, str] = {
    "malformed_calls": (
        "tool calls that could not be read (not a JSON object with a string name): each is counted in "
        "malformed_calls and matches no gold call"
    ),
    "no_calls_parsed_from_text": (
        "turns that look like tool calls (an opening tool-call tag, or JSON with a name and arguments) but "
        "from which no call could be read: check format.tool_call_pattern and format.call_layout"
    ),
    "calls_in_think_ignored": (
        "tool calls inside <think>...</think>: reasoning, not calls (format.strip_think)"
    ),
    "think_unclosed": "turns that open <think> and never close it: the rest of the turn was dropped",
    "answer_missing": "rollouts without a final answer although the gold has one (outcome reward 0)",
    "toolrl_format_missing_think": (
        "turns that do not start with <think>...</think>: ToolRL's format reward is at its minimum for them"
    ),
    "no_assistant_messages": 'messages rollouts without a message of role "assistant", so without turns',
    "calls_over_limit": (
        "tool calls read from model text beyond max_calls_per_rollout: not matched, counted as malformed"
    ),
}
_ANSWER_HINT = (
    "; answers are read from format.answer_pattern: for chat output without answer tags set format.answer to "
    '"last_text"'
)


def _message(code: str, cfg: ScoringConfig) -> str:
    """What the code means and what to check (the numbers are in ``count``, so chunks merge)."""
    text = _MESSAGES[code]
    if code == "answer_missing" and cfg.format.answer == "tag":
        text += _ANSWER_HINT
    return text[0].upper() + text[1:]


def _rollout_notes(rollout: Rollout, cfg: ScoringConfig, gold_answer: bool) -> list[Note]:
    """The notes that need the gold or the settings, besides those parsing made (``gold_answer``: a
    reference of the rollout's group has an answer)."""
    notes: list[Note] = []
    parsed = rollout.parsed
    wants_answer = cfg.reward == "toolrl" or cfg.outcome != "none"
    if wants_answer and gold_answer and final_answer(parsed) is None:
        notes.append(Note("answer_missing", ""))
    if cfg.reward == "toolrl":
        missing = toolrl.turns_missing_think(parsed, cfg.format.turn_end)
        if missing:
            notes.append(Note("toolrl_format_missing_think", f".{parsed.form}", missing))
    return notes


_NO_NOTES: list[Note] = []  # shared, never changed


@dataclass(slots=True)
class _Entry:
    path: str
    count: int


@dataclass(slots=True)
class Diagnostics:
    warnings: list[dict[str, Any]]  # the response's `warnings`
    per_rollout: list[int]  # occurrences per rollout of the request, in request order
    totals: dict[str, int]  # occurrences per code


def collect(rollouts: list[Rollout], cfg: ScoringConfig) -> Diagnostics:
    """Every rollout's notes (rollouts in request order), aggregated to one warning per code.

    The extension's ``diagnostics`` does it in one call for every reward but ToolRL's (whose note needs
    ``toolrl.turns_missing_think``); :func:`collect_python` is the reference."""
    m = native.module()
    if m is not None and cfg.reward != "toolrl":
        got = m.diagnostics(rollouts, cfg.outcome != "none")
        if got is not None:
            found, per_rollout = got
            return from_native(found, per_rollout, cfg)
    return collect_python(rollouts, cfg)


def from_native(found: list[tuple[str, str, int]], per_rollout: list[int], cfg: ScoringConfig) -> Diagnostics:
    """:class:`Diagnostics` from the extension's aggregation: ``(code, path, count)`` per code in order of
    first occurrence, occurrences per rollout."""
    warnings = [
        {"code": code, "path": path, "count": count, "message": _message(code, cfg)}
        for code, path, count in found
    ]
    return Diagnostics(warnings, per_rollout, {code: count for code, _, count in found})


def collect_python(rollouts: list[Rollout], cfg: ScoringConfig) -> Diagnostics:
    """:func:`collect` in Python (the reference, and ToolRL's reward)."""
    entries: dict[str, _Entry] = {}
    per_rollout: list[int] = []
    index: dict[int, int] = {}  # group -> its rollouts seen so far
    extra: dict[int, list[Note]] = {}  # by id of the parsed rollout (identical rollouts share it)
    answered: dict[int, bool] = {}  # by id of a group's list of references: one of them has an answer
    # notes beyond parsing's can occur only when the outcome reads answers or the reward is ToolRL's
    more_notes = cfg.reward == "toolrl" or cfg.outcome != "none"
    for rollout in rollouts:
        group = rollout.group
        ri = index.get(group, 0)
        index[group] = ri + 1
        notes = rollout.parsed.notes
        if more_notes:
            key = id(rollout.parsed)
            more = extra.get(key)
            if more is None:
                golds = rollout.golds
                gold_answer = answered.get(id(golds))
                if gold_answer is None:
                    gold_answer = answered[id(golds)] = any(g.answer is not None for g in golds)
                more = extra[key] = _rollout_notes(rollout, cfg, gold_answer) or _NO_NOTES
            if more:
                notes = [*notes, *more]
        if not notes:
            per_rollout.append(0)
            continue
        n = 0
        for note in notes:
            n += note.count
            entry = entries.get(note.code)
            if entry is None:
                path = f"groups[{group}].rollouts[{ri}]{note.path}"
                entries[note.code] = _Entry(path, note.count)
            else:
                entry.count += note.count
        per_rollout.append(n)
    warnings = [
        {"code": code, "path": e.path, "count": e.count, "message": _message(code, cfg)}
        for code, e in entries.items()
    ]
    return Diagnostics(warnings, per_rollout, {code: e.count for code, e in entries.items()})
