"""OpenRLHF (0.11.x) integration.

Two ways to use turnscore as OpenRLHF's reward:

1. HTTP, no code on the trainer: ``--reward.remote_url http://HOST:8000/v1/openrlhf --data.label_key gold``
   (OpenRLHF posts ``{"query", "prompts", "labels"}``; the service answers ``{"rewards", "scores",
   "extra_logs"}``). Several replicas: ``--reward.remote_url http://a:8000/v1/openrlhf,http://b:8000/v1/openrlhf``.
2. A Python file: ``--reward.remote_url /path/to/turnscore_reward.py`` where the file holds
   ``from turnscore_client.openrlhf import reward_func`` (see ``client/examples/openrlhf_reward_func.py``).
   OpenRLHF calls ``reward_func(queries, prompts, labels)`` once per sample from worker threads; this one
   sends them through :class:`~turnscore_client.TurnScoreClient` (retries with backoff on 429/502/503/504
   and connection errors, several base URLs, API key), configured by ``TURNSCORE_*`` environment variables
   (``TURNSCORE_URL``, ``TURNSCORE_PRESET``, ``TURNSCORE_CONFIG``, ... see the README).

The reward of a sample is its trajectory return R_i (OpenRLHF normalizes within its own groups); a sample
the service cannot score gets 0 and ``turnscore_errors = 1`` in ``extra_logs`` (never an HTTP error).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._adapters import LazySyncClient, env_config, env_preset
from ._client import TurnScoreClient

__all__ = ["make_reward_func", "reward_func"]

RewardFunc = Callable[..., dict[str, Any]]


def make_reward_func(
    base_url: str | list[str] | None = None,
    *,
    preset: str | None = None,
    config: Mapping[str, Any] | None = None,
    client: TurnScoreClient | None = None,
    **client_kwargs: Any,
) -> RewardFunc:
    """An OpenRLHF ``reward_func(queries, prompts, labels, **kwargs)`` bound to one (lazily made) client.

    ``base_url=None`` reads ``TURNSCORE_URL``; ``preset``/``config`` default to ``TURNSCORE_PRESET`` /
    ``TURNSCORE_CONFIG`` (JSON); other keyword arguments go to :meth:`TurnScoreClient.from_env`.
    """
    holder = LazySyncClient(lambda: client or TurnScoreClient.from_env(base_url, **client_kwargs))

    def reward_func(
        queries: list[str], prompts: list[str], labels: list[Any], **kwargs: Any
    ) -> dict[str, Any]:
        return holder.get().openrlhf(
            list(queries),
            list(prompts),
            list(labels),
            preset=env_preset(preset),
            config=env_config(config),
            step=kwargs.get("step"),
        )

    reward_func.client = holder  # type: ignore[attr-defined]
    return reward_func


#: The ready-made function for ``--reward.remote_url path.py`` (configured by ``TURNSCORE_*`` variables).
reward_func: RewardFunc = make_reward_func()
