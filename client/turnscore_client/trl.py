"""TRL (GRPOTrainer) reward functions.

``GRPOTrainer(reward_funcs=[TurnScoreReward(gold_column="gold")], ...)``: TRL calls it once per step with
keyword arguments ``prompts``, ``completions``, ``completion_ids`` and every dataset column (here the gold
trace), plus ``trainer_state``. All completions of the call go to the service in one request (more than
``max_groups_per_request`` groups are split and sent concurrently), grouped by prompt and gold, and one number
per completion comes back, in order.

- The number is the trajectory return ``R_i`` by default (``value="return"``): GRPOTrainer normalizes
  rewards within each group itself. ``value="outcome_reward"`` or ``"trajectory_advantage"`` are the other
  choices.
- Completions: strings are scored in the ``text`` form (decoded response), lists of chat messages (TRL's
  conversational format, tool calls included) in the ``messages`` form.
- The gold column holds an API.md gold (``{"calls", "answer", "accepted_values"}``), a per-turn gold
  (``{"turns", "answer"}``) or a gold-data record, as an object or a JSON string (preferred: Arrow turns
  nested objects into structs that add missing keys as null).
- ``trainer_state.global_step`` is sent as ``step`` (schedules).
- Logs: every call passes the request's ``summary`` to TRL's ``log_metric`` (the public hook TRL hands
  reward functions), one metric per field as ``turnscore/<field>`` (``turnscore/calls``,
  ``turnscore/call_precision``, ``turnscore/missed_gold``, ...; :mod:`turnscore_client._logs`), plus
  ``turnscore/warnings`` (warning occurrences per completion). TRL averages each metric over the calls of a
  logging step and across processes, and logs it with its own metrics (``trainer.state.log_history``,
  W&B, ...). Each warning code the service reports is logged once per reward function (logger
  ``turnscore_client.trl``), so a wrong format shows on step one.
- :class:`AsyncTurnScoreReward` is the ``async`` twin: TRL runs async reward functions concurrently with
  the others on its event loop.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from ._adapters import PerLoopAsyncClient, env_config, env_preset
from ._client import AsyncTurnScoreClient, TurnScoreClient
from ._json import fingerprint
from ._logs import summary_logs
from .gold import group_fields
from .types import RolloutScore, ScoreResponse

__all__ = ["AsyncTurnScoreReward", "TurnScoreReward"]

_VALUES = ("return", "outcome_reward", "trajectory_advantage")
log = logging.getLogger("turnscore_client.trl")


def _rollout(completion: Any) -> dict[str, Any]:
    if isinstance(completion, str):
        return {"text": completion}
    if isinstance(completion, Sequence) and all(isinstance(m, Mapping) for m in completion):
        return {"messages": [dict(m) for m in completion]}
    raise TypeError(
        f"a completion must be a string or a list of chat messages, got {type(completion).__name__}"
    )


def _prompt_key(prompt: Any) -> str:
    try:
        return json.dumps(prompt, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(prompt)


class _Base:
    __name__ = "turnscore"

    def __init__(
        self,
        *,
        gold_column: str = "gold",
        preset: str | None = None,
        config: Mapping[str, Any] | None = None,
        value: str = "return",
        name: str = "turnscore",
    ) -> None:
        if value not in _VALUES:
            raise ValueError(f"value must be one of {_VALUES}, got {value!r}")
        self.gold_column = gold_column
        self.preset = env_preset(preset)
        self.config = env_config(config)
        self.value = value
        self.__name__ = name
        self._warned: set[str] = set()

    def _build(
        self, prompts: Sequence[Any], completions: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], list[tuple[int, int]], int | None]:
        if self.gold_column not in kwargs:
            raise KeyError(
                f"the dataset has no column {self.gold_column!r} with the gold trace "
                f"(columns passed by the trainer: {sorted(k for k in kwargs if not k.startswith('log_'))})"
            )
        golds = kwargs[self.gold_column]
        if not (len(prompts) == len(completions) == len(golds)):
            raise ValueError("prompts, completions and the gold column must have the same length")
        groups: list[dict[str, Any]] = []
        index: dict[tuple[str, str], int] = {}
        where: list[tuple[int, int]] = []
        for prompt, completion, gold in zip(prompts, completions, golds, strict=True):
            fields = group_fields(gold)
            key = (_prompt_key(prompt), fingerprint(fields))
            gi = index.get(key)
            if gi is None:
                gi = index[key] = len(groups)
                groups.append({"id": f"prompt-{gi}", **fields, "rollouts": []})
            where.append((gi, len(groups[gi]["rollouts"])))
            groups[gi]["rollouts"].append(_rollout(completion))
        state = kwargs.get("trainer_state")
        step = getattr(state, "global_step", None)
        return groups, where, int(step) if step is not None else None

    def _pick(self, r: RolloutScore) -> float:
        if self.value == "return":
            return r.return_
        if self.value == "outcome_reward":
            return r.outcome_reward
        return r.trajectory_advantage

    def _finish(
        self, res: ScoreResponse, where: list[tuple[int, int]], kwargs: Mapping[str, Any]
    ) -> list[float]:
        out = [self._pick(res.groups[g].rollouts[i]) for g, i in where]
        for w in res.warnings:
            if w.code not in self._warned:
                self._warned.add(w.code)
                log.warning("turnscore: %s (%d, first at %s): %s", w.code, w.count, w.path, w.message)
        log_metric = kwargs.get("log_metric")
        if callable(log_metric) and where:
            for name, value in summary_logs(res.summary).items():
                log_metric(name, value)
            log_metric("turnscore/warnings", sum(w.count for w in res.warnings) / len(res.rollouts))
        return out


class TurnScoreReward(_Base):
    """Synchronous GRPOTrainer reward function (one request per call, grouped by prompt)."""

    def __init__(
        self,
        client: TurnScoreClient | None = None,
        *,
        base_url: str | list[str] | None = None,
        gold_column: str = "gold",
        preset: str | None = None,
        config: Mapping[str, Any] | None = None,
        value: str = "return",
        name: str = "turnscore",
        **client_kwargs: Any,
    ) -> None:
        super().__init__(gold_column=gold_column, preset=preset, config=config, value=value, name=name)
        self.client = client or TurnScoreClient.from_env(base_url, **client_kwargs)

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None, **kwargs: Any
    ) -> list[float]:
        groups, where, step = self._build(prompts, completions, kwargs)
        res = self.client.score(groups, preset=self.preset, config=self.config, step=step)
        return self._finish(res, where, kwargs)


class AsyncTurnScoreReward(_Base):
    """``async`` GRPOTrainer reward function (same behaviour as :class:`TurnScoreReward`)."""

    def __init__(
        self,
        client: AsyncTurnScoreClient | None = None,
        *,
        base_url: str | list[str] | None = None,
        gold_column: str = "gold",
        preset: str | None = None,
        config: Mapping[str, Any] | None = None,
        value: str = "return",
        name: str = "turnscore",
        **client_kwargs: Any,
    ) -> None:
        super().__init__(gold_column=gold_column, preset=preset, config=config, value=value, name=name)
        self._given = client
        self._clients = PerLoopAsyncClient(lambda: AsyncTurnScoreClient.from_env(base_url, **client_kwargs))

    async def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None, **kwargs: Any
    ) -> list[float]:
        groups, where, step = self._build(prompts, completions, kwargs)
        client = self._given or self._clients.get()
        res = await client.score(groups, preset=self.preset, config=self.config, step=step)
        return self._finish(res, where, kwargs)
