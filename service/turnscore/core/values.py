"""Argument-value keys for the three ``value_match`` modes (SCORING.md §2).

Each mode maps a decoded JSON value to a hashable key such that two values are equal under the mode
exactly when their keys are equal. Comparing keys (set membership) keeps similarity free of per-pair
recursion.

- ``exact``: JSON equality. Numbers compare numerically (1 == 1.0), booleans never equal numbers,
  objects and arrays compare deeply.
- ``normalized``: as exact, plus strings are Unicode case-folded, trimmed, whitespace-collapsed, and a
  string that spells a finite number equals that number.
- ``python``: Python ``==`` on the decoded values (True == 1 == 1.0).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from typing import Any

Key = Hashable


def exact_key(v: Any) -> Key:
    t = type(v)  # fast path for the common exact types; subclasses fall through to isinstance below
    if t is str:
        return ("s", v)
    if t is int or t is float:
        return ("n", v)
    if isinstance(v, str):
        return ("s", v)
    if isinstance(v, bool):
        return ("b", v)
    if isinstance(v, int | float):
        return ("n", v)
    if v is None:
        return ("z",)
    if isinstance(v, list | tuple):
        return ("l", tuple(exact_key(x) for x in v))
    if isinstance(v, dict):
        return ("d", frozenset((k, exact_key(x)) for k, x in v.items()))
    return ("o", repr(v))


def python_key(v: Any) -> Key:
    t = type(v)  # fast path for the common exact types; subclasses fall through to isinstance below
    if t is str:
        return ("s", v)
    if t is int or t is float or t is bool:
        return ("n", v)
    if isinstance(v, str):
        return ("s", v)
    if isinstance(v, bool | int | float):
        return ("n", v)  # True == 1 == 1.0 in Python, and hash agrees
    if v is None:
        return ("z",)
    if isinstance(v, list):
        return ("l", tuple(python_key(x) for x in v))
    if isinstance(v, tuple):
        return ("t", tuple(python_key(x) for x in v))
    if isinstance(v, dict):
        return ("d", frozenset((k, python_key(x)) for k, x in v.items()))
    return ("o", repr(v))


def _norm_str(s: str) -> Key:
    t = " ".join(s.casefold().split())
    if t and (t[0].isdigit() or t[0] in "+-.") and "_" not in t:
        try:
            x = float(t)
        except ValueError:
            pass
        else:
            if math.isfinite(x):
                try:
                    i = int(t)
                except ValueError:
                    return ("n", x)
                return ("n", i)
    return ("s", t)


def normalized_key(v: Any) -> Key:
    t = type(v)  # fast path for the common exact types; subclasses fall through to isinstance below
    if t is int or t is float:
        return ("n", v)
    if isinstance(v, str):
        return _norm_str(v)
    if isinstance(v, bool):
        return ("b", v)
    if isinstance(v, int | float):
        return ("n", v)
    if v is None:
        return ("z",)
    if isinstance(v, list | tuple):
        return ("l", tuple(normalized_key(x) for x in v))
    if isinstance(v, dict):
        return ("d", frozenset((k, normalized_key(x)) for k, x in v.items()))
    return ("o", repr(v))


KEY_FUNCS: dict[str, Callable[[Any], Key]] = {
    "exact": exact_key,
    "normalized": normalized_key,
    "python": python_key,
}


def values_equal(a: Any, b: Any, mode: str) -> bool:
    """``value_eq`` of SCORING.md §2 under ``mode``."""
    f = KEY_FUNCS[mode]
    return f(a) == f(b)
