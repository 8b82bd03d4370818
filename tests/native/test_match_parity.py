"""The compiled matching (native/src/matching*.rs) against the Python reference, bit for bit.

Value keys, similarity entries and matrices, Hungarian (against scipy, ties included) and greedy
assignments, and whole ``engine.score`` bodies, on the real gold traces (all of them when the full set is
present) perturbed into rollouts, and on adversarial values (hypothesis).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment
from turnscore import workload
from turnscore.core import assign, engine, native, similarity
from turnscore.core.calls import Call, call_from_obj
from turnscore.core.gold import CompiledGold, compile_gold
from turnscore.core.values import values_equal

from tests.support.gold import gold_records

pytestmark = pytest.mark.skipif(
    not native.available(), reason=f"the compiled extension is not importable: {native.import_error()}"
)

MODES = ("exact", "normalized", "python")
CASES = (False, True)


@pytest.fixture
def ext() -> Iterator[Any]:
    """The extension, with the Python core selected so that the reference functions run in Python."""
    before = native.active()
    native.select("python")
    import turnscore_native

    yield turnscore_native
    native.select(before)


def _rollout_calls(record: dict[str, Any], rng: random.Random) -> list[Call]:
    turns = workload.perturb_turns(record["gold"]["turns"], rng, rng.random())
    calls = [call_from_obj(c) for t in turns for c in t]
    out = [c for c in calls if c is not None]
    if out and rng.random() < 0.3:  # names in another case: differ only when case-sensitive
        k = rng.randrange(len(out))
        out[k] = Call(out[k].name.upper(), out[k].arguments)
    return out


def _bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).tobytes()


def _same(a: assign.Assignment, b: assign.Assignment) -> bool:
    return (
        _bits(a.rewards) == _bits(b.rewards)
        and _bits(a.gold.astype(np.int64)) == _bits(b.gold.astype(np.int64))
        and _bits(a.similarity) == _bits(b.similarity)
    )


def _check_pair(
    ext: Any, calls: list[Call], gold: CompiledGold, mode: str, cs: bool, stats: dict[str, int]
) -> None:
    pred = similarity.PredTables(calls, cs)
    pair = similarity.native_pair(ext, pred, gold, mode, cs)
    assert pair is not None  # JSON values always key natively
    want = similarity.entries(pred, gold, mode, cs)
    assert ext.entries(*pair) == want
    m, n = len(calls), len(gold.calls)
    got_s = np.frombuffer(ext.matrix(*pair), dtype=np.float64).reshape(m, n)
    assert _bits(got_s) == _bits(assign.dense(want, m, n))
    if m == 0 or n == 0:
        return
    rows, cols = {e[0] for e in want}, {e[1] for e in want}
    stats["conflicts"] += not (len(rows) == len(want) == len(cols))
    stats["problems"] += 1
    for hung, solve in ((True, assign.hungarian), (False, assign.greedy)):
        ref = solve(want, m, n, 0.5)
        got = assign.from_native(ext.assign(*pair, hung, 0.5), m)
        assert _same(got, ref), (mode, cs, hung, calls, gold.calls)
        many = assign.from_native_many(ext.assign_many([pair, pair], hung, 0.5), [m, m])
        assert _same(many[0], ref) and _same(many[1], ref)


def test_real_traces_entries_matrices_assignments(ext: Any) -> None:
    rng = random.Random(18)
    stats = {"conflicts": 0, "problems": 0}
    for record in gold_records():
        gold = compile_gold(workload.gold_of(record))
        rollouts = [_rollout_calls(record, rng) for _ in range(2)]
        for mode, cs in itertools.product(MODES, CASES):
            for calls in rollouts:
                _check_pair(ext, calls, gold, mode, cs, stats)
    assert stats["problems"] > 0
    print(f"hungarian problems with a row/column conflict: {stats['conflicts']} of {stats['problems']}")


def test_gold_table_is_cached_per_mode_and_case(ext: Any) -> None:
    gold = compile_gold({"calls": [{"name": "f", "arguments": {"a": 1}}]})
    t = gold.native_table(ext, "exact", False)
    assert t is not None and gold.native_table(ext, "exact", False) is t
    assert gold.native_table(ext, "exact", True) is not t
    assert gold.native_table(ext, "python", False) is not t


# -- adversarial values ----------------------------------------------------------------------------

TEXT = st.text(
    alphabet=st.sampled_from([*"0123456789 _.+-eE\tabxXß", "İ", "ﬁ", "١", "\xa0", "\x1c", "\u2003", "ǅ"]),
    max_size=8,
)
SPECIAL = st.sampled_from(
    [
        " 1e3 ",
        "1E3",
        "1000",
        "-0",
        "0",
        "+0.0",
        "inf",
        "+inf",
        "-inf",
        "nan",
        "-nan",
        "1_000",
        "٣",
        "١٢",
        "ß",
        "SS",
        "ss",
        "İ",
        "i̇",
        "  A  b ",
        "a b",
        "5.",
        ".5",
        "0.5",
        "1e400",
        "007",
        "7",
        "1e20",
        "100000000000000000000",
        "9007199254740993",
        "-9223372036854775809",
        "\x1c1\x1f",
        "\xa01",
        "1e-400",
        "-.0e0",
    ]
)
NUMBERS = st.one_of(
    st.integers(),
    st.sampled_from([2**53, 2**53 + 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 10**20, 0, 1, -1]),
    st.floats(allow_nan=False),
    st.sampled_from(
        [0.0, -0.0, 1.0, 2.0**53, 2.0**63, -(2.0**63), 2.0**64, 1e20, 1e300, 0.5, math.inf, -math.inf]
    ),
)
SCALARS = st.one_of(st.booleans(), st.none(), NUMBERS, TEXT, SPECIAL)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.sampled_from(["a", "b", "A"]), inner, max_size=3),
    ),
    max_leaves=6,
)
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _native_equal(ext: Any, a: Any, b: Any, mode: str, accepted: list[Any] | None = None) -> bool:
    gold = ext.gold_table([Call("f", {"x": a})], None if accepted is None else [{"x": accepted}], mode, True)
    pred = ext.pred_table([Call("f", {"x": b})], mode, True)
    [(_, _, s)] = ext.entries(pred, gold)
    assert s in (1.0, 2.0 / 3.0)
    return s == 1.0


@SETTINGS
@given(VALUES, VALUES, st.sampled_from(MODES))
def test_value_keys_match_python_equality(a: Any, b: Any, mode: str) -> None:
    import turnscore_native as ext

    assert _native_equal(ext, a, b, mode) == values_equal(a, b, mode)
    assert _native_equal(ext, a, a, mode)


@SETTINGS
@given(SCALARS, st.lists(SCALARS, max_size=3), SCALARS, st.sampled_from(MODES))
def test_accepted_values_match_python(a: Any, acc: list[Any], b: Any, mode: str) -> None:
    import turnscore_native as ext

    want = values_equal(a, b, mode) or any(values_equal(x, b, mode) for x in acc)
    assert _native_equal(ext, a, b, mode, acc) == want


@pytest.mark.parametrize(
    ("a", "b", "mode", "equal"),
    [
        (1, 1.0, "exact", True),
        (True, 1, "exact", False),
        (True, 1, "python", True),
        (True, 1.0, "python", True),
        ([1, 2], (1, 2), "python", False),
        ([1, 2], (1, 2), "exact", True),
        ({"a": [1, {"b": 2.0}]}, {"a": [1.0, {"b": 2}]}, "exact", True),
        (2**53 + 1, 9007199254740992.0, "exact", False),
        (2**64, 2.0**64, "python", True),
        (10**20, 1e20, "exact", True),
        ("1e3", 1000, "normalized", True),
        (" 1e3 ", "1000", "normalized", True),
        ("1_000", 1000, "normalized", False),
        ("-0", 0, "normalized", True),
        ("inf", math.inf, "normalized", False),
        ("ß", "SS", "normalized", True),
        ("İ", "i̇", "normalized", True),
        ("١٢", 12, "normalized", True),
        (" A\x1c b ", "a b", "normalized", True),
    ],
)
def test_value_examples(ext: Any, a: Any, b: Any, mode: str, equal: bool) -> None:
    assert values_equal(a, b, mode) == equal  # the reference itself
    assert _native_equal(ext, a, b, mode) == equal


@pytest.mark.parametrize("value", [math.nan, object(), {1: "x"}, "\ud800", frozenset()])
def test_unkeyable_values_fall_back_to_python(ext: Any, value: Any) -> None:
    calls = [Call("f", {"x": value})]
    assert ext.gold_table(calls, None, "exact", False) is None
    assert ext.pred_table(calls, "python", False) is None


def test_nan_rollout_scores_as_python() -> None:
    gold = compile_gold(
        {"calls": [{"name": "f", "arguments": {"x": 1}}, {"name": "f", "arguments": {"x": 2}}]}
    )
    calls = [Call("f", {"x": math.nan}), Call("f", {"x": 2})]
    before = native.active()
    try:
        out = []
        for core in ("python", "native"):
            native.select(core)
            pred = similarity.PredTables(calls, False)
            out.append(_bits(similarity.matrix(pred, gold, "python", False)))
        assert out[0] == out[1]
    finally:
        native.select(before)


# -- Hungarian: scipy's assignment, ties included ---------------------------------------------------


def _scipy_cols(s: np.ndarray) -> list[int]:
    r, c = linear_sum_assignment(s, maximize=True)
    out = [-1] * s.shape[0]
    for i, j in zip(r, c, strict=True):
        out[int(i)] = int(j)
    return out


@settings(max_examples=400, deadline=None)
@given(
    st.integers(1, 7),
    st.integers(1, 7),
    st.data(),
)
def test_lsap_equals_scipy_with_ties(m: int, n: int, data: st.DataObject) -> None:
    import turnscore_native as ext

    levels = data.draw(
        st.sampled_from([[0.0, 1.0], [0.0, 0.5, 0.75, 1.0], [0.0, 1 / 3, 2 / 3, 0.8, 0.1 + 0.2]])
    )
    s = np.array(data.draw(st.lists(st.sampled_from(levels), min_size=m * n, max_size=m * n))).reshape(m, n)
    assert ext.lsap_maximize(s.tobytes(), m, n) == _scipy_cols(s)


def test_lsap_equals_scipy_random_sizes() -> None:
    import turnscore_native as ext

    rng = np.random.default_rng(18)
    for _ in range(3000):
        m, n = (int(x) for x in rng.integers(1, 13, size=2))
        s = rng.choice([0.0, 0.25, 0.5, 0.6, 1.0], size=(m, n)) if rng.random() < 0.7 else rng.random((m, n))
        assert ext.lsap_maximize(s.tobytes(), m, n) == _scipy_cols(s)


def test_hungarian_ties_on_repeated_calls(ext: Any) -> None:
    call = {"name": "f", "arguments": {"a": 1, "b": "x"}}
    other = {"name": "f", "arguments": {"a": 2}}
    gold = compile_gold({"calls": [call, other, call, call, other]})
    rng = random.Random(3)
    stats = {"conflicts": 0, "problems": 0}
    for _ in range(300):
        calls = [
            call_from_obj(rng.choice([call, other, {"name": "F", "arguments": {}}]))
            for _ in range(rng.randint(1, 8))
        ]
        _check_pair(
            ext, [c for c in calls if c is not None], gold, rng.choice(MODES), rng.random() < 0.5, stats
        )
    assert stats["conflicts"] > 100


# -- whole requests ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "config"),
    [
        ("matchtir-km", {}),
        ("matchtir-km", {"value_match": "normalized", "name_case_sensitive": True}),
        ("matchtir-km", {"value_match": "python"}),
        ("matchtir-reference-km", {}),
        ("matchtir-reference-km", {"value_match": "exact", "name_case_sensitive": True}),
        ("matchtir-ot", {}),
        ("matchtir-ot", {"value_match": "normalized"}),
        ("matchtir-reference-ot", {}),
    ],
)
def test_engine_bodies_equal(preset: str, config: dict[str, Any]) -> None:
    records = gold_records(per_source=6)
    req = workload.make_request(records, groups=24, group_size=8, seed=18, preset=preset)
    if config:
        req["config"] = config
    req["explain"] = True
    raw = orjson.dumps(req)
    before = native.active()
    try:
        bodies = []
        for core in ("python", "native"):
            native.select(core)
            bodies.append(
                orjson.dumps(engine.score(orjson.loads(raw)).body, option=orjson.OPT_SERIALIZE_NUMPY)
            )
    finally:
        native.select(before)
    assert bodies[0] == bodies[1]
