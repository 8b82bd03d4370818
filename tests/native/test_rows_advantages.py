"""The extension's advantages (native/src/rows/advantages.rs, ``response.native_params``) are numpy's
(``advantages.compute``, the reference) bit for bit: hypothesis-made groups (sizes 1 to many, empty groups,
rollouts of 0 to several turns, ties, huge, tiny, infinite and NaN values) under every setting the extension
computes; and the rows of whole requests agree with the numpy path on for every such setting."""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from turnscore.core import engine, native, response
from turnscore.core.config import PRESETS, ScoringConfig

from tests.native.test_engine_parity import differences
from tests.support.native import require_native

adv = importlib.import_module("turnscore.core.advantages")

SETTINGS = [
    dataclasses.replace(
        PRESETS["matchtir-km"],
        advantage=a,
        turn_normalization=tn,
        std=sd,
        singleton=sg,
        combine=cb,
    )
    for a, tn, sd, sg, cb in itertools.product(
        response.NATIVE_ADVANTAGE,
        response.NATIVE_TURN_NORMALIZATION,
        response.NATIVE_STD,
        ("zero", "raw"),
        ("sum", "mean"),
    )
]

values = st.one_of(
    st.floats(-3.0, 3.0),
    st.sampled_from([0.0, -0.0, 1.0, 0.5, 1e300, -1e300, 1e-300, math.inf, -math.inf, math.nan]),
    st.floats(allow_nan=True, allow_infinity=True),
)


@st.composite
def inputs(draw: Any) -> adv.AdvantageInput:
    n_groups = draw(st.integers(1, 5))
    group = draw(st.lists(st.integers(0, n_groups - 1), min_size=0, max_size=24))
    group.sort() if draw(st.booleans()) else None
    n = len(group)
    num_turns = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    m = sum(num_turns)
    return adv.AdvantageInput(
        returns=np.array(draw(st.lists(values, min_size=n, max_size=n)), dtype=float),
        outcome=np.array(draw(st.lists(values, min_size=n, max_size=n)), dtype=float),
        group=np.array(group, dtype=np.int64),
        num_turns=np.array(num_turns, dtype=np.int64),
        turn_rewards=np.array(draw(st.lists(values, min_size=m, max_size=m)), dtype=float),
    )


def _ext() -> Any:
    require_native()
    return native._ext


def _bits(x: np.ndarray) -> list[int]:
    return np.ascontiguousarray(x, dtype=np.float64).view(np.int64).tolist()


def native_compute(ext: Any, inp: adv.AdvantageInput, cfg: ScoringConfig) -> tuple[np.ndarray, ...]:
    params = response.native_params(cfg)
    assert params is not None
    arrays = (inp.returns, inp.outcome, inp.group, inp.num_turns, inp.turn_rewards)
    got = ext.advantages(tuple(a.tobytes() for a in arrays), params)
    assert got is not None
    return tuple(np.frombuffer(b) for b in got)


@given(inp=inputs(), cfg=st.sampled_from(SETTINGS), eps=st.sampled_from([1e-6, 1e-4, 0.0, 0.5]))
@settings(max_examples=3000, deadline=None)
def test_advantages_bit_for_bit(inp: adv.AdvantageInput, cfg: ScoringConfig, eps: float) -> None:
    ext = _ext()
    cfg = dataclasses.replace(cfg, epsilon=eps, gamma=0.9 if eps else 1.0)
    with np.errstate(all="ignore"):
        ref = adv.compute(inp, cfg)
    trajectory, turn, combined = native_compute(ext, inp, cfg)
    # NaNs may differ in sign or payload; the rows send every non-finite value as 0
    for name, a, b in (
        ("trajectory", ref.trajectory, trajectory),
        ("turn", ref.turn, turn),
        ("combined", ref.combined, combined),
    ):
        assert a.shape == b.shape, name
        nan = np.isnan(a)
        assert (nan == np.isnan(b)).all(), name
        assert _bits(a[~nan]) == _bits(b[~nan]), name


def test_advantages_not_native() -> None:
    """mt-grpo and gigpo stay numpy's; inconsistent arrays are refused."""
    ext = _ext()
    for name in ("mt-grpo", "gigpo"):
        assert response.native_params(PRESETS[name]) is None
    params = response.native_params(PRESETS["matchtir-km"])
    one = np.zeros(2).tobytes()
    ints = np.array([0, 0], dtype=np.int64).tobytes()
    assert ext.advantages((one, one, ints, np.array([1, 0], dtype=np.int64).tobytes(), b""), params) is None


@pytest.mark.parametrize("kind", ["distinct", "long"])
def test_rows_native_advantages_vs_numpy(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole bodies with the advantages the extension's vs numpy's, under every setting it computes."""
    require_native()
    from bench import workloads

    base = workloads.make_requests(kind, 1, 3, 4, seed=2)[0]
    native.select("native")
    for cfg in SETTINGS[:: 5 if kind == "long" else 3]:
        request = {**base, "preset": "matchtir-km", "config": _overrides(cfg)}
        monkeypatch.setattr(response, "NATIVE_ADVANTAGES", True)
        a = engine.score(request).body
        monkeypatch.setattr(response, "NATIVE_ADVANTAGES", False)
        b = engine.score(request).body
        assert not list(differences(b, a, "", exact=True)), cfg


def _overrides(cfg: ScoringConfig) -> dict[str, Any]:
    return {
        "advantage": cfg.advantage,
        "turn_normalization": cfg.turn_normalization,
        "std": cfg.std,
        "singleton": cfg.singleton,
        "combine": cfg.combine,
    }
