"""ScoringConfig.to_dict, built once per config object (config._DICTS) and copied per call: equal to
``dataclasses.asdict`` (values, key order, types) for every preset and for overridden configs (schedules,
format), a fresh dict each time (changing one response's ``config`` changes no other), bounded."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest
from turnscore.core import config
from turnscore.core.config import PRESETS, resolve


def strict(value: Any) -> Any:
    if type(value) is dict:
        return ("dict", [(k, strict(v)) for k, v in value.items()])
    if type(value) is list:
        return ("list", [strict(v) for v in value])
    return (type(value).__name__, repr(value))


OVERRIDES: list[dict[str, Any]] = [
    {"unmatched_penalty": {"start": 0.5, "end": 0, "steps": 10}},
    {"malformed_penalty": "unmatched", "format": {"answer": "last_text"}},
    {"malformed_penalty": {"start": 1, "end": 0.25, "steps": 3}, "gamma": 1},
]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_equal_asdict_and_fresh(name: str) -> None:
    cfg = PRESETS[name]
    first = cfg.to_dict()
    assert strict(first) == strict(asdict(cfg))
    first["format"]["style"] = "changed"
    first["reward"] = "changed"
    again = cfg.to_dict()
    assert strict(again) == strict(asdict(cfg))
    assert again is not first and again["format"] is not first["format"]


@pytest.mark.parametrize("overrides", OVERRIDES)
def test_overridden_configs_equal_asdict_and_fresh(overrides: dict[str, Any]) -> None:
    cfg = resolve("matchtir-km", overrides)
    first = cfg.to_dict()
    assert strict(first) == strict(asdict(cfg))
    for value in first.values():
        if type(value) is dict:
            value.clear()
    assert strict(cfg.to_dict()) == strict(asdict(cfg))
    assert strict(resolve("matchtir-km", overrides).to_dict()) == strict(asdict(cfg))


def test_the_cache_is_bounded() -> None:
    for k in range(3 * config._MAX_DICTS):
        cfg = resolve("matchtir-km", {"gamma": k / 1000})
        assert cfg.to_dict()["gamma"] == k / 1000
    assert len(config._DICTS) <= config._MAX_DICTS
