"""slime (THUDM/slime) group reward function.

``--custom-rm-path turnscore_client.slime.group_rm --group-rm``: slime calls
``await group_rm(args, samples)`` with the ``n_samples_per_prompt`` samples of one prompt once they are all
generated, and sets ``sample.reward`` from the returned list. This function scores the whole group in one
request, sets ``sample.reward`` itself too (so it also works where a caller only reads the samples), and
keeps the per-turn numbers in ``sample.metadata["turnscore"]``.

Without ``--group-rm`` slime calls the same path once per sample (``group_rm(args, sample)``): that works
too (a group of one), but the group is what makes the turn advantages meaningful.

- Response: ``sample.response`` (decoded, tool observations included) in the ``text`` form; the turn
  separator and tags come from the preset's ``format`` settings (``TURNSCORE_CONFIG`` can override them).
- Gold: ``sample.label`` (the ``--label-key`` column): a gold trace as an object or a JSON string.
- Service: ``TURNSCORE_URL`` (comma-separated for several replicas), else ``args.rm_url`` when it is an
  http(s) URL; ``TURNSCORE_PRESET``; ``TURNSCORE_CONFIG`` (JSON overrides); ``args.rollout_id`` or
  ``sample.metadata["rollout_id"]`` when present is sent as ``step``.
- Reward: the trajectory return R_i (a float), slime's GRPO normalizes within the group.
- Errors: after the client's retries a failure raises (slime's group retry handles it); a sample whose
  label is not a gold trace raises ``ValueError`` naming the sample index.
- Logs: each sample's ``metadata["turnscore"]["summary"]`` is the ``summary`` of the request that scored
  it (its group; ``{field: value}``), with ``metadata["turnscore"]["request"]`` naming that request. slime
  logs only what its rollout function returns as metrics (plus its own sample statistics), not sample
  metadata, so :func:`log_rollout_data` is the ``--custom-rollout-log-function-path`` (slime's documented
  logging hook) that adds the step's summary as ``turnscore/<field>`` (the distinct requests of the step's
  samples merged into one: counts added, ratios recomputed) to those metrics and lets slime's default
  logging log them at ``rollout/step``.

Written against slime's documented interface (``slime/utils/types.py`` ``Sample``: ``prompt``,
``response``, ``label``, ``reward``, ``metadata``, ``index``; ``slime/rollout/rm_hub``: custom RM called as
``rm(args, samples, **kwargs)`` under ``--group-rm``). slime is not installable from PyPI (the PyPI package
``slime`` is an unrelated project), so the tests use a stand-in with those fields.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from . import settings
from ._adapters import PerLoopAsyncClient, env_config, env_preset
from ._client import AsyncTurnScoreClient
from ._json import fingerprint
from ._logs import merged_logs
from .errors import ClientUsageError
from .gold import group_fields

__all__ = ["group_rm", "log_rollout_data", "score_samples"]

log = logging.getLogger("turnscore_client.slime")


def _base_url(args: Any) -> str | None:
    env_url = settings.URL.get()
    if env_url:
        return env_url
    url = getattr(args, "rm_url", None)
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        return url
    return None


_clients: dict[str | None, PerLoopAsyncClient] = {}


def _client_for(args: Any) -> AsyncTurnScoreClient:
    url = _base_url(args)
    holder = _clients.get(url)
    if holder is None:
        holder = _clients[url] = PerLoopAsyncClient(lambda: AsyncTurnScoreClient.from_env(url))
    return holder.get()


def _step(args: Any, samples: list[Any]) -> int | None:
    step = getattr(args, "rollout_id", None)
    if step is None and samples:
        meta = getattr(samples[0], "metadata", None)
        if isinstance(meta, dict):
            step = meta.get("rollout_id")
    return int(step) if isinstance(step, int) and step >= 0 else None


async def score_samples(
    args: Any, samples: list[Any], *, client: AsyncTurnScoreClient | None = None
) -> list[float]:
    """Score ``samples`` (one prompt) in one request; set ``reward`` and ``metadata["turnscore"]`` on each."""
    if not samples:
        return []
    if any(isinstance(s, list) for s in samples):
        raise TypeError(
            "turnscore group_rm expects a flat group of Samples; fan-out custom generate functions "
            "(lists of prefix-chained samples) are not supported"
        )
    by_gold: dict[str, tuple[dict[str, Any], list[int]]] = {}
    for i, s in enumerate(samples):
        try:
            fields = group_fields(s.label)
        except ClientUsageError as e:
            n = getattr(s, "index", i)
            raise ClientUsageError.at(f"sample {n}.label", f"not a gold trace ({e.message})") from e
        key = fingerprint(fields)
        if key not in by_gold:
            gid = f"group-{getattr(s, 'group_index', None)}-{len(by_gold)}"
            by_gold[key] = ({"id": gid, **fields, "rollouts": []}, [])
        group, members = by_gold[key]
        group["rollouts"].append({"text": s.response or ""})
        members.append(i)
    client = client or _client_for(args)
    res = await client.score(
        [g for g, _ in by_gold.values()],
        preset=env_preset(None),
        config=env_config(None),
        step=_step(args, samples),
    )
    rewards = [0.0] * len(samples)
    request = uuid.uuid4().hex
    summary = res.summary.to_dict() if res.summary is not None else None
    for gres, (_, members) in zip(res.groups, by_gold.values(), strict=True):
        for r, i in zip(gres.rollouts, members, strict=True):
            rewards[i] = r.return_
            s = samples[i]
            s.reward = r.return_
            meta = getattr(s, "metadata", None)
            if isinstance(meta, dict):
                meta["turnscore"] = {
                    "turn_rewards": r.turn_rewards,
                    "outcome_reward": r.outcome_reward,
                    "trajectory_advantage": r.trajectory_advantage,
                    "advantages": r.advantages,
                    "num_calls": r.num_calls,
                    "malformed_calls": r.malformed_calls,
                    "gold_ref": gres.gold_ref,
                    "request": request,
                    "summary": dict(summary) if summary is not None else None,
                }
    return rewards


async def group_rm(args: Any, samples: Any, **kwargs: Any) -> Any:
    """slime ``--custom-rm-path`` entry: a list of samples -> list of rewards; one sample -> its reward."""
    if isinstance(samples, list):
        return await score_samples(args, samples)
    return (await score_samples(args, [samples]))[0]


def log_rollout_data(
    rollout_id: int, args: Any, samples: Sequence[Any], rollout_extra_metrics: Any, rollout_time: float
) -> bool:
    """slime ``--custom-rollout-log-function-path``: add ``turnscore/<field>`` (the summary of the step's
    requests merged into one) to the rollout function's metrics and return ``False``, so slime's default
    logging logs them with its own at ``rollout/step``.

    The requests are found in the samples' ``metadata["turnscore"]`` (each counted once, whole, even if
    slime trimmed some of its samples). Without a metrics dict to add to (a custom rollout function that
    returns none) the summary stays in the samples' metadata and a warning says so.
    """
    by_request: dict[str, dict[str, Any]] = {}
    for s in samples:
        meta = getattr(s, "metadata", None)
        entry = meta.get("turnscore") if isinstance(meta, dict) else None
        if isinstance(entry, dict) and isinstance(entry.get("summary"), dict):
            by_request.setdefault(str(entry.get("request")), entry["summary"])
    if not by_request:
        return False
    logs = merged_logs(by_request.values())
    if isinstance(rollout_extra_metrics, dict):
        rollout_extra_metrics.update(logs)
    else:
        log.warning(
            "turnscore: rollout %s: the rollout function returned no metrics dict; the turnscore summary is "
            "only in the samples' metadata",
            rollout_id,
        )
    return False
