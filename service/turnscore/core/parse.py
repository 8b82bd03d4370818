"""Rollouts in the three input forms (SCORING.md §1) to turns of calls and answers.

Model output that does not parse is data: a call block that does not decode to an object with a string
``name`` is counted as malformed and skipped. Only the structure the client itself builds (a rollout
that is not an object, ``turns`` that is not a list, ...) is an :class:`InvalidRequest`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from . import keys
from .calls import Call, call_from_obj
from .config import FormatConfig
from .errors import InvalidRequest, LimitExceeded
from .limits import RolloutLimits
from .tags import Scanner


@dataclass(slots=True)
class Turn:
    calls: list[Call] = field(default_factory=list)
    answer: str | None = None
    malformed: int = 0
    blocks: int = 0  # tool-call blocks (text) or calls given (structured), valid or not
    text: str | None = None  # the raw turn text, for format checks (text form only)


@dataclass(slots=True)
class ParsedRollout:
    turns: list[Turn]
    form: str

    @property
    def malformed(self) -> int:
        return sum(t.malformed for t in self.turns)


def _decode_call(body: str) -> Call | None:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return call_from_obj(obj)


def parse_text_turn(piece: str, calls: Scanner, answers: Scanner, layout: str) -> Turn:
    turn = Turn(text=piece)
    for _start, _end, body in calls.spans(piece):
        turn.blocks += 1
        if layout == "lines":
            for line in body.splitlines():
                line = line.strip()
                if not line:
                    continue
                call = _decode_call(line)
                if call is None:
                    turn.malformed += 1
                else:
                    turn.calls.append(call)
        else:
            call = _decode_call(body.strip())
            if call is None:
                turn.malformed += 1
            else:
                turn.calls.append(call)
    turn.answer = answers.first(piece)
    return turn


def parse_text(text: str, fmt: FormatConfig) -> list[Turn]:
    """Split on the assistant-turn separator; a leading separator does not open an empty turn."""
    calls, answers = fmt.scanners()
    pieces = text.split(fmt.turn_separator)
    if len(pieces) > 1 and pieces[0] == "":
        pieces = pieces[1:]
    return [parse_text_turn(p, calls, answers, fmt.call_layout) for p in pieces]


def _content_text(content: Any, path: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        parts = []
        for k, part in enumerate(content):
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
            elif not isinstance(part, dict):
                raise InvalidRequest(f"{path}[{k}]", "expected a content part object")
        return "".join(parts)
    raise InvalidRequest(path, "expected a string, a list of content parts, or null")


def _structured_calls(raw: Any, path: str, turn: Turn) -> None:
    if raw is None:
        return
    if not isinstance(raw, list):
        raise InvalidRequest(path, "expected a list of tool calls or null")
    for j, obj in enumerate(raw):
        turn.blocks += 1
        keys.check_call(obj, f"{path}[{j}]")
        call = call_from_obj(obj)
        if call is None:
            turn.malformed += 1
        else:
            turn.calls.append(call)


def parse_messages(messages: Any, fmt: FormatConfig, path: str) -> list[Turn]:
    if not isinstance(messages, list):
        raise InvalidRequest(path, "expected a list of chat messages")
    _, answers = fmt.scanners()
    turns = []
    for k, msg in enumerate(messages):
        mpath = f"{path}[{k}]"
        if not isinstance(msg, dict):
            raise InvalidRequest(mpath, "expected a message object")
        keys.check(msg, keys.MESSAGE, mpath)
        role = msg.get("role")
        if not isinstance(role, str):
            raise InvalidRequest(f"{mpath}.role", "expected a string")
        if role != "assistant":
            continue
        content = _content_text(msg.get("content"), f"{mpath}.content")
        turn = Turn(text=None)
        _structured_calls(msg.get("tool_calls"), f"{mpath}.tool_calls", turn)
        turn.answer = answers.first(content)
        turns.append(turn)
    return turns


def parse_turns(turns_in: Any, path: str) -> list[Turn]:
    if not isinstance(turns_in, list):
        raise InvalidRequest(path, "expected a list of turns")
    turns = []
    for k, t in enumerate(turns_in):
        tpath = f"{path}[{k}]"
        if not isinstance(t, dict):
            raise InvalidRequest(tpath, "expected a turn object {tool_calls, answer}")
        keys.check(t, keys.TURN, tpath)
        if t.get("tool_calls") is not None and t.get("calls") is not None:
            raise InvalidRequest(tpath, "expected one of tool_calls, calls (got both)")
        turn = Turn()
        key = "tool_calls" if t.get("tool_calls") is not None else "calls"
        _structured_calls(t.get(key), f"{tpath}.{key}", turn)
        ans = t.get("answer")
        if ans is not None and not isinstance(ans, str):
            raise InvalidRequest(f"{tpath}.answer", "expected a string or null")
        turn.answer = ans
        turns.append(turn)
    return turns


FORMS = ("text", "messages", "turns")


def parse_rollout(obj: Any, fmt: FormatConfig, limits: RolloutLimits, path: str) -> ParsedRollout:
    """One rollout object (exactly one of ``text``, ``messages``, ``turns``) to its turns."""
    if not isinstance(obj, dict):
        raise InvalidRequest(path, "expected a rollout object with one of text, messages, turns")
    keys.check(obj, keys.ROLLOUT, path)
    given = [f for f in FORMS if obj.get(f) is not None]
    if len(given) != 1:
        raise InvalidRequest(
            path,
            "expected exactly one of text, messages, turns" + (f" (got {', '.join(given)})" if given else ""),
        )
    form = given[0]
    value = obj[form]
    if form == "text":
        if not isinstance(value, str):
            raise InvalidRequest(f"{path}.text", "expected a string")
        if len(value) > limits.max_text_chars:
            raise LimitExceeded("max_text_chars", limits.max_text_chars, f"{path}.text", len(value))
        turns = parse_text(value, fmt)
    elif form == "messages":
        turns = parse_messages(value, fmt, f"{path}.messages")
    else:
        turns = parse_turns(value, f"{path}.turns")
    if len(turns) > limits.max_turns:
        raise LimitExceeded("max_turns_per_rollout", limits.max_turns, f"{path}.{form}", len(turns))
    if form != "text":
        n = sum(t.blocks for t in turns)
        if n > limits.max_calls:
            raise LimitExceeded("max_calls_per_rollout", limits.max_calls, f"{path}.{form}", n)
    return ParsedRollout(turns, form)
