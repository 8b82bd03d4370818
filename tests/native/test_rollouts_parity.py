"""The request's ``rewards.Rollout`` objects built by the extension (native/src/rollouts.rs
``group_rollouts``, engine._read_rollouts) against those Python builds: on every real gold trace in each
rollout form, the same fields (the very parsed rollout and references, fresh empty lists per object),
tracked by the cyclic GC as Python's are.
"""

from __future__ import annotations

import dataclasses
import gc
from typing import Any

import pytest
from turnscore import workload
from turnscore.core import engine, native
from turnscore.core.limits import DEFAULT_LIMITS
from turnscore.core.request import read_request
from turnscore.core.rewards import Rollout

from tests.native.test_engine_parity import build
from tests.native.test_parse_parity import core
from tests.support.gold import gold_records

pytestmark = pytest.mark.skipif(
    not native.available(),
    reason=f"the compiled extension turnscore_native is not importable ({native.import_error()})",
)


def test_fields_are_those_the_extension_builds() -> None:
    with core("native"):
        m = native.module()
        assert m is not None
        assert tuple(m.ROLLOUT_FIELDS) == tuple(f.name for f in dataclasses.fields(Rollout))
        assert engine._native_rollouts(m)


def _unique(request: dict[str, Any], name: str) -> list[Rollout]:
    with core(name):
        req = read_request(request, DEFAULT_LIMITS)
        _, unique, _ = engine._parse_groups(req, DEFAULT_LIMITS, {}, {}, None)
    return unique


@pytest.mark.parametrize("form", workload.FORMS)
def test_every_gold_trace_builds_the_same_rollouts(form: str, monkeypatch: pytest.MonkeyPatch) -> None:
    request = build(gold_records(), form)
    m = native.module() or pytest.fail("no extension")
    original = m.group_rollouts
    built: list[int] = []

    def spy(*args: Any) -> Any:
        got = original(*args)
        built.append(len(got))
        return got

    with core("native"):
        monkeypatch.setattr(m, "group_rollouts", spy)
        got = _unique(request, "native")
    assert sum(built) == len(got) > len(request["groups"])  # every distinct rollout built natively
    for r in got:
        assert type(r) is Rollout
        assert gc.is_tracked(r)
        want = Rollout(r.group, r.parsed, r.golds)
        for f in dataclasses.fields(Rollout):
            assert getattr(r, f.name) == getattr(want, f.name)
            assert type(getattr(r, f.name)) is type(getattr(want, f.name))
    assert len({id(r.calls) for r in got} | {id(r.where) for r in got}) == 2 * len(got)  # fresh lists
    assert [(r.group, len(r.golds)) for r in got] == [
        (r.group, len(r.golds)) for r in _unique(request, "python")
    ]
