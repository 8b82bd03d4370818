"""Reading one tool call from its JSON object: ``name`` plus ``arguments`` (or the ``parameters`` alias)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class Call:
    """A tool call: its name and its arguments as a JSON object (``{}`` when they did not decode)."""

    name: str
    arguments: dict[str, Any]


def decode_arguments(raw: Any) -> dict[str, Any]:
    """Arguments as an object; a JSON string holding an object is decoded; anything else is ``{}``."""
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str | bytes):
        try:
            val = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return {}
        return val if isinstance(val, dict) else {}
    return {}


def call_from_obj(obj: Any) -> Call | None:
    """A :class:`Call` from ``{"name", "arguments"|"parameters"}`` or OpenAI's ``{"function": {...}}``.

    Returns ``None`` (a malformed call) when ``obj`` is not an object with a string ``name``.
    """
    if not isinstance(obj, dict):
        return None
    fn = obj.get("function")
    if isinstance(fn, dict) and "name" in fn:
        obj = fn
    name = obj.get("name")
    if not isinstance(name, str):
        return None
    raw = obj.get("arguments")
    if raw is None:
        raw = obj.get("parameters")
    return Call(name, decode_arguments(raw))
