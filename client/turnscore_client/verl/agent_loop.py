"""``turnscore_tool_agent``: verl's ToolAgentLoop that scores each rollout turn by turn with turnscore.

Select it with ``actor_rollout_ref.rollout.agent.default_agent_loop=turnscore_tool_agent`` (or the
``agent_name`` column of the dataset). It behaves exactly like ``tool_agent`` while generating, and in
addition:

- records every assistant turn that produced at least one token inside ``rollout.response_length`` (each
  such turn is one run of 1s in the response mask): its content and all its parsed tool calls. A turn the
  parent loop did not parse (generation stopped by the length or turn limit) is parsed here from the
  tokens that were kept;
- when the rollout ends, sends it (``messages`` form) with the sample's gold
  (``reward_model.ground_truth``, any shape :func:`turnscore_client.gold.group_fields` accepts) to the
  service (``AsyncTurnScoreClient``, ``POST /v1/score``) with the ``turnscore_*`` settings of the
  ``algorithm`` node;
- returns a :class:`TurnScoreAgentLoopOutput` whose ``reward_score`` is the trajectory return (so verl's
  reward loop is skipped and its metrics show the return) and whose token-level reward row ``rm_scores`` is
  the turnscore layout (:func:`turnscore_client.tokens.pack_rewards`): ``r_t`` on the last token of turn t,
  ``r^o`` on the first token of the last turn of length >= 2. The ``turnscore`` / ``turnscore_dual``
  estimators read it back.

Needs verl's v1 trainer (``trainer.use_v1=True``, the default in verl 0.9): it builds ``rm_scores`` from
``AgentLoopOutput.as_dict()``, which this output overrides. The legacy trainer puts a scalar on the last
token instead, which would lose the per-turn rewards, so it is rejected at start-up.
"""

from __future__ import annotations

import logging
from typing import Any

from verl.experimental.agent_loop.agent_loop import AgentLoopOutput, register
from verl.experimental.agent_loop.tool_agent_loop import ToolAgentLoop

from .. import tokens
from .._client import AsyncTurnScoreClient
from .._logs import summary_logs
from ..gold import group_fields
from ..types import Summary
from ._clients import ClientCache
from .settings import Settings

__all__ = ["AGENT_LOOP_NAME", "TurnScoreAgentLoopOutput", "TurnScoreToolAgentLoop", "build_output"]

log = logging.getLogger("turnscore_client.verl")

AGENT_LOOP_NAME = "turnscore_tool_agent"
EXTRA_TURN_REWARDS = "turnscore_turn_rewards"
EXTRA_OUTCOME = "turnscore_outcome_reward"

_clients = ClientCache(AsyncTurnScoreClient, prefer_local=False, per_loop=True)


class TurnScoreAgentLoopOutput(AgentLoopOutput):  # type: ignore[misc]
    """AgentLoopOutput whose ``rm_scores`` row carries per-turn rewards and the outcome reward."""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = super().as_dict()
        extra = out.get("extra_fields") or {}
        turn_rewards = extra.get(EXTRA_TURN_REWARDS)
        if turn_rewards is None:
            return out
        mask = out["response_mask"]
        packed, stats = tokens.pack_rewards(
            mask, [list(turn_rewards)], [float(extra.get(EXTRA_OUTCOME) or 0.0)]
        )
        out["rm_scores"] = packed[0]
        if not stats.ok:
            log.warning("turnscore: reward layout mismatch for one rollout: %s", stats.as_dict())
        return out


def build_output(
    output: Any, turn_rewards: list[float], outcome: float, ret: float, summary: Summary | None = None
) -> TurnScoreAgentLoopOutput:
    """A :class:`TurnScoreAgentLoopOutput` with the fields of ``output``, the rollout's rewards and the
    ``summary`` of its request as ``reward_extra_info`` (``turnscore/<field>``)."""
    data = {k: getattr(output, k) for k in output.model_fields_set}
    extra = dict(data.get("extra_fields") or getattr(output, "extra_fields", {}) or {})
    extra[EXTRA_TURN_REWARDS] = [float(x) for x in turn_rewards]
    extra[EXTRA_OUTCOME] = float(outcome)
    # verl reads extra_fields["reward_extra_info"] (fixed keys across rollouts): validation metrics
    # (val-aux/<data_source>/<key>/...), rollout dumps, the DAPO group filter (docs/verl.md, "Logs")
    extra["reward_extra_info"] = {
        "turnscore_return": float(ret),
        "turnscore_outcome_reward": float(outcome),
        "turnscore_num_turns": float(len(turn_rewards)),
        **summary_logs(summary),
    }
    data["extra_fields"] = extra
    data["reward_score"] = float(ret)
    new = TurnScoreAgentLoopOutput.model_construct(_fields_set=set(data), **data)
    return new


def _plain(x: Any) -> Any:
    if hasattr(x, "item") and not isinstance(x, (list, dict, str)):
        try:
            return x.item()
        except (ValueError, AttributeError):
            return x
    return x


def gold_of(kwargs: dict[str, Any]) -> Any:
    """The sample's gold trace: ``reward_model.ground_truth`` (verl's dataset convention)."""
    rm = kwargs.get("reward_model")
    gt = None
    if isinstance(rm, dict):
        gt = rm.get("ground_truth")
    if gt is None:
        extra = kwargs.get("extra_info") or {}
        gt = extra.get("ground_truth") if isinstance(extra, dict) else None
    if gt is None:
        raise ValueError("turnscore_tool_agent: the sample has no reward_model.ground_truth (the gold trace)")
    return gt


@register(AGENT_LOOP_NAME)  # type: ignore[untyped-decorator]
class TurnScoreToolAgentLoop(ToolAgentLoop):  # type: ignore[misc]
    """ToolAgentLoop + per-turn turnscore rewards written into the token-level reward row."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        trainer = self.config.get("trainer", {}) if hasattr(self.config, "get") else {}
        if trainer and not trainer.get("use_v1", True):
            raise RuntimeError(
                "turnscore_tool_agent needs verl's v1 trainer (trainer.use_v1=True): the legacy trainer "
                "places a scalar reward on the last token and would drop the per-turn rewards"
            )
        self.turnscore_settings = Settings.from_node(self.config.get("algorithm"))
        self.turnscore_turns: list[dict[str, Any]] = []

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> Any:
        self.turnscore_turns = []
        output = await super().run(sampling_params, **kwargs)
        return await self.turnscore_finish(output, kwargs)

    async def _handle_generating_state(
        self, agent_data: Any, sampling_params: dict[str, Any], ignore_termination: bool = False
    ) -> Any:
        n_messages = len(agent_data.messages)
        state = await super()._handle_generating_state(agent_data, sampling_params, ignore_termination)
        ids = list(agent_data.response_ids or [])
        # the turn's tokens are the last len(ids) entries of the response mask; keep what fits
        start = len(agent_data.response_mask) - len(ids)
        kept = max(0, min(len(ids), self.response_length - start))
        if kept == 0:
            return state  # no token of this turn survives: no run in the mask, not a turn
        if len(agent_data.messages) > n_messages:
            content = agent_data.messages[-1].get("content") or ""
            calls = list(agent_data.tool_calls or [])
        else:  # stopped before the parent parsed the turn: parse the kept tokens ourselves
            active = getattr(agent_data, "_active_tools", None) or self.tools or {}
            schemas = [t.tool_schema for t in active.values()]
            content, calls = await self.tool_parser.extract_tool_calls(ids[:kept], schemas)
        self.turnscore_turns.append(
            {
                "role": "assistant",
                "content": content if isinstance(content, str) else str(content),
                "tool_calls": [
                    {"type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                    for c in calls
                ],
            }
        )
        return state

    async def turnscore_finish(self, output: Any, kwargs: dict[str, Any]) -> TurnScoreAgentLoopOutput:
        settings = self.turnscore_settings
        group = {"id": str(_plain(kwargs.get("uid", "0"))), **group_fields(gold_of(kwargs))}
        group["rollouts"] = [{"messages": self.turnscore_turns}]
        step = _plain(kwargs.get("global_steps"))
        resp = await _clients.get(settings).score(
            [group],
            preset=settings.preset,
            config=settings.config or None,
            step=int(step) if isinstance(step, int) and step >= 0 else None,
        )
        r = resp.groups[0].rollouts[0]
        return build_output(output, r.turn_rewards, r.outcome_reward, r.return_, resp.summary)
