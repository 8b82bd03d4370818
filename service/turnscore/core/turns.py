"""What a rollout reads into (SCORING.md §1): its turns, each turn's calls and answer, and the notes of
what was odd in it; the decoder of model-written call blocks. :mod:`parse` builds them, and so does the
native parser (native/src/parse*.rs), which sets the fields listed here by position: where the lists
differ, Python reads the rollouts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from .calls import Call, TooDeep, call_from_obj, loads_bounded
from .native import same_fields


def canonical_json(value: Any) -> bytes:
    """A decoded JSON value as canonical text (sorted keys), for equality of states and prefixes; values
    orjson cannot write (integers beyond 64 bits) fall back to their ``repr``."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return repr(value).encode()


@dataclass(slots=True)
class Turn:
    calls: list[Call] = field(default_factory=list)
    answer: str | None = None
    malformed: int = 0
    blocks: int = 0  # tool-call blocks (text) or calls given (structured), valid or not
    # the raw turn text, for format checks (text form only; None from native_group when no stage reads it,
    # turn_context)
    text: str | None = None
    given: int = 0  # structured calls the client gave (what max_calls_per_rollout bounds)
    attempted: bool = False  # its text looks like a call, yet no call block was found
    state: bytes | None = None  # the anchor state the client sent (turns form), canonical JSON (GiGPO)
    # messages form: (role, content) of the messages after it, as sent (text form: after turn_end in ``text``;
    # None from native_group when no stage reads it, turn_context)
    observation: list[tuple[str, Any]] | None = None


@dataclass(frozen=True, slots=True)
class Note:
    """A warning cause seen in a rollout (core/diagnostics.py): ``path`` is relative to the rollout."""

    code: str
    path: str
    count: int = 1


@dataclass(slots=True)
class ParsedRollout:
    turns: list[Turn]
    form: str
    notes: list[Note] = field(default_factory=list)

    @property
    def malformed(self) -> int:
        n = 0
        for t in self.turns:  # a loop: about twice as fast as sum() over a generator
            n += t.malformed
        return n


def decode_call(body: str) -> Call | None:
    """A call from a block of model output; ``None`` (malformed) when it is not JSON, not a call, or
    nested too deep."""
    try:
        return call_from_obj(loads_bounded(body))
    except (orjson.JSONDecodeError, TooDeep):
        return None


# The fields the native parser sets on each Turn it builds, in this order (native/src/parse.rs `turn`):
# a Turn with other fields keeps the text form on Python until parse.rs sets them too.
NATIVE_TURN_FIELDS = (
    "calls",
    "answer",
    "malformed",
    "blocks",
    "text",
    "given",
    "attempted",
    "state",
    "observation",
)
NATIVE_OK = same_fields(Turn, NATIVE_TURN_FIELDS)
# ... and on each ParsedRollout and Note (native/src/parse_group.rs): else groups are read here
NATIVE_GROUP_OK = same_fields(ParsedRollout, ("turns", "form", "notes")) and same_fields(
    Note, ("code", "path", "count")
)
