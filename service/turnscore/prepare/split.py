"""The train/validation split: deterministic, stratified by source, independent of the input order.

Within each ``source`` the records are ranked by ``sha256(f"{seed}:{id}")``; the first
``floor(n * fraction + 0.5)`` of the ranking (half up) are ``train``, the rest ``val``. So a record's split
depends only on the seed, its id and its source's size: the same files in any order (or with other sources
added) give the same split, and every source keeps the fraction. The written files keep the input order.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict

from .records import Example

__all__ = ["SPLITS", "assign_splits", "by_split", "train_count"]

SPLITS = ("train", "val")


def _rank(seed: int, rid: str) -> bytes:
    return hashlib.sha256(f"{seed}:{rid}".encode()).digest()


def train_count(n: int, fraction: float) -> int:
    """How many of a source's ``n`` records go to ``train``: ``n * fraction`` rounded half up."""
    return min(n, math.floor(n * fraction + 0.5))


def assign_splits(examples: list[Example], fraction: float, seed: int = 0) -> None:
    """Set ``split`` on every example (``fraction`` of each source to ``train``)."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"the split fraction must be within [0, 1], got {fraction}")
    by_source: dict[str, list[Example]] = defaultdict(list)
    for ex in examples:
        by_source[ex.source].append(ex)
    for group in by_source.values():
        ranked = sorted(group, key=lambda e: _rank(seed, e.id))
        n_train = train_count(len(group), fraction)
        for i, ex in enumerate(ranked):
            ex.split = "train" if i < n_train else "val"


def by_split(examples: list[Example]) -> list[tuple[str, list[Example]]]:
    """``(split, its examples)`` for each split that has any (an empty split writes no file: Parquet and
    ``datasets`` readers refuse empty files)."""
    out = [(split, [ex for ex in examples if ex.split == split]) for split in SPLITS]
    return [(split, rows) for split, rows in out if rows]
