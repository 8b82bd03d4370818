"""The simple path: an async ``compute_score`` for ``reward.custom_reward_function`` (trajectory level).

```
reward.custom_reward_function.path=pkg://turnscore_client.verl.reward
reward.custom_reward_function.name=compute_score
+reward.custom_reward_function.reward_kwargs.turnscore_url=http://rm:8000
algorithm.adv_estimator=grpo
```

verl places the returned score on the last token, so only the trajectory return ``R_i`` reaches training
(GRPO over the group). For per-turn rewards and dual-level advantages use the agent loop and the
``turnscore_dual`` estimator instead.

verl decodes the response with ``skip_special_tokens=True``: the ``<|im_start|>`` / ``<|im_end|>`` markers
are gone, so turns are split on ``turn_separator`` (default ``"\\nassistant\\n"``, what is left of Qwen's
``<|im_end|>\\n<|im_start|>assistant\\n``); override it through ``reward_kwargs`` for other templates.
"""

from __future__ import annotations

from typing import Any

from .._client import AsyncTurnScoreClient
from .._logs import summary_logs
from ..gold import group_fields
from ._clients import ClientCache
from .settings import Settings

__all__ = ["DECODED_QWEN_SEPARATOR", "compute_score"]

DECODED_QWEN_SEPARATOR = "\nassistant\n"

_clients = ClientCache(AsyncTurnScoreClient, prefer_local=False, per_loop=True)


async def compute_score(
    data_source: Any = None,
    solution_str: str = "",
    ground_truth: Any = None,
    extra_info: Any = None,
    *,
    turn_separator: str = DECODED_QWEN_SEPARATOR,
    **kwargs: Any,
) -> dict[str, float]:
    """Score one decoded response against its gold: ``{"score": R_i, ...}`` (fixed keys, all floats): the
    rollout's numbers (``turnscore_*``) and the request's ``summary`` (``turnscore/<field>``), which verl's
    reward loop turns into ``reward_extra_info``.

    ``turnscore_*`` keyword arguments (from ``reward_kwargs``) are the settings of
    :class:`turnscore_client.verl.settings.Settings` (url, backend, preset, config, any override).
    """
    settings = Settings.from_dict(
        {k[len("turnscore_") :]: v for k, v in kwargs.items() if k.startswith("turnscore_")}
    )
    overrides = dict(settings.config)
    fmt_in = overrides.get("format") or {}
    fmt = {"style": fmt_in} if isinstance(fmt_in, str) else dict(fmt_in)
    fmt.setdefault("turn_separator", turn_separator)
    overrides["format"] = fmt
    group = {
        "id": str(data_source or "0"),
        **group_fields(ground_truth),
        "rollouts": [{"text": solution_str}],
    }
    resp = await _clients.get(settings).score([group], preset=settings.preset, config=overrides)
    r = resp.groups[0].rollouts[0]
    return {
        "score": float(r.return_),
        "turnscore_outcome_reward": float(r.outcome_reward),
        "turnscore_turn_reward_sum": float(sum(r.turn_rewards)),
        "turnscore_num_turns": float(r.num_turns),
        "turnscore_malformed_calls": float(r.malformed_calls),
        **summary_logs(resp.summary),
    }
