"""The ``turnscore`` / ``turnscore_dual`` advantage estimators for verl (``algorithm.adv_estimator``).

verl calls an estimator with ``token_level_rewards``, ``response_mask``, ``index`` (the ``uid`` of each row:
rows with the same uid are one group) and ``config`` (the ``algorithm`` node). The estimator:

1. reads each row's per-turn rewards and outcome reward back from the token-level reward tensor
   (:func:`turnscore_client.tokens.unpack_rewards`: turn t's reward on the last token of the t-th run of
   the response mask, the outcome on the first token of the last run of length >= 2);
2. groups rows by ``index`` and asks for the advantages, with the preset and overrides of the
   ``turnscore_*`` keys: ``turnscore.core.engine.advantages`` in-process when the ``turnscore`` package is
   installed (``turnscore_backend=auto|local``), else ``POST /v1/advantages`` (``turnscore_backend=http``
   or no core installed). Same request either way, same math (there is one implementation: the core);
3. puts ``advantages[t]`` on every token of turn t (:func:`turnscore_client.tokens.place_per_turn`).

Returns ``(advantages, returns)`` with ``returns = advantages`` (as verl's GRPO does); no critic is used.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import numpy as np

from .. import tokens
from .._client import TurnScoreClient
from ._clients import ClientCache
from .settings import Settings

__all__ = ["ESTIMATOR_NAMES", "STATS", "compute_turnscore_advantage", "compute_turnscore_dual_advantage"]

log = logging.getLogger("turnscore_client.verl")

ESTIMATOR_NAMES = ("turnscore", "turnscore_dual")
STATS: Counter[str] = Counter()
"""Process-wide counts of layout mismatches seen by the estimator (for logs and tests)."""

_clients = ClientCache(TurnScoreClient, prefer_local=True)


def _check_config(config: Any) -> None:
    get = getattr(config, "get", None)
    if get is None:
        return
    if get("use_kl_in_reward", False):
        raise ValueError(
            "turnscore estimators read per-turn rewards from token_level_rewards; algorithm.use_kl_in_reward "
            "adds a per-token KL term there. Use actor_rollout_ref.actor.use_kl_loss=True instead "
            "(as MatchTIR does) and set algorithm.use_kl_in_reward=False."
        )


def _groups(index: Any, rows: int) -> list[tuple[str, list[int]]]:
    if index is None:
        raise ValueError("turnscore estimators need the uid index (non_tensor_batch['uid']) to form groups")
    idx = np.asarray(index, dtype=object).reshape(-1)
    if idx.shape[0] != rows:
        raise ValueError(f"index has {idx.shape[0]} entries for {rows} rows")
    order: dict[Any, list[int]] = {}
    for i, u in enumerate(idx.tolist()):
        order.setdefault(u, []).append(i)
    return [(str(u), r) for u, r in order.items()]


def _compute(
    token_level_rewards: Any,
    response_mask: Any,
    index: Any,
    config: Any,
    *,
    force: dict[str, Any] | None = None,
) -> tuple[Any, Any]:
    _check_config(config)
    settings = Settings.from_node(config)
    overrides = {**settings.config, **(force or {})}
    scheme = overrides.get("reward_scheme")
    if isinstance(scheme, str) and scheme.startswith("trajectory"):
        raise ValueError(
            f"reward_scheme {scheme!r} needs a trajectory score the token layout does not carry; use "
            "turn+outcome, turn or outcome (or the trajectory-level compute_score with adv_estimator=grpo)"
        )
    turns, counts, outcome, stats = tokens.unpack_rewards(token_level_rewards, response_mask)
    if stats.outcome_merged or stats.dropped_values:
        STATS["rows_outcome_merged"] += stats.outcome_merged
        STATS["rows_stray_reward"] += stats.dropped_values
        log.warning(
            "turnscore: %d row(s) had no free token for the outcome reward (merged into the last turn), "
            "%d row(s) had reward mass off the layout's tokens (ignored; rows %s)",
            stats.outcome_merged,
            stats.dropped_values,
            stats.mismatched_rows[:8],
        )
        if settings.on_mismatch == "raise" and stats.dropped_values:
            raise ValueError(
                f"turnscore: reward mass off the layout's tokens in rows {stats.mismatched_rows[:8]} "
                "(turnscore_on_mismatch=raise)"
            )
    STATS["rows"] += int(counts.size)
    STATS["calls"] += 1
    groups = _groups(index, int(counts.size))
    body = [
        {
            "id": gid,
            "rollouts": [
                {"turn_rewards": turns[i, : counts[i]].tolist(), "outcome_reward": float(outcome[i])}
                for i in rows
            ],
        }
        for gid, rows in groups
    ]
    resp = _clients.get(settings).advantages(body, preset=settings.preset, config=overrides or None)
    per_row: list[list[float]] = [[] for _ in range(int(counts.size))]
    for (_gid, rows), g in zip(groups, resp.groups, strict=True):
        for i, r in zip(rows, g.rollouts, strict=True):
            per_row[i] = r.advantages
    adv, _ = tokens.place_per_turn(response_mask, per_row, on_mismatch="raise")
    return adv, adv


def compute_turnscore_advantage(
    token_level_rewards: Any,
    response_mask: Any,
    index: Any = None,
    config: Any = None,
    **kwargs: Any,
) -> tuple[Any, Any]:
    """``adv_estimator=turnscore``: the advantage estimator of the preset (``dual`` for MatchTIR)."""
    return _compute(token_level_rewards, response_mask, index, config)


def compute_turnscore_dual_advantage(
    token_level_rewards: Any,
    response_mask: Any,
    index: Any = None,
    config: Any = None,
    **kwargs: Any,
) -> tuple[Any, Any]:
    """``adv_estimator=turnscore_dual``: dual-level (trajectory + turn) advantages, whatever the preset."""
    return _compute(token_level_rewards, response_mask, index, config, force={"advantage": "dual"})
