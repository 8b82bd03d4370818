"""The arguments of the client's methods checked before anything is sent: a wrong type or shape raises
:class:`~turnscore_client.errors.ClientUsageError` saying what was expected, instead of a bare
``TypeError`` / ``ValueError`` from deep inside (or a body the service would misread)."""

from __future__ import annotations

import json
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .errors import ClientUsageError

__all__ = ["config_arg", "explain_arg", "groups_arg", "preset_arg", "sequence_arg", "step_arg"]


def _got(value: Any) -> str:
    return type(value).__name__


def usage_error(argument: str, expected: str, value: Any, hint: str = "") -> ClientUsageError:
    message = f"{argument} must be {expected}, got {_got(value)}" + (f": {hint}" if hint else "")
    return ClientUsageError(
        message, details={"path": argument, "argument": argument, "expected": expected, "got": _got(value)}
    )


def groups_arg(groups: Any, argument: str = "groups") -> list[dict[str, Any]]:
    """``groups`` as a list of plain dicts: a list (any iterable) of group mappings (API.md groups), or of
    objects with ``to_dict()``. One group dict on its own, a string, or a non-iterable is refused."""
    expected = "a list of group dicts (API.md groups)"
    if isinstance(groups, Mapping):
        raise usage_error(argument, expected, groups, "one group dict was passed; wrap it in a list: [group]")
    if isinstance(groups, (str, bytes, bytearray)):
        raise usage_error(argument, expected, groups, "decode the JSON first")
    if not isinstance(groups, Iterable):
        raise usage_error(argument, expected, groups)
    out: list[dict[str, Any]] = []
    for i, g in enumerate(groups):
        if isinstance(g, Mapping):
            out.append(dict(g))
        elif callable(getattr(g, "to_dict", None)):
            out.append(dict(g.to_dict()))
        else:
            raise usage_error(f"{argument}[{i}]", "a group dict (API.md group)", g)
    return out


def config_arg(config: Any) -> dict[str, Any] | None:
    """``config`` overrides as a dict: a mapping, or a string holding a JSON object (parsed); ``None``."""
    expected = "a mapping of setting -> value (or a string holding a JSON object)"
    if config is None:
        return None
    if isinstance(config, Mapping):
        return dict(config)
    if isinstance(config, (str, bytes, bytearray)):
        try:
            parsed = json.loads(config)
        except ValueError as exc:
            raise usage_error("config", expected, config, f"the string is not JSON ({exc})") from None
        if not isinstance(parsed, dict):
            raise usage_error("config", expected, config, f"the string holds a JSON {_got(parsed)}")
        return parsed
    raise usage_error("config", expected, config)


def preset_arg(preset: Any) -> str | None:
    if preset is not None and not isinstance(preset, str):
        raise usage_error("preset", "a preset name (str) or None", preset)
    return preset


def step_arg(step: Any) -> int | None:
    """``step`` as an int >= 0 (Python or numpy integer); ``None``. A float or bool is refused."""
    if step is None:
        return None
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise usage_error("step", "an integer >= 0 or None", step)
    if int(step) < 0:
        raise ClientUsageError(
            f"step must be an integer >= 0, got {int(step)}",
            details={
                "path": "step",
                "argument": "step",
                "expected": "an integer >= 0 or None",
                "got": int(step),
            },
        )
    return int(step)


def explain_arg(explain: Any) -> bool | str:
    """``explain``: a bool, or ``"matrix"`` (matches and each rollout's similarity matrix)."""
    if explain is None:
        return False
    if isinstance(explain, (bool, np.bool_)):
        return bool(explain)
    if explain == "matrix":
        return "matrix"
    raise usage_error("explain", 'a bool or "matrix"', explain)


def sequence_arg(value: Any, argument: str, item: type | None = None) -> list[Any]:
    """A list argument (``queries``, ``prompts``, ``labels``): not a string; items of type ``item``."""
    expected = "a list" + (f" of {item.__name__}" if item is not None else "")
    if isinstance(value, (str, bytes, bytearray, Mapping)) or not isinstance(value, Iterable):
        raise usage_error(argument, expected, value)
    out = list(value)
    if item is not None:
        for i, x in enumerate(out):
            if not isinstance(x, item):
                raise usage_error(f"{argument}[{i}]", f"a {item.__name__}", x)
    return out
