"""turnscore_client.tokens with torch tensors (the numpy side is tested in tests/client/test_tokens.py)."""

from __future__ import annotations

import numpy as np
import torch
from turnscore_client.tokens import (
    find_segments,
    pack_rewards,
    place_per_turn,
    read_segment_ends,
    unpack_rewards,
)

MASK = torch.tensor(
    [
        [1, 1, 1, 0, 0, 1, 1, 0, 1, 0],
        [1, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [1, 0, 1, 1, 1, 1, 1, 1, 1, 1],
    ]
)
VALUES = [[1.0, 2.0, 3.0], [4.0], [], [5.0, 6.0]]


def test_place_per_turn_torch_in_torch_out() -> None:
    out, stats = place_per_turn(MASK, VALUES)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.device == MASK.device
    ref, _ = place_per_turn(MASK.numpy(), VALUES)
    np.testing.assert_array_equal(out.numpy(), ref)
    assert stats.ok
    out64, _ = place_per_turn(
        MASK.bool(),
        torch.tensor([[1.0, 2.0, 3.0], [4.0, 0, 0], [0, 0, 0], [5.0, 6.0, 0]]),
        torch.tensor([3, 1, 0, 2]),
        dtype=torch.float64,
    )
    assert out64.dtype == torch.float64
    np.testing.assert_array_equal(out64.numpy(), ref)


def test_pack_unpack_torch_roundtrip() -> None:
    packed, stats = pack_rewards(MASK, VALUES, torch.tensor([0.5, 0.25, 0.0, -1.0]))
    assert isinstance(packed, torch.Tensor) and packed.dtype == torch.float32
    assert stats.ok
    turns, counts, outcome, ustats = unpack_rewards(packed, MASK)
    assert counts.tolist() == [3, 1, 0, 2]
    assert turns[0].tolist() == [1.0, 2.0, 3.0] and turns[3, :2].tolist() == [5.0, 6.0]
    assert outcome.tolist() == [0.5, 0.25, 0.0, -1.0]
    assert ustats.ok
    vals, c = read_segment_ends(packed, MASK)
    assert c.tolist() == counts.tolist() and vals[1, 0] == 4.0
    assert find_segments(MASK).counts.tolist() == [3, 1, 0, 2]


def test_one_dimensional_torch_mask() -> None:
    packed, _ = pack_rewards(torch.tensor([1, 1, 0, 1, 1]), [[0.5, 1.5]], [2.0])
    assert packed.shape == (1, 5)
    assert packed[0].tolist() == [0.0, 0.5, 0.0, 2.0, 1.5]
