"""The known keys of every object of a request (API.md), defined once, and the strict check of them.

A key an object does not know is an :class:`UnknownKey` (422 ``invalid_request``) naming the JSON path of the
key and, when one is close, the known key it was probably meant to be (``prest`` -> ``preset``): a typo must
never be read as "not given" and score silently wrong. Model output parsed from text is not checked (extra
keys a model writes inside a ``<tool_call>`` are its business); every object the client builds is.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import UnknownKey

__all__ = ["UnknownKey", "check", "check_call", "suggestion"]

SCORE_REQUEST = ("preset", "config", "step", "explain", "groups")
ADVANTAGES_REQUEST = ("preset", "config", "step", "groups")
GROUP = ("id", "gold", "references", "gold_ref", "gold_refs", "rollouts")
ADVANTAGES_GROUP = ("id", "rollouts")
REWARD_ROW = ("turn_rewards", "outcome_reward", "trajectory_reward", "states")

GOLD_TRACE = ("calls", "turns", "turn_sizes", "answer", "accepted_values")
# A gold-data record (tests/data/README.md): the trace under ``gold``, BFCL's accepted values beside it,
# and descriptive fields the scoring does not read (``meta`` is free-form).
GOLD_RECORD = ("gold", "accepted_values", "id", "source", "license", "question", "tools", "meta")

# One tool call: ``{name, arguments}`` (``parameters`` is an alias) or OpenAI's ``{id, type, function}``
# (``index`` is set in streamed deltas).
TOOL_CALL = ("name", "arguments", "parameters", "id", "type", "function", "index")
FUNCTION = ("name", "arguments", "parameters")

ROLLOUT = ("text", "messages", "turns")
TURN = ("tool_calls", "calls", "answer", "state")
# The keys an OpenAI / Hugging Face chat message carries (assistant, tool, user and system messages).
MESSAGE = (
    "role",
    "content",
    "name",
    "tool_calls",
    "tool_call_id",
    "function_call",
    "refusal",
    "reasoning_content",
    "reasoning",
    "annotations",
    "audio",
)

OPENRLHF_REQUEST = ("query", "queries", "prompts", "labels", "preset", "config", "step")

# Synonyms difflib cannot see (checked first, used only when the target is a known key of the object).
ALIASES = {
    "args": "arguments",
    "params": "arguments",
    "call": "calls",
    "tool_call": "tool_calls",
    "function_calls": "tool_calls",
    "toolcalls": "tool_calls",
    "ref": "gold_ref",
    "refs": "gold_refs",
    "golds": "references",
    "reference": "references",
    "samples": "rollouts",
    "completions": "rollouts",
    "responses": "rollouts",
    "answers": "answer",
}


def suggestion(key: str, known: Iterable[str]) -> str | None:
    """The known key ``key`` was most likely meant to be, or ``None`` when none is close."""
    names = list(known)
    alias = ALIASES.get(key.lower())
    if alias is not None and alias in names:
        return alias
    close = difflib.get_close_matches(key.lower(), names, n=1, cutoff=0.6)
    return close[0] if close else None


def check(obj: Mapping[str, Any], known: tuple[str, ...], path: str) -> None:
    """Raise :class:`UnknownKey` for the first key of ``obj`` not in ``known``."""
    for key in obj:
        if key not in known:
            name = str(key)
            raise UnknownKey(f"{path}.{name}" if path else name, name, suggestion(name, known), known)


def check_call(obj: Any, path: str) -> None:
    """A tool call object the client built: its keys and those of its ``function`` object."""
    if isinstance(obj, Mapping):
        check(obj, TOOL_CALL, path)
        fn = obj.get("function")
        if isinstance(fn, Mapping):
            check(fn, FUNCTION, f"{path}.function")
