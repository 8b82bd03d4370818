"""Training-step metrics: verl's v1 trainers plus the tool-use statistics of the step's rollouts.

verl 0.9.1 logs a rollout's ``reward_extra_info`` only for validation; its training step drops it. The
plugin registers, in verl's v1 trainer registry (``register_trainer``), one subclass per stock trainer
mode, named ``turnscore_<mode>``:

```
trainer.v1.trainer_mode=turnscore_sync     # or turnscore_colocate_async, turnscore_separate_async
```

It trains exactly as ``<mode>`` (it runs as ``<mode>``: verl branches on the mode's name and reads
``trainer.v1.<mode>``, so ``trainer.v1.trainer_mode`` is set back to ``<mode>`` at start-up). After verl
has computed a step's metrics (``_compute_metrics``) it adds ``turnscore/<field>`` for every field of the
``/v1/score`` summary, over all the rollouts of the step as if they had been one request
(:func:`step_metrics`: counts added, ratios recomputed from the counts, means weighted, the returns' std
pooled). Rollouts without turnscore fields (another agent loop or reward) and verl's padding rows are left
out; a step with none adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .._logs import LOG_PREFIX, SUMMARY_FIELDS, merged_logs

__all__ = ["BASE_MODES", "TRAINER_PREFIX", "final_outputs", "register_trainers", "step_metrics"]

TRAINER_PREFIX = "turnscore_"
#: verl 0.9.1's v1 trainer modes the plugin wraps (``trainer.v1.trainer_mode``).
BASE_MODES = ("sync", "colocate_async", "separate_async")
_COUNT_KEY = LOG_PREFIX + "rollouts"


def final_outputs(keys: Sequence[str]) -> list[int]:
    """Positions of the last output of each session among TransferQueue keys ``{uid}_{session}_{index}``
    (verl's rule for validation metrics: a multi-output agent loop copies the final reward to every output).
    """
    last: dict[str, tuple[int, int]] = {}
    for pos, key in enumerate(keys):
        parts = key.rsplit("_", 2)
        if len(parts) == 3 and parts[2].isdigit():
            session, index = f"{parts[0]}_{parts[1]}", int(parts[2])
        else:
            session, index = key, 0
        if session not in last or index > last[session][0]:
            last[session] = (index, pos)
    return sorted(pos for _, pos in last.values())


def _summary(extra_fields: Any) -> dict[str, float] | None:
    info = extra_fields.get("reward_extra_info") if isinstance(extra_fields, dict) else None
    if not isinstance(info, dict) or _COUNT_KEY not in info:
        return None
    return {f: float(info[LOG_PREFIX + f]) for f in SUMMARY_FIELDS if info.get(LOG_PREFIX + f) is not None}


def step_metrics(extra_fields: Iterable[Any]) -> dict[str, float]:
    """``{"turnscore/<field>": value}`` over the rollouts whose ``extra_fields["reward_extra_info"]`` holds a
    turnscore summary: the summary one request with all of them would have had (``merged_logs``)."""
    summaries = [s for s in map(_summary, extra_fields) if s is not None]
    return merged_logs(summaries)


class TurnScoreMetricsMixin:
    """Adds :func:`step_metrics` of the step's batch to the metrics verl's ``_compute_metrics`` writes.

    verl branches on the mode's name (``trainer_mode == "sync"``: replay buffer, prompt storage, checkpoint
    recovery) and reads the mode's settings from ``trainer.v1.<mode>``: the trainer puts the stock mode
    (:attr:`turnscore_base_mode`) back into ``config.trainer.v1.trainer_mode`` before verl reads it.
    """

    turnscore_base_mode = "sync"

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        config.trainer.v1.trainer_mode = self.turnscore_base_mode
        super().__init__(config, *args, **kwargs)  # type: ignore[call-arg]

    def _compute_metrics(self, batch: Any, metrics: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        out = super()._compute_metrics(batch, metrics, *args, **kwargs)  # type: ignore[misc]
        metrics.update(self.turnscore_step_metrics(batch))
        return out

    def turnscore_step_metrics(self, batch: Any) -> dict[str, float]:
        """Read the non-padding rows' ``extra_fields`` of the step (a ``KVBatchMeta``) from TransferQueue."""
        import transfer_queue as tq

        tags = list(batch.tags or [{}] * len(batch.keys))
        real = [
            k for k, tag in zip(batch.keys, tags, strict=True) if not (tag or {}).get("is_padding", False)
        ]
        keys = [real[i] for i in final_outputs(real)]
        if not keys:
            return {}
        data = tq.kv_batch_get(keys=keys, partition_id=batch.partition_id, select_fields=["extra_fields"])
        values = data["extra_fields"]  # a list subclass (LinkedList), a NonTensorStack or a numpy array
        return step_metrics(values.tolist() if hasattr(values, "tolist") else list(values))


def register_trainers() -> list[str]:
    """Register ``turnscore_<mode>`` for each stock mode verl has (idempotent); returns the names."""
    from verl.trainer.ppo.v1 import trainer_base

    names = []
    for mode in BASE_MODES:
        base = trainer_base.TRAINER_REGISTRY.get(mode)
        name = TRAINER_PREFIX + mode
        if base is None:
            continue
        current = trainer_base.TRAINER_REGISTRY.get(name)
        if current is None or not issubclass(current, TurnScoreMetricsMixin):
            cls_name = f"TurnScore{base.__name__}"
            cls = type(
                cls_name,
                (TurnScoreMetricsMixin, base),
                {"__module__": __name__, "__qualname__": cls_name, "turnscore_base_mode": mode},
            )
            globals()[cls_name] = cls  # importable by name (pickling)
            trainer_base.register_trainer(name)(cls)
        names.append(name)
    return names
