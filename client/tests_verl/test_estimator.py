"""(2)+(3) The turnscore estimators through verl's registry, on verl's own DataProto, vs the real service.

The per-turn rewards are written by the agent loop's output (``TurnScoreAgentLoopOutput.as_dict()``, the
call verl's v1 agent-loop worker makes), carried through verl's own TensorDict/DataProto plumbing exactly
as the v1 trainer's ``_compute_advantage`` does, and turned into advantages by verl's
``compute_advantage_for_multi_trajectories`` -> registry -> ``turnscore_dual``. The token-level advantages
must equal ``/v1/score``'s per-turn advantages of the same groups (served over a socket) token by token.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
import torch
import verl
from hydra import compose, initialize_config_dir
from turnscore_client import TurnScoreClient
from turnscore_client.tokens import find_segments, pack_rewards
from turnscore_client.verl import estimator as est
from turnscore_client.verl.agent_loop import TurnScoreAgentLoopOutput, build_output
from verl import DataProto
from verl.experimental.agent_loop.agent_loop import AgentLoopMetrics, AgentLoopOutput
from verl.trainer.ppo.core_algos import get_adv_estimator_fn
from verl.trainer.ppo.ray_trainer import compute_advantage
from verl.trainer.ppo.v1.utils import compute_advantage_for_multi_trajectories
from verl.utils.tensordict_utils import list_of_dict_to_tensordict
from verl.workers.utils.padding import response_to_nested

from tests.support.workloads import response_mask, seed, verl_groups, verl_score_groups

ATOL = 1e-5


def verl_config(*overrides: str) -> Any:
    """verl's real trainer config (ppo_trainer.yaml) composed with command-line style overrides."""
    d = os.path.join(os.path.dirname(verl.__file__), "trainer", "config")
    with initialize_config_dir(config_dir=d, version_base=None):
        return compose(config_name="ppo_trainer", overrides=list(overrides))


def scored(url: str, preset: str | None = None, config: dict[str, Any] | None = None) -> list[list[Any]]:
    with TurnScoreClient(url) as c:
        resp = c.score(verl_score_groups(verl_groups()), preset=preset, config=config)
    return [g.rollouts for g in resp.groups]


def agent_outputs(rollouts: list[list[Any]], rng: np.random.Generator) -> list[TurnScoreAgentLoopOutput]:
    """What TurnScoreToolAgentLoop returns for each rollout (rewards from the service, a realistic mask)."""
    outs = []
    for group in rollouts:
        for r in group:
            mask = response_mask(rng, r.num_turns)
            base = AgentLoopOutput(
                prompt_ids=[1, 2, 3],
                response_ids=[int(x) for x in rng.integers(5, 100, size=len(mask))],
                response_mask=mask,
                num_turns=2 * r.num_turns,
                metrics=AgentLoopMetrics(),
                extra_fields={"turn_scores": [], "tool_rewards": []},
            )
            outs.append(build_output(base, r.turn_rewards, r.outcome_reward, r.return_))
    return outs


def v1_advantages(outs: list[TurnScoreAgentLoopOutput], uids: list[str], cfg: Any) -> tuple[DataProto, Any]:
    """verl's v1 trainer path: as_dict() per output -> jagged TensorDict -> padded DataProto -> advantage."""
    fields = []
    for out, uid in zip(outs, uids, strict=True):
        f = out.as_dict()
        fields.append({"uid": uid, "response_mask": f["response_mask"], "rm_scores": f["rm_scores"]})
    td = list_of_dict_to_tensordict(fields)
    nested_mask = td["response_mask"]
    # as in RayPPOTrainer v1 (_compute_advantage), minus TransferQueue
    data = DataProto(batch=td.to_padded_tensor())
    data.batch["token_level_scores"] = data.batch["rm_scores"]
    data.non_tensor_batch["uid"] = np.array(data.batch.pop("uid").tolist(), dtype=object)
    data.batch["token_level_rewards"] = data.batch["token_level_scores"]
    keys = [f"{u}_{i}_0" for i, u in enumerate(uids)]
    data = compute_advantage_for_multi_trajectories(
        data,
        batch_keys=keys,
        adv_estimator=cfg.algorithm.adv_estimator,
        gamma=cfg.algorithm.gamma,
        lam=cfg.algorithm.lam,
        num_repeat=cfg.actor_rollout_ref.rollout.n,
        norm_adv_by_std_in_grpo=cfg.algorithm.get("norm_adv_by_std_in_grpo", True),
        config=cfg.algorithm,
    )
    return data, nested_mask


def assert_token_advantages(adv: torch.Tensor, mask: torch.Tensor, rollouts: list[list[Any]]) -> None:
    flat = [r for g in rollouts for r in g]
    assert adv.shape == mask.shape
    seg = find_segments(mask)
    assert seg.counts.tolist() == [r.num_turns for r in flat]
    expect = np.zeros(tuple(mask.shape))
    for row, t, s, e in zip(
        seg.row.tolist(), seg.turn.tolist(), seg.start.tolist(), seg.end.tolist(), strict=True
    ):
        expect[row, s : e + 1] = flat[row].advantages[t]
    np.testing.assert_allclose(adv.double().numpy(), expect, rtol=0, atol=ATOL)
    # and nothing off the assistant tokens (observations, padding)
    assert float(adv[mask == 0].abs().max()) == 0.0


def uids_for(rollouts: list[list[Any]]) -> list[str]:
    names = [g["id"] for g in verl_groups()]
    return [f"uid-{names[gi]}" for gi, g in enumerate(rollouts) for _ in g]


@pytest.mark.parametrize("backend", ["local", "http"])
def test_v1_path_matches_service_score(service_url: str, backend: str) -> None:
    rollouts = scored(service_url)
    rng = np.random.default_rng(seed())
    outs = agent_outputs(rollouts, rng)
    # shuffle rows so groups are interleaved, as verl batches can be
    order = rng.permutation(len(outs))
    flat_uids = uids_for(rollouts)
    cfg = verl_config(
        "algorithm.adv_estimator=turnscore_dual",
        f"+algorithm.turnscore_backend={backend}",
        f"+algorithm.turnscore_url={service_url}",
    )
    est.STATS.clear()
    data, nested_mask = v1_advantages([outs[i] for i in order], [flat_uids[i] for i in order], cfg)
    mask = data.batch["response_mask"]
    lengths = nested_mask.offsets().diff()
    assert int(lengths.min()) < mask.shape[1]  # some rows are padded
    flat = [r for g in rollouts for r in g]
    assert_token_advantages(data.batch["advantages"], mask, [[flat[i] for i in order]])
    assert est.STATS["rows"] == len(outs) and est.STATS["rows_outcome_merged"] == 0
    # back to verl's nested (unpadded) form, as the trainer writes it to TransferQueue
    nested = response_to_nested(data.batch["advantages"], nested_mask)
    assert nested.offsets().diff().tolist() == lengths.tolist()


# gigpo: verl's token layout carries no anchor states, so over /v1/advantages only the first turns share a
# step group (docs/verl.md); these rollouts' later turns all have distinct prefixes, so /v1/score's derived
# states give the same groups and the two agree
@pytest.mark.parametrize(
    "preset",
    [
        "matchtir-reference-km",  # answer_turn, mean, raw
        "turnscore-v1",
        "mt-grpo",
        "turn-loo",
        "gigpo",
        "matchtir-ablation-adv-intra",
        "matchtir-ablation-turn-outcome-nodual",
    ],
)
def test_registry_estimator_on_dataproto_with_padding_and_preset(service_url: str, preset: str) -> None:
    """verl's compute_advantage -> registry -> turnscore with the preset's estimator equals /v1/score."""
    overrides = {"gamma": 0.8}
    rollouts = scored(service_url, preset, overrides)
    rng = np.random.default_rng(seed() + 1)
    flat = [r for g in rollouts for r in g]
    masks = [response_mask(rng, r.num_turns) for r in flat]
    width = max(len(m) for m in masks) + 7  # right padding on every row, like response_length
    mask = torch.zeros((len(flat), width), dtype=torch.int64)
    for i, m in enumerate(masks):
        mask[i, : len(m)] = torch.tensor(m)
    rewards, stats = pack_rewards(mask, [r.turn_rewards for r in flat], [r.outcome_reward for r in flat])
    assert stats.ok and rewards.dtype == torch.float32
    data = DataProto.from_dict(
        tensors={"token_level_rewards": rewards, "response_mask": mask},
        non_tensors={"uid": np.array(uids_for(rollouts), dtype=object)},
    )
    cfg = verl_config(
        "algorithm.adv_estimator=turnscore",
        f"+algorithm.turnscore_preset={preset}",
        "+algorithm.turnscore_gamma=0.8",
        "+algorithm.turnscore_backend=http",
        f"+algorithm.turnscore_url={service_url}",
    )
    out = compute_advantage(data, adv_estimator=cfg.algorithm.adv_estimator, config=cfg.algorithm)
    assert_token_advantages(out.batch["advantages"], mask, rollouts)
    np.testing.assert_array_equal(out.batch["returns"].numpy(), out.batch["advantages"].numpy())


def test_local_and_http_backends_agree(service_url: str) -> None:
    rollouts = scored(service_url)
    flat = [r for g in rollouts for r in g]
    rng = np.random.default_rng(seed() + 2)
    masks = [response_mask(rng, r.num_turns, min_run=1, max_run=3) for r in flat]
    width = max(len(m) for m in masks)
    mask = torch.zeros((len(flat), width), dtype=torch.int64)
    for i, m in enumerate(masks):
        mask[i, : len(m)] = torch.tensor(m)
    rewards, _ = pack_rewards(mask, [r.turn_rewards for r in flat], [r.outcome_reward for r in flat])
    fn = get_adv_estimator_fn("turnscore_dual")
    index = np.array(uids_for(rollouts), dtype=object)
    a_local, _ = fn(
        rewards, mask, index=index, config=verl_config("+algorithm.turnscore_backend=local").algorithm
    )
    a_http, _ = fn(
        rewards,
        mask,
        index=index,
        config=verl_config(
            "+algorithm.turnscore_backend=http", f"+algorithm.turnscore_url={service_url}"
        ).algorithm,
    )
    torch.testing.assert_close(a_local, a_http, rtol=0, atol=1e-12)


def test_rejects_in_reward_kl_and_trajectory_scheme() -> None:
    mask = torch.ones((2, 4), dtype=torch.int64)
    rewards = torch.zeros((2, 4))
    fn = get_adv_estimator_fn("turnscore_dual")
    index = np.array(["a", "a"], dtype=object)
    with pytest.raises(ValueError, match="use_kl_in_reward"):
        fn(rewards, mask, index=index, config=verl_config("algorithm.use_kl_in_reward=true").algorithm)
    with pytest.raises(ValueError, match="trajectory"):
        fn(
            rewards,
            mask,
            index=index,
            config=verl_config("+algorithm.turnscore_reward_scheme=trajectory").algorithm,
        )
    with pytest.raises(ValueError, match="uid"):
        fn(rewards, mask, index=None, config=verl_config().algorithm)


def test_unknown_override_is_rejected_not_ignored() -> None:
    from turnscore_client import ValidationError

    mask = torch.ones((2, 4), dtype=torch.int64)
    fn = get_adv_estimator_fn("turnscore_dual")
    with pytest.raises(ValidationError):
        fn(
            torch.zeros((2, 4)),
            mask,
            index=np.array(["a", "a"], dtype=object),
            config=verl_config(
                "+algorithm.turnscore_gama=0.9", "+algorithm.turnscore_backend=local"
            ).algorithm,
        )


def test_stray_reward_mass_is_counted_or_raised() -> None:
    # a scalar on an observation token (e.g. a reward function's score on the last token) is not the layout
    mask = torch.tensor([[1, 1, 0, 0, 1, 1, 0], [1, 1, 1, 0, 0, 0, 0]])
    rewards, _ = pack_rewards(mask, [[0.5, 0.25], [1.0]], [1.0, 0.0])
    rewards[0, 3] = 2.0
    fn = get_adv_estimator_fn("turnscore_dual")
    index = np.array(["a", "a"], dtype=object)
    est.STATS.clear()
    adv, _ = fn(
        rewards, mask, index=index, config=verl_config("+algorithm.turnscore_backend=local").algorithm
    )
    assert est.STATS["rows_stray_reward"] == 1 and adv.shape == mask.shape
    with pytest.raises(ValueError, match="off the layout"):
        fn(
            rewards,
            mask,
            index=index,
            config=verl_config(
                "+algorithm.turnscore_backend=local", "+algorithm.turnscore_on_mismatch=raise"
            ).algorithm,
        )
