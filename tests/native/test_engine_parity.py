"""The compiled core gives what the Python reference gives, end to end: every preset on the real gold traces
(tests.support.gold: all 3,918 when the full set is present, else the vendored sample) in each of the three
rollout forms, with ``explain`` on. ``engine.score`` runs once under ``native.select("python")`` and once
under ``native.select("native")``; the bodies must agree (floats to 1e-12 relative, OT plans included; the
same matches), and so must the malformed-call counts and the warnings (per code and per rollout).

Beside the perturbed rollouts (dropped, extra, renamed, wrong-valued, repeated and malformed calls), each
group carries the gold calls themselves (every call matched) so both extremes of the matching are covered.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Iterator
from typing import Any

import pytest
from turnscore import workload
from turnscore.core import engine, native
from turnscore.core.config import PRESETS as PRESET_CONFIGS

from tests.support.gold import gold_records
from tests.support.native import require_native

PRESETS = list(engine.presets())
GROUP_SIZE = 2  # perturbed rollouts per group (two more: the gold calls, and them with one malformed)
REL = 1e-12
ABS = 1e-15  # a float the reference computes as ~0 (a difference of equal values) may come out as 0.0


#: presets whose config differs from matchtir-km only in these advantage-side options run on the sample: the
#: compiled core computes nothing they change (parse, value keys, similarity, assignment, per-turn rewards)
ADVANTAGE_ONLY = {"advantage", "turn_normalization", "epsilon", "gamma", "singleton"}


def on_the_sample(preset: str) -> bool:
    base, config = (
        dataclasses.asdict(PRESET_CONFIGS["matchtir-km"]),
        dataclasses.asdict(PRESET_CONFIGS[preset]),
    )
    changed = {k for k in config if config[k] != base[k]}
    return bool(changed) and changed <= ADVANTAGE_ONLY


def build(records: list[dict[str, Any]], form: str) -> dict[str, Any]:
    """A group per gold record, rollouts in ``form`` only: perturbed ones, the gold calls themselves, and
    the gold calls with the first one written so that it does not parse."""
    rng = random.Random(18)
    groups = []
    for rec in records:
        group = workload.make_group(rec, GROUP_SIZE, rng, forms=(form,))
        gold = group["gold"]
        exact = [[dict(c) for c in turn] for turn in gold["turns"]]
        group["rollouts"].append(workload.render(exact, gold["answer"], form, rng, 0.0))
        broken = [[dict(c) for c in turn] for turn in gold["turns"]]
        if broken and broken[0]:
            broken[0][0][workload.MALFORMED] = True
            group["rollouts"].append(workload.render(broken, gold["answer"], form, rng, 0.0))
        groups.append(group)
    return {"explain": True, "groups": groups}


@pytest.fixture(scope="module")
def requests() -> dict[tuple[str, bool], dict[str, Any]]:
    """(form, sample) -> request: every gold record (the full set when present) and the sample's."""
    full, sample = gold_records(), gold_records(sample=True)
    out = {}
    for form in workload.FORMS:
        out[form, False] = build(full, form)
        out[form, True] = build(sample, form) if len(sample) < len(full) else out[form, False]
    return out


@pytest.fixture
def restore_core() -> Iterator[None]:
    before = native.active()
    yield
    native.select(before)


def score_with(core: str, request: dict[str, Any]) -> engine.ScoreResult:
    assert native.select(core) == core
    return engine.score(request)


def differences(a: Any, b: Any, path: str = "", exact: bool = False) -> Iterator[str]:
    """Where ``a`` (Python core) and ``b`` (native core) differ: types exactly, floats to ``REL`` (``exact``:
    bit for bit, NaN equal to NaN)."""
    if type(a) is not type(b):
        yield f"{path}: {type(a).__name__} {a!r} vs {type(b).__name__} {b!r}"
    elif isinstance(a, dict):
        if list(a) != list(b):
            yield f"{path}: keys {list(a)} vs {list(b)}"
        for k in a.keys() & b.keys():
            yield from differences(a[k], b[k], f"{path}.{k}", exact)
    elif isinstance(a, list | tuple):
        if len(a) != len(b):
            yield f"{path}: length {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            yield from differences(x, y, f"{path}[{i}]", exact)
    elif isinstance(a, float) and exact:
        if a.hex() != b.hex() and not (math.isnan(a) and math.isnan(b)):
            yield f"{path}: {a!r} vs {b!r}"
    elif isinstance(a, float):
        if not (a == b or math.isclose(a, b, rel_tol=REL, abs_tol=ABS)):
            yield f"{path}: {a!r} vs {b!r}"
    elif a != b:
        yield f"{path}: {a!r} vs {b!r}"


@pytest.mark.parametrize("form", workload.FORMS)
@pytest.mark.parametrize("preset", PRESETS)
def test_native_core_equals_python_core(
    requests: dict[tuple[str, bool], dict[str, Any]], preset: str, form: str, restore_core: None
) -> None:
    require_native()
    request = {**requests[form, on_the_sample(preset)], "preset": preset}
    ref = score_with("python", request)
    got = score_with("native", request)
    found = list(differences(ref.body, got.body, "body"))
    assert not found, f"{len(found)} differences, first: {found[:5]}"
    assert got.stats.malformed_calls == ref.stats.malformed_calls
    assert got.stats.warnings == ref.stats.warnings
    assert got.stats.rollout_warnings == ref.stats.rollout_warnings
    assert sorted(got.golds) == sorted(ref.golds)


def test_the_requests_exercise_what_parity_is_about(requests: dict[tuple[str, bool], dict[str, Any]]) -> None:
    """The inputs are not trivial: malformed calls, partial and full matches in every form (Python core);
    the presets left to the sample are the advantage-only variants, and there are some."""
    assert sum(map(on_the_sample, PRESETS)) >= 5
    assert not on_the_sample("matchtir-km") and not on_the_sample("matchtir-ablation-outcome")
    for form in workload.FORMS:
        request = requests[form, True]
        stats = engine.score({**request, "preset": "matchtir-km"}).stats
        assert stats.malformed_calls > 0, form
        rewards = {
            m["reward"]
            for g in engine.score({**request, "preset": "matchtir-km"}).body["groups"]
            for r in g["rollouts"]
            for m in r["matches"]
        }
        assert 1.0 in rewards and any(0 < x < 1 for x in rewards), form


def test_differences_finds_what_it_must() -> None:
    """The comparison itself: a float beyond 1e-12 relative, a type change, a missing key are reported."""
    a = {"x": [1.0, 2, "s"], "y": {"z": True}}
    assert not list(differences(a, {"x": [1.0 + 1e-15, 2, "s"], "y": {"z": True}}))
    assert list(differences(a, {"x": [1.0 + 1e-9, 2, "s"], "y": {"z": True}}))
    assert list(differences(a, {"x": [1.0, 2.0, "s"], "y": {"z": True}}))
    assert list(differences(a, {"x": [1.0, 2, "s"], "y": {}}))
    assert list(differences(a, {"x": [1.0, 2], "y": {"z": True}}))
