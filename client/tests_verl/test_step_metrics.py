"""Training-step metrics: ``trainer.v1.trainer_mode=turnscore_sync`` logs ``turnscore/<field>`` per step.

Real parts: the plugin's agent loop inside verl's ToolAgentLoop (scripted model, as in test_agent_loop);
verl's ``AgentLoopWorkerTQ._agent_loop_postprocess`` writing each output into a real TransferQueue (Ray,
local); the trainer class verl's registry returns for ``turnscore_sync``, built by verl's
``PPOTrainer.__init__``; one step of its ``fit`` loop (``_compute_metrics``: verl's own step metrics, then
the plugin's; the TransferQueue clean-up; verl's ``file`` logger writing the step's metrics); its replay
buffer sampling the step; verl's batch padding (``upsample_batch_to_divisible_size``); the service over a
socket. Stand-ins: the model parts of ``PPOTrainer.step`` (old log-probs, advantages, actor update need GPU
workers: the advantage fields are written directly), the checkpoint manager's weight sync, and
``init()``'s worker and dataloader set-up.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import verl
from hydra import compose, initialize_config_dir
from test_agent_loop import GOLD, SCRIPT, ScriptedServer, byte_tokenizer, make_loop, tc
from turnscore_client import TurnScoreClient
from turnscore_client.verl.trainer import TurnScoreMetricsMixin, final_outputs, step_metrics
from verl.workers.rollout.replica import TokenOutput

STEP = 3
# three rollouts of two prompts: the full trace, one wrong call, an answer without calls
ROLLOUTS = [
    ("uid-a", 0, SCRIPT),
    (
        "uid-a",
        1,
        [
            tc({"name": "get_weather", "arguments": {"city": "Shanghai"}})
            + "\n"
            + tc({"name": "get_weather", "arguments": {"city": "Beijing", "date": "tomorrow"}})
            + "<|im_end|>",
            "<answer>no idea</answer><|im_end|>",
        ],
    ),
    ("uid-b", 0, ["<answer>15 degrees, hotel booked</answer><|im_end|>"]),
]


class StepServer(ScriptedServer):
    """The scripted model, tagging its outputs with the weight version as verl's servers do."""

    async def generate(self, *args: Any, **kwargs: Any) -> Any:
        out = await super().generate(*args, **kwargs)
        return TokenOutput(
            token_ids=out.token_ids,
            num_preempted=0,
            extra_fields={"min_global_steps": STEP, "max_global_steps": STEP},
        )


@pytest.fixture(scope="module")
def transfer_queue() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    import transfer_queue as tq
    from omegaconf import OmegaConf

    # TransferQueue's controller and storage unit each hold one CPU
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    try:
        tq.init(OmegaConf.create({"backend": {"SimpleStorage": {"num_data_storage_units": 1}}}))
        yield tq
    finally:
        tq.close()
        ray.shutdown()


def trainer_config(url: str, *extra: str) -> Any:
    d = os.path.join(os.path.dirname(verl.__file__), "trainer", "config")
    with initialize_config_dir(config_dir=d, version_base=None):
        return compose(
            config_name="ppo_trainer",
            overrides=[
                "trainer.v1.trainer_mode=turnscore_sync",
                "trainer.device=cpu",
                "trainer.logger=[file]",
                "trainer.val_before_train=False",
                "trainer.test_freq=-1",
                "trainer.save_freq=-1",
                "algorithm.adv_estimator=turnscore_dual",
                f"+algorithm.turnscore_url={url}",
                "actor_rollout_ref.rollout.agent.default_agent_loop=turnscore_tool_agent",
                *extra,
            ],
        )


async def rollouts_into_queue(url: str) -> list[list[dict[str, Any]]]:
    """Run each scripted rollout through the agent loop and verl's TQ worker postprocess (as
    ``_run_agent_loop`` does); returns the turns each loop sent to the service."""
    import transfer_queue as tq
    from verl.trainer.ppo.v1.agent_loop_tq import AgentLoopWorkerTQ

    worker_cls = AgentLoopWorkerTQ.__ray_metadata__.modified_class
    worker = object.__new__(worker_cls)  # the Ray actor's class; only its postprocess runs here
    worker.reward_loop_worker_handles = None
    worker.distillation_enabled = False
    worker.processor = None
    tok = byte_tokenizer()
    sent = []
    for uid, session, script in ROLLOUTS:
        loop = make_loop(url, tok, StepServer(tok, script), 2048)
        kwargs = {
            "raw_prompt": [{"role": "user", "content": "Weather in Beijing and a hotel?"}],
            "reward_model": {"ground_truth": json.dumps(GOLD), "style": "rule"},
            "data_source": "toolcall",
            "uid": uid,
            "session_id": session,
            "global_steps": STEP,
        }
        out = await loop.run({"temperature": 1.0}, **kwargs)
        await worker._agent_loop_postprocess(out, False, **kwargs)
        sent.append(loop.turnscore_turns)
    for uid in dict.fromkeys(u for u, _, _ in ROLLOUTS):  # the prompt's group is complete (_run_prompt)
        await tq.async_kv_put(key=uid, partition_id="train", tag={"status": "finished"})
    return sent


async def test_training_step_metrics_are_the_pooled_request_summary(
    service_url: str, transfer_queue: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from verl.trainer.ppo.padding_utils import upsample_batch_to_divisible_size
    from verl.trainer.ppo.v1 import get_trainer_cls

    tq = transfer_queue
    log_file = tmp_path / "metrics.jsonl"
    monkeypatch.setenv("VERL_FILE_LOGGER_PATH", str(log_file))  # verl's own "file" logger backend
    cfg = trainer_config(service_url)
    trainer_cls = get_trainer_cls(cfg.trainer.v1.trainer_mode)  # what verl's TaskRunnerV1 does
    assert issubclass(trainer_cls, TurnScoreMetricsMixin)
    trainer = trainer_cls(config=cfg)
    assert trainer.trainer_mode == "sync" and type(trainer.replay_buffer).__name__ == "ReplayBuffer"
    # what init() would set up: workers, dataloader (steps), dump executor
    trainer.resource_pool_manager = SimpleNamespace(get_n_gpus=lambda: 1)
    trainer.checkpoint_manager = SimpleNamespace(update_weights=lambda *a: None, sleep_replicas=lambda: None)
    trainer.global_steps, trainer.total_training_steps, trainer.steps_per_epoch = STEP - 1, STEP, 10
    trainer._init_dump_executor()

    # the step's rollouts: prompts registered (_submit_batch_to_rollout), rolled out into TransferQueue
    uids = list(dict.fromkeys(u for u, _, _ in ROLLOUTS))
    tags = [{"is_prompt": True, "status": "pending", "global_steps": STEP} for _ in uids]
    tq.kv_batch_put(keys=uids, partition_id="train", tags=tags)
    sent = await rollouts_into_queue(service_url)
    stepped: list[Any] = []

    def step(metrics: dict[str, Any], timing_raw: dict[str, Any]) -> Any:
        """Stands in for PPOTrainer.step (its model parts need GPU workers): the replay buffer samples
        the step, the advantage stage's fields are written, verl pads the batch as for the DP size."""
        batch, _ = trainer.replay_buffer.sample(global_steps=STEP, partition_id="train", batch_size=len(uids))
        assert sorted(batch.keys) == sorted(f"{u}_{s}_0" for u, s, _ in ROLLOUTS)
        rm = tq.kv_batch_get(keys=batch.keys, partition_id="train", select_fields=["rm_scores"])["rm_scores"]
        columns = {"advantages": rm, "returns": rm, "token_level_rewards": rm}
        tq.kv_batch_put(keys=batch.keys, partition_id="train", fields=verl_fields(columns))
        # padding rows are copies of the first row's fields (its extra_fields too): they must not count
        batch = upsample_batch_to_divisible_size(batch, 4, eos_token_id=0)
        assert len(batch.keys) == 4 and batch.tags[-1].get("is_padding")
        stepped.append(batch)
        return batch

    trainer.step = step
    trainer.fit(agent_loop_manager=None)  # verl's loop: step, _compute_metrics, TQ cleared, logger.log
    assert len(stepped) == 1
    assert not tq.kv_list(partition_id="train").get("train")  # fit cleared the step after the metrics
    logged = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [r["step"] for r in logged] == [STEP]
    metrics = logged[0]["data"]

    # the service's summary of one request holding the three rollouts (one group each, as verl sends them)
    with TurnScoreClient(service_url) as c:
        res = c.score([{"gold": GOLD, "rollouts": [{"messages": m}]} for m in sent], step=STEP)
        singles = [c.score([{"gold": GOLD, "rollouts": [{"messages": m}]}], step=STEP).summary for m in sent]
    assert res.summary is not None and all(s is not None for s in singles)
    expect = {f"turnscore/{k}": v for k, v in res.summary.to_dict().items()}
    assert len(expect) == 19 and expect["turnscore/rollouts"] == 3 and expect["turnscore/calls"] == 5
    got = {k: v for k, v in metrics.items() if k.startswith("turnscore/")}
    assert got == {k: pytest.approx(v, rel=1e-9, abs=1e-12) for k, v in expect.items()}
    # pooled, not the mean of the per-rollout ratios (which verl's validation logs)
    per_rollout = np.mean([s.call_precision for s in singles if s is not None])
    assert got["turnscore/call_precision"] != pytest.approx(per_rollout)
    # verl's own step metrics are still there, over the same three rows (padding left out)
    returns = [r.return_ for g in res.groups for r in g.rollouts]
    assert metrics["critic/score/mean"] == pytest.approx(np.mean(returns), abs=1e-5)
    assert metrics["training/global_step"] == STEP


@pytest.mark.parametrize(
    ("mode", "extra", "buffer"),
    [
        ("colocate_async", (), "ReplayBufferAsync"),
        (
            "separate_async",  # what verl's own separate-async checks require
            (
                "actor_rollout_ref.rollout.nnodes=1",
                "actor_rollout_ref.rollout.n_gpus_per_node=1",
                "actor_rollout_ref.rollout.checkpoint_engine.backend=nccl",
            ),
            "ReplayBufferAsync",
        ),
    ],
)
def test_async_modes_run_as_the_stock_mode(mode: str, extra: tuple[str, ...], buffer: str) -> None:
    from verl.trainer.ppo.v1 import get_trainer_cls

    cfg = trainer_config("http://127.0.0.1:9", f"trainer.v1.trainer_mode=turnscore_{mode}", *extra)
    trainer = get_trainer_cls(cfg.trainer.v1.trainer_mode)(config=cfg)
    assert isinstance(trainer, get_trainer_cls(mode)) and isinstance(trainer, TurnScoreMetricsMixin)
    assert trainer.trainer_mode == mode and cfg.trainer.v1.trainer_mode == mode
    assert type(trainer.replay_buffer).__name__ == buffer


def verl_fields(columns: dict[str, Any]) -> Any:
    from verl.utils.tensordict_utils import list_of_dict_to_tensordict

    n = len(next(iter(columns.values())))
    return list_of_dict_to_tensordict([{k: v[i] for k, v in columns.items()} for i in range(n)])


def test_final_outputs_keep_the_last_output_of_each_session() -> None:
    keys = ["u_0_0", "u_0_1", "u_1_0", "v_0_2", "v_0_1", "odd"]
    assert final_outputs(keys) == [1, 2, 3, 5]


def test_step_metrics_skip_rows_without_a_summary() -> None:
    info = {"turnscore/rollouts": 1.0, "turnscore/calls": 2.0, "turnscore/matched_calls": 1.0}
    rows = [{"reward_extra_info": info}, {"reward_extra_info": {"acc": 1.0}}, None, {}]
    out = step_metrics(rows)
    assert out["turnscore/rollouts"] == 1.0 and out["turnscore/call_precision"] == 0.5
    assert step_metrics([None, {"reward_extra_info": {"acc": 1.0}}]) == {}
