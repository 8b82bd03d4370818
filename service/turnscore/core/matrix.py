"""``explain: "matrix"`` (API.md): each rollout's dense similarity matrix against its chosen reference, and
for OT the transport plan, beside the ``matches`` that say which cell the assignment chose.

The matrix is built from the same predicted-call tables and similarity function the matching used
(:func:`~turnscore.core.similarity.matrix`), so its cell at a match equals that match's ``similarity``.
Its size is bounded before anything is built: the cells of every response rollout's matrix count
against ``max_match_cells``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import similarity
from .config import ScoringConfig
from .errors import LimitExceeded
from .limits import Limits
from .response import finite_list
from .rewards import Rollout, RolloutScore


def check_cells(rollouts: list[Rollout], scores: list[RolloutScore], limits: Limits) -> None:
    """The matrices of the response (every rollout, duplicates included) within ``max_match_cells``."""
    cells = sum(r.num_calls * len(r.golds[s.reference].calls) for r, s in zip(rollouts, scores, strict=True))
    if cells > limits.max_match_cells:
        raise LimitExceeded("max_match_cells", limits.max_match_cells, "explain", cells)


def _rows(x: np.ndarray) -> list[list[float]]:
    return [finite_list(row) for row in x]


def rollout_matrix(rollout: Rollout, score: RolloutScore, cfg: ScoringConfig) -> dict[str, Any]:
    """``{"predicted", "gold", "similarity"[, "plan"]}`` of one rollout (``plan``: OT presets only)."""
    gold = rollout.golds[score.reference]
    assert rollout.tables is not None
    s = similarity.matrix(rollout.tables, gold, cfg.value_match, cfg.name_case_sensitive)
    out: dict[str, Any] = {
        "predicted": [
            {"turn": t, "call": c, "name": rollout.calls[k].name} for k, (t, c) in enumerate(rollout.where)
        ],
        "gold": [{"name": call.name} for call in gold.calls],
        "similarity": _rows(s),
    }
    if cfg.reward != "toolrl" and cfg.assignment == "ot":
        a = score.assignment
        plan = a.plan if a is not None and a.plan is not None else np.zeros(s.shape)
        out["plan"] = _rows(plan)
    return out
