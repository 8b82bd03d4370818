"""Rollouts in the three input forms (SCORING.md §1) to turns of calls and answers.

Model output that does not parse is data: a call block that does not decode to an object with a string
``name`` is counted as malformed and skipped. Only the structure the client itself builds (a rollout
that is not an object, ``turns`` that is not a list, ...) is an :class:`InvalidRequest`.

With the native core (core/native.py) the hot part runs compiled (native/src/parse*.rs): model text when
both patterns are literal tags (:func:`text_parser`), and lists of structured calls. This module is the
reference they match (tests/native/test_parse_parity.py) and the fallback for everything else: RE2
patterns, text with lone surrogates, JSON nested past the depth bound or with integers beyond 64 bits,
and every error (a call list with an unknown key is read here, which raises).
"""

from __future__ import annotations

from typing import Any

from . import keys, native
from .calls import Call, call_or_none
from .config import FormatConfig, ScoringConfig
from .errors import InvalidRequest, LimitExceeded
from .limits import MAX_NESTED_JSON_DEPTH, RolloutLimits
from .tags import Scanner, TagScanner, strip_think
from .turns import (
    NATIVE_GROUP_OK,
    NATIVE_OK,
    Note,
    ParsedRollout,
    Turn,
    canonical_json,
    decode_call,
)

_native_cache: tuple[FormatConfig | None, Any] = (None, None)  # (format, its native TextParser or None)


def text_parser(fmt: FormatConfig) -> Any:
    """The native parser of ``fmt`` when the native core is active and both patterns are literal tags
    (``OPEN(.*?)CLOSE``), else ``None`` (the Python path: RE2 patterns, no extension)."""
    global _native_cache
    m = native.module()
    if m is None or not NATIVE_OK:
        return None
    cached_fmt, parser = _native_cache
    if cached_fmt is fmt:  # the cache holds ``fmt``, so its identity cannot be reused
        return parser
    calls, answers = fmt.scanners()
    parser = None
    if type(calls) is TagScanner and type(answers) is TagScanner and fmt.turn_separator and fmt.turn_end:
        try:
            parser = m.TextParser(
                fmt.turn_separator,
                fmt.turn_end,
                calls.open,
                calls.close,
                answers.open,
                answers.close,
                fmt.call_layout == "lines",
                fmt.strip_think,
                fmt.answer == "last_text",
                MAX_NESTED_JSON_DEPTH,
                Call,
                Turn,
                decode_call,
                (ParsedRollout, Note, call_or_none, canonical_json) if NATIVE_GROUP_OK else None,
            )
        except (ValueError, UnicodeEncodeError):  # tags Rust cannot hold (lone surrogates): Python
            parser = None
    _native_cache = (fmt, parser)
    return parser


def _native_turns(got: tuple[list[Turn], list[tuple[str, str, int]] | None], notes: list[Note]) -> list[Turn]:
    """The turns a native ``parse_messages``/``parse_turns`` read; its notes (code, path, count) go to
    ``notes``."""
    if got[1]:
        notes.extend([Note(code, path, count) for code, path, count in got[1]])
    return got[0]


def _read_blocks(text: str, turn: Turn, calls: Scanner, layout: str) -> None:
    for _start, _end, body in calls.spans(text):
        turn.blocks += 1
        if layout == "lines":
            for line in body.splitlines():
                line = line.strip()
                if not line:
                    continue
                call = decode_call(line)
                if call is None:
                    turn.malformed += 1
                else:
                    turn.calls.append(call)
        else:
            call = decode_call(body.strip())
            if call is None:
                turn.malformed += 1
            else:
                turn.calls.append(call)


def _looks_like_call(model_text: str, calls: Scanner, has_answer: bool) -> bool:
    """An opening tool-call tag, or (outside answers) JSON with a name and arguments."""
    if isinstance(calls, TagScanner) and calls.open in model_text:
        return True
    return (
        not has_answer
        and '"name"' in model_text
        and ('"arguments"' in model_text or '"parameters"' in model_text)
    )


def read_model_text(
    text: str, turn: Turn, fmt: FormatConfig, notes: list[Note], path: str, read_calls: bool = True
) -> str:
    """Calls (unless ``read_calls`` is off) and the tagged answer of one turn's text into ``turn``.

    With ``fmt.strip_think``, think blocks are dropped from the model's part of the turn (up to
    ``fmt.turn_end``) first. Returns that part as read (think removed), for ``answer: last_text``.
    """
    parser = text_parser(fmt)
    if parser is not None and not (read_calls and (turn.blocks or turn.malformed)):
        got = parser.read_model_text(text, read_calls)
        if got is not None:
            found, turn.answer, malformed, blocks, attempted, head, codes = got
            model_text: str = head
            if found:
                turn.calls.extend(found)
            turn.malformed += malformed
            turn.blocks += blocks
            if attempted:
                turn.attempted = True
            if codes:
                notes.extend([Note(code, path, count) for code, count in codes])
            return model_text
    calls, answers = fmt.scanners()
    head, sep, tail = text.partition(fmt.turn_end)
    visible = text
    if fmt.strip_think:
        head, thought = strip_think(head)
        if thought.removed:
            visible = head + sep + tail
            if thought.unclosed:
                notes.append(Note("think_unclosed", path))
            hidden = sum(len(calls.spans(part)) for part in thought.removed) if read_calls else 0
            if hidden:
                notes.append(Note("calls_in_think_ignored", path, hidden))
    if read_calls:
        _read_blocks(visible, turn, calls, fmt.call_layout)
    turn.answer = answers.first(visible)
    if read_calls:
        if turn.malformed:
            notes.append(Note("malformed_calls", path, turn.malformed))
        if not turn.blocks and _looks_like_call(head, calls, turn.answer is not None):
            turn.attempted = True
            notes.append(Note("no_calls_parsed_from_text", path))
    return head


def _last_text_answer(turns: list[Turn], last_text: str, fmt: FormatConfig) -> None:
    """``answer: last_text``: the last turn's text is the answer when it makes no call (nor looks like a
    failed attempt at one) and has no answer tag."""
    if fmt.answer != "last_text" or not turns:
        return
    last = turns[-1]
    if last.blocks or last.attempted or last.answer is not None:
        return
    text = last_text.strip()
    if text:
        last.answer = text


def parse_text(
    text: str, fmt: FormatConfig, notes: list[Note] | None = None, path: str = ".text"
) -> list[Turn]:
    """Split on the assistant-turn separator; a leading separator does not open an empty turn."""
    notes = [] if notes is None else notes
    parser = text_parser(fmt)
    if parser is not None:
        got = parser.parse_text(text)
        if got is not None:
            turns: list[Turn] = got[0]
            if got[1]:
                notes.extend([Note(code, path, count) for code, count in got[1]])
            return turns
    pieces = text.split(fmt.turn_separator)
    if len(pieces) > 1 and pieces[0] == "":
        pieces = pieces[1:]
    turns = []
    model_text = ""
    for piece in pieces:
        turn = Turn(text=piece)
        model_text = read_model_text(piece, turn, fmt, notes, path)
        turns.append(turn)
    _last_text_answer(turns, model_text, fmt)
    return turns


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
    m = native.module()
    if m is not None and raw:
        got = m.structured_calls(raw, Call, call_or_none, MAX_NESTED_JSON_DEPTH)
        if got is not None:  # else a key the API does not know (or an odd type): Python reads it
            turn.calls.extend(got[0])
            turn.malformed += got[1]
            turn.blocks += len(raw)
            turn.given += len(raw)
            return
    for j, obj in enumerate(raw):
        turn.blocks += 1
        keys.check_call(obj, f"{path}[{j}]")
        turn.given += 1
        call = call_or_none(obj)
        if call is None:
            turn.malformed += 1
        else:
            turn.calls.append(call)


def parse_messages(
    messages: Any, fmt: FormatConfig, path: str, notes: list[Note] | None = None, rel: str = ".messages"
) -> list[Turn]:
    """Each assistant message is a turn: its structured ``tool_calls`` when it has any (a non-empty list;
    its content is then not read for calls), else the calls written in its content; the answer from its
    content. ``path`` is the JSON path of ``messages`` for errors, ``rel`` it relative to the rollout."""
    if not isinstance(messages, list):
        raise InvalidRequest(path, "expected a list of chat messages")
    notes = [] if notes is None else notes
    parser = text_parser(fmt)
    if parser is not None:
        got = parser.parse_messages(messages, rel, call_or_none)
        if got is not None:  # else something Python refuses (its error) or reads (odd types)
            return _native_turns(got, notes)
    turns: list[Turn] = []
    model_text = ""
    for k, msg in enumerate(messages):
        mpath = f"{path}[{k}]"
        if not isinstance(msg, dict):
            raise InvalidRequest(mpath, "expected a message object")
        keys.check(msg, keys.MESSAGE, mpath)
        role = msg.get("role")
        if not isinstance(role, str):
            raise InvalidRequest(f"{mpath}.role", "expected a string")
        if role != "assistant":
            if turns:  # a tool response (or user message) the next turn sees: its anchor state (GiGPO)
                seen = turns[-1].observation
                if seen is None:
                    seen = turns[-1].observation = []
                seen.append((role, msg.get("content")))  # references, no copy
            continue
        content = _content_text(msg.get("content"), f"{mpath}.content")
        turn = Turn(text=None)
        raw_calls = msg.get("tool_calls")
        _structured_calls(raw_calls, f"{mpath}.tool_calls", turn)
        if turn.malformed:
            notes.append(Note("malformed_calls", f"{rel}[{k}].tool_calls", turn.malformed))
        model_text = read_model_text(
            content, turn, fmt, notes, f"{rel}[{k}].content", read_calls=not raw_calls
        )
        turns.append(turn)
    if not turns and messages:
        notes.append(Note("no_assistant_messages", rel))
    _last_text_answer(turns, model_text, fmt)
    return turns


def parse_turns(turns_in: Any, path: str, notes: list[Note] | None = None, rel: str = ".turns") -> list[Turn]:
    if not isinstance(turns_in, list):
        raise InvalidRequest(path, "expected a list of turns")
    notes = [] if notes is None else notes
    m = native.module()
    if m is not None and NATIVE_OK:
        got = m.parse_turns(turns_in, rel, Call, Turn, call_or_none, canonical_json, MAX_NESTED_JSON_DEPTH)
        if got is not None:  # else something Python refuses (its error) or reads (odd types)
            return _native_turns(got, notes)
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
        if turn.malformed:
            notes.append(Note("malformed_calls", f"{rel}[{k}].{key}", turn.malformed))
        ans = t.get("answer")
        if ans is not None and not isinstance(ans, str):
            raise InvalidRequest(f"{tpath}.answer", "expected a string or null")
        turn.answer = ans
        if t.get("state") is not None:
            turn.state = canonical_json(t["state"])
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
    notes: list[Note] = []
    if form == "text":
        if not isinstance(value, str):
            raise InvalidRequest(f"{path}.text", "expected a string")
        if len(value) > limits.max_text_chars:
            raise LimitExceeded("max_text_chars", limits.max_text_chars, f"{path}.text", len(value))
        turns = parse_text(value, fmt, notes)
    elif form == "messages":
        turns = parse_messages(value, fmt, f"{path}.messages", notes)
    else:
        turns = parse_turns(value, f"{path}.turns", notes)
    if len(turns) > limits.max_turns:
        raise LimitExceeded("max_turns_per_rollout", limits.max_turns, f"{path}.{form}", len(turns))
    structured = sum(t.given for t in turns)  # calls the client built: over the limit is its error
    if structured > limits.max_calls:
        raise LimitExceeded("max_calls_per_rollout", limits.max_calls, f"{path}.{form}", structured)
    _cap_model_calls(turns, limits.max_calls - structured, notes, f".{form}")
    return ParsedRollout(turns, form, notes)


def turn_context(cfg: ScoringConfig) -> bool:
    """Whether scoring with ``cfg`` reads the context of a turn, :attr:`Turn.text` and
    :attr:`Turn.observation`: only toolrl's format checks (``toolrl.format_ok``, ``turns_missing_think``)
    and GiGPO's anchor states (``gigpo.anchor_keys``) do. Without it :func:`native_group` leaves both
    ``None`` (no copy of each turn's text, no list of the messages after it)."""
    return cfg.reward == "toolrl" or cfg.advantage == "gigpo"


def native_group(
    rollouts: list[Any], fmt: FormatConfig, limits: RolloutLimits, base: int, context: bool = True
) -> tuple[list[ParsedRollout | None], list[int], list[int]] | None:
    """The rollouts of one group read by the native core in one call (identical ones once, as
    :func:`~turnscore.core.request.dedupe_key` keys them): per distinct rollout its reading, ``None`` where
    :func:`parse_rollout` must read it (anything it refuses, with its error); per rollout ``base`` + the
    index of its distinct one; per distinct rollout the index of its first occurrence. ``None`` when the
    native core is off, the format is not literal tags, or the group holds more than plain JSON.

    Without ``context`` (see :func:`turn_context`) the turns it reads have ``text`` and ``observation``
    ``None``; everything else is what :func:`parse_rollout` reads."""
    parser = text_parser(fmt)
    if parser is None:
        return None
    got: tuple[list[ParsedRollout | None], list[int], list[int]] | None = parser.parse_group(
        rollouts, base, limits.max_calls, limits.max_turns, limits.max_text_chars, context
    )
    return got


def _cap_model_calls(turns: list[Turn], room: int, notes: list[Note], path: str) -> None:
    """Calls read from model text (turns with no structured calls) beyond ``max_calls_per_rollout``, the
    structured ones included, are not matched: dropped and counted as malformed, so degenerate output is
    scored and its work bounded, never an error that fails a training step."""
    over = 0
    for turn in turns:
        if turn.given:
            continue
        keep = min(len(turn.calls), room)
        if keep < len(turn.calls):
            drop = len(turn.calls) - keep
            del turn.calls[keep:]
            turn.malformed += drop
            over += drop
        room -= keep
    if over:
        notes.append(Note("calls_over_limit", path, over))
