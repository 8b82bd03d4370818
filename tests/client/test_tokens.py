"""turnscore_client.tokens: per-turn values <-> token-level rows over a response mask (numpy side).

The torch side runs in the verl environment (client/tests_verl/).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from turnscore_client import tokens
from turnscore_client.tokens import (
    SegmentMismatchError,
    find_segments,
    pack_rewards,
    place_per_turn,
    read_segment_ends,
    unpack_rewards,
)


def runs_slow(row: np.ndarray) -> list[tuple[int, int]]:
    """Reference: (start, end) of each run of 1s, by a plain loop."""
    out: list[tuple[int, int]] = []
    start = None
    for j, v in enumerate(row.tolist()):
        if v and start is None:
            start = j
        if not v and start is not None:
            out.append((start, j - 1))
            start = None
    if start is not None:
        out.append((start, len(row) - 1))
    return out


def random_mask(rng: np.random.Generator, b: int, length: int) -> np.ndarray:
    """Rows like a multi-turn rollout: assistant runs, observation gaps, right padding."""
    m = np.zeros((b, length), dtype=np.int64)
    for i in range(b):
        j = 0
        end = rng.integers(0, length + 1)
        while j < end:
            run = int(rng.integers(1, 6))
            m[i, j : min(j + run, end)] = 1
            j += run + int(rng.integers(1, 4))
    return m


MASK = np.array(
    [
        [1, 1, 1, 0, 0, 1, 1, 0, 1, 0],  # 3 turns: lengths 3, 2, 1
        [1, 1, 0, 0, 0, 0, 0, 0, 0, 0],  # 1 turn, padding
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # nothing generated
        [1, 0, 1, 1, 1, 1, 1, 1, 1, 1],  # 2 turns, no padding
    ]
)


def test_find_segments_worked_example() -> None:
    seg = find_segments(MASK)
    assert seg.counts.tolist() == [3, 1, 0, 2]
    assert seg.row.tolist() == [0, 0, 0, 1, 3, 3]
    assert seg.turn.tolist() == [0, 1, 2, 0, 0, 1]
    assert seg.start.tolist() == [0, 5, 8, 0, 0, 2]
    assert seg.end.tolist() == [2, 6, 8, 1, 0, 9]
    assert seg.length.tolist() == [3, 2, 1, 2, 1, 8]


def test_find_segments_matches_reference_on_random_masks() -> None:
    rng = np.random.default_rng(0)
    m = random_mask(rng, 64, 57)
    seg = find_segments(m)
    got = [[] for _ in range(len(m))]  # type: list[list[tuple[int, int]]]
    for r, s, e in zip(seg.row.tolist(), seg.start.tolist(), seg.end.tolist(), strict=True):
        got[r].append((s, e))
    assert got == [runs_slow(row) for row in m]
    assert seg.counts.tolist() == [len(runs_slow(row)) for row in m]


def test_one_dimensional_mask_is_one_row() -> None:
    seg = find_segments(np.array([0, 1, 1, 0, 1]))
    assert seg.counts.tolist() == [2]
    assert seg.start.tolist() == [1, 4]


def test_place_per_turn_exact() -> None:
    vals = [[1.0, 2.0, 3.0], [4.0], [], [5.0, 6.0]]
    out, stats = place_per_turn(MASK, vals)
    assert out.dtype == np.float32
    expect = np.array(
        [
            [1, 1, 1, 0, 0, 2, 2, 0, 3, 0],
            [4, 4, 0, 0, 0, 0, 0, 0, 0, 0],
            [0] * 10,
            [5, 0, 6, 6, 6, 6, 6, 6, 6, 6],
        ],
        dtype=np.float32,
    )
    np.testing.assert_array_equal(out, expect)
    assert stats.ok and stats.rows == 4 and stats.segments == 6 and stats.values == 6
    assert stats.mismatched_rows == []


def test_place_per_turn_random_against_reference() -> None:
    rng = np.random.default_rng(1)
    m = random_mask(rng, 40, 80)
    counts = [len(runs_slow(r)) for r in m]
    vals = [rng.normal(size=c).tolist() for c in counts]
    out, stats = place_per_turn(m, vals, dtype=np.float64)
    ref = np.zeros(m.shape)
    for i, row in enumerate(m):
        for t, (s, e) in enumerate(runs_slow(row)):
            ref[i, s : e + 1] = vals[i][t]
    np.testing.assert_allclose(out, ref, rtol=0, atol=0)
    assert stats.ok


@pytest.mark.parametrize("as_bool", [False, True])
def test_place_per_turn_mismatched_rows_against_reference(as_bool: bool) -> None:
    """Rows with fewer and more values than runs, ``fill`` on unvalued runs, default float32 output."""
    rng = np.random.default_rng(2)
    m = random_mask(rng, 60, 50)
    m[-1] = 1  # a row that is one run touching both ends
    vals = [rng.normal(size=max(0, len(runs_slow(r)) + int(rng.integers(-2, 3)))).tolist() for r in m]
    out, stats = place_per_turn(m.astype(bool) if as_bool else m, vals, fill=-7.5)
    ref = np.zeros(m.shape, dtype=np.float32)
    for i, row in enumerate(m):
        for t, (s, e) in enumerate(runs_slow(row)):
            ref[i, s : e + 1] = vals[i][t] if t < len(vals[i]) else -7.5
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, ref)
    assert stats.rows_more_segments + stats.rows_fewer_segments == len(stats.mismatched_rows) > 0


def test_place_per_turn_padded_array_with_lengths() -> None:
    padded = np.array([[1.0, 2.0, 3.0], [4.0, 9.0, 9.0], [9.0, 9.0, 9.0], [5.0, 6.0, 9.0]])
    out, stats = place_per_turn(MASK, padded, np.array([3, 1, 0, 2]))
    ref, _ = place_per_turn(MASK, [[1.0, 2.0, 3.0], [4.0], [], [5.0, 6.0]])
    np.testing.assert_array_equal(out, ref)
    assert stats.ok


def test_fill_policy_counts_both_directions() -> None:
    # row 0: 3 segments, 2 values (one segment unfilled); row 3: 2 segments, 4 values (two dropped)
    vals = [[1.0, 2.0], [4.0], [], [5.0, 6.0, 7.0, 8.0]]
    out, stats = place_per_turn(MASK, vals, fill=-1.0)
    assert out[0, 8] == -1.0  # the third run got the fill value
    assert out[0, :3].tolist() == [1.0, 1.0, 1.0]
    assert out[3, 2:].tolist() == [6.0] * 8
    assert not stats.ok
    assert stats.rows_more_segments == 1
    assert stats.rows_fewer_segments == 1
    assert stats.unfilled_segments == 1
    assert stats.dropped_values == 2
    assert stats.mismatched_rows == [0, 3]
    assert stats.as_dict()["dropped_values"] == 2


def test_raise_policy_names_the_rows() -> None:
    with pytest.raises(SegmentMismatchError) as ei:
        place_per_turn(MASK, [[1.0], [4.0], [], [5.0, 6.0]], on_mismatch="raise")
    assert ei.value.rows == [0]
    assert ei.value.segments == [3] and ei.value.values == [1]
    assert "row 0" in str(ei.value)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError):
        place_per_turn(MASK, [[1.0]])  # wrong number of rows
    with pytest.raises(ValueError):
        place_per_turn(MASK, [[1.0, 2.0, 3.0], [4.0], [], [5.0, 6.0]], on_mismatch="guess")
    with pytest.raises(ValueError):
        find_segments(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError):
        read_segment_ends(np.zeros((4, 9)), MASK)


def test_read_segment_ends() -> None:
    x = np.arange(40, dtype=np.float64).reshape(4, 10)
    vals, counts = read_segment_ends(x, MASK)
    assert counts.tolist() == [3, 1, 0, 2]
    assert vals.tolist() == [[2.0, 16 - 10, 8.0], [11.0, 0, 0], [0, 0, 0], [30.0, 39.0, 0]]


def test_pack_unpack_roundtrip_exact() -> None:
    rng = np.random.default_rng(2)
    m = random_mask(rng, 50, 64)
    counts = np.array([len(runs_slow(r)) for r in m])
    vals = [rng.normal(size=c).tolist() for c in counts]
    ro = rng.normal(size=len(m))
    packed, pstats = pack_rewards(m, vals, ro, dtype=np.float64)
    turns, got_counts, got_ro, ustats = unpack_rewards(packed, m)
    assert got_counts.tolist() == counts.tolist()
    has_free = np.array([any(e - s >= 1 for s, e in runs_slow(r)) for r in m])
    for i in range(len(m)):
        got = turns[i, : counts[i]].tolist()
        if has_free[i] or counts[i] == 0:
            np.testing.assert_allclose(got, vals[i], atol=0)
            assert got_ro[i] == (ro[i] if counts[i] else 0.0)
        else:  # every run has length 1: outcome merged into the last turn
            np.testing.assert_allclose(got[:-1], vals[i][:-1], atol=0)
            assert got[-1] == pytest.approx(vals[i][-1] + ro[i])
            assert got_ro[i] == 0.0
    # the row sum is the trajectory return
    ret = np.array([sum(v) for v in vals]) + np.where(counts > 0, ro, 0.0)
    np.testing.assert_allclose(packed.sum(axis=1), ret, atol=1e-12)
    assert pstats.outcome_merged == int(((~has_free) & (counts > 0)).sum())
    assert ustats.outcome_merged == pstats.outcome_merged
    assert pstats.dropped_outcomes == int((counts == 0).sum())
    assert ustats.dropped_values == 0


def test_pack_layout_positions() -> None:
    packed, stats = pack_rewards(MASK, [[0.5, 0.25, 0.125], [1.0], [], [2.0, 4.0]], [10.0, 20.0, 30.0, 40.0])
    # row 0: turn ends at 2, 6, 8; outcome at the start of the last run of length >= 2 (run 2 starts at 5)
    assert packed[0].tolist() == [0, 0, 0.5, 0, 0, 10.0, 0.25, 0, 0.125, 0]
    # row 1: single run of length 2 -> outcome at its first token, turn reward at its last
    assert packed[1].tolist() == [20.0, 1.0] + [0.0] * 8
    # row 2: nothing generated: the outcome cannot be placed and is counted
    assert packed[2].tolist() == [0.0] * 10
    # row 3: last run (2..9) holds outcome at 2 and turn 1 reward at 9
    assert packed[3, 0] == 2.0 and packed[3, 2] == 40.0 and packed[3, 9] == 4.0
    assert stats.dropped_outcomes == 1 and stats.outcome_merged == 0
    assert tokens.LAYOUT_VERSION == 1


def test_unpack_flags_stray_reward_mass() -> None:
    packed, _ = pack_rewards(MASK, [[0.5, 0.25, 0.125], [1.0], [], [2.0, 4.0]], [1.0, 1.0, 0.0, 1.0])
    packed[1, 7] = 3.0  # e.g. a scalar reward on a padding/observation token
    _t, _c, _o, stats = unpack_rewards(packed, MASK)
    assert stats.dropped_values == 1 and stats.mismatched_rows == [1]


def test_module_does_not_import_torch() -> None:
    # importing the module (already done above) must not have pulled torch in by itself
    code = "import sys, turnscore_client.tokens; print('torch' in sys.modules)"
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
