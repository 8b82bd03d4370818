"""The example launch script's overrides compose against verl 0.9.1's own config schema, and its data paths
are what ``turnscore prepare --for verl`` writes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import verl
from hydra import compose, initialize_config_dir
from turnscore_client.verl.settings import Settings

from tests.support.gold import gold_records
from tests.support.prepare import prepare, write_records

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "verl" / "run_matchtir_qwen3.sh"


def test_example_overrides_are_valid_verl_config() -> None:
    env = {
        **os.environ,
        "TURNSCORE_DRY_RUN": "1",
        "TURNSCORE_URL": "http://rm:8000",
        "MODEL": "Qwen/Qwen3-4B",
    }
    out = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=env, check=True)
    overrides = [line for line in out.stdout.splitlines() if line]
    d = os.path.join(os.path.dirname(verl.__file__), "trainer", "config")
    with initialize_config_dir(config_dir=d, version_base=None):
        cfg = compose(config_name="ppo_trainer", overrides=overrides)  # unknown keys raise here
    assert cfg.algorithm.adv_estimator == "turnscore_dual"
    assert cfg.algorithm.use_kl_in_reward is False
    assert cfg.actor_rollout_ref.actor.use_kl_loss is True
    assert cfg.actor_rollout_ref.rollout.agent.default_agent_loop == "turnscore_tool_agent"
    assert cfg.actor_rollout_ref.rollout.multi_turn.format == "hermes"
    assert cfg.trainer.use_v1 is True
    assert cfg.trainer.v1.trainer_mode == "turnscore_sync"
    assert cfg.actor_rollout_ref.model.path == "Qwen/Qwen3-4B"
    s = Settings.from_node(cfg.algorithm)
    assert s.urls == ("http://rm:8000",) and s.preset == "matchtir-km" and s.config == {"gamma": 0.9}


def test_example_reads_what_prepare_writes(tmp_path: Path) -> None:
    """The script's default data paths are the files ``turnscore prepare --for verl -o data/matchtir``
    writes (run from the folder holding data/)."""
    records = [r for r in gold_records(per_source=2) if r.get("tools") is not None]
    src = write_records(records, tmp_path / "gold.jsonl")
    prepare("verl", [src], tmp_path / "data" / "matchtir", "--split", "0.5")
    env = {**os.environ, "TURNSCORE_DRY_RUN": "1"}
    out = subprocess.run(
        ["bash", str(SCRIPT)], capture_output=True, text=True, env=env, check=True, cwd=tmp_path
    )
    overrides = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    for key in (
        "data.train_files",
        "data.val_files",
        "actor_rollout_ref.rollout.multi_turn.tool_config_path",
    ):
        assert (tmp_path / overrides[key]).is_file(), (key, overrides[key])
    assert overrides["data.tool_config_path"] == "null"
    d = os.path.join(os.path.dirname(verl.__file__), "trainer", "config")
    with initialize_config_dir(config_dir=d, version_base=None):
        cfg = compose(config_name="ppo_trainer", overrides=out.stdout.split())
    assert cfg.data.tool_config_path is None
    assert cfg.actor_rollout_ref.rollout.multi_turn.tool_config_path == "data/matchtir/tool_config.yaml"
