"""``turnscore prepare --for verl`` output read by verl 0.9.1 itself: the tool config through verl's tool
registry (RecordingTool instances), the parquet through ``RLHFDataset`` (with the config's tools in its chat
template), and one dataset row run through the turnscore agent loop: the sample's tools only, the recorded
calls, the reward from the real service for the row's ``reward_model.ground_truth``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import verl
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from test_agent_loop import ScriptedServer, byte_tokenizer, tc
from turnscore_client import TurnScoreClient
from turnscore_client.verl.agent_loop import TurnScoreToolAgentLoop
from turnscore_client.verl.tools import EXTRA_CALLS, RecordingTool
from verl.experimental.agent_loop.agent_loop import DictConfigWrap, ToolListWrap
from verl.tools.tool_registry import initialize_tools_from_config
from verl.utils.dataset.rl_dataset import RLHFDataset

from tests.support.gold import gold_records
from tests.support.prepare import prepare, write_records


def named_tools(rec: dict[str, Any]) -> bool:
    return rec.get("tools") is not None or bool((rec.get("meta") or {}).get("tools_ref"))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("prepare")
    records = [r for r in gold_records(per_source=2) if named_tools(r)]
    src = write_records(records, tmp / "gold.jsonl")
    prepare("verl", [src], tmp / "out", "--split", "0.5")
    return tmp / "out", records


def dataset(out: Path, tokenizer: Any, split: str = "train") -> RLHFDataset:
    config = OmegaConf.create(
        {
            "prompt_key": "prompt",
            "max_prompt_length": 10**7,  # every tool of the config is in each prompt here (see below)
            "filter_overlong_prompts": True,
            "filter_overlong_prompts_workers": 1,
            "return_raw_chat": True,
            "truncation": "error",
            "tool_config_path": str(out / "tool_config.yaml"),
            "cache_dir": str(out / "cache"),
        }
    )
    return RLHFDataset([str(out / f"{split}.parquet")], tokenizer, config)


def test_tool_config_loads_through_verls_registry(prepared: tuple[Path, list[dict[str, Any]]]) -> None:
    out, records = prepared
    tools = initialize_tools_from_config(str(out / "tool_config.yaml"))
    assert tools and all(isinstance(t, RecordingTool) for t in tools)
    names = {t.name for t in tools}
    assert len(names) == len(tools)
    ds = dataset(out, byte_tokenizer())
    # RLHFDataset read the same config (its length filter renders these schemas in the chat template)
    assert ds.tool_schemas is not None and len(ds.tool_schemas) == len(tools)
    for schema in ds.tool_schemas:
        assert schema["type"] == "function" and schema["function"]["parameters"]["type"] == "object"
    rows = [ds[i] for i in range(len(ds))] + [r for v in [dataset(out, byte_tokenizer(), "val")] for r in v]
    assert len(rows) == len(records)  # nothing filtered, nothing lost
    for row in rows:
        sel = row["extra_info"]["tool_selection"]
        assert sel and set(sel) <= names
        assert row["tools_kwargs"] == {
            n: {"create_kwargs": {"record_id": row["extra_info"]["id"]}} for n in sel
        }
        assert row["agent_name"] == "turnscore_tool_agent"
        assert row["raw_prompt"][-1]["role"] == "user"


def agent_loop(url: str, tokenizer: Any, server: ScriptedServer, tools: list[Any]) -> TurnScoreToolAgentLoop:
    d = os.path.join(os.path.dirname(verl.__file__), "trainer", "config")
    with initialize_config_dir(config_dir=d, version_base=None):
        cfg = compose(
            config_name="ppo_trainer",
            overrides=[
                "actor_rollout_ref.rollout.multi_turn.format=hermes",
                "actor_rollout_ref.rollout.multi_turn.max_parallel_calls=16",
                "actor_rollout_ref.rollout.response_length=8192",
                "actor_rollout_ref.rollout.prompt_length=200000",
                "algorithm.adv_estimator=turnscore_dual",
                f"+algorithm.turnscore_url={url}",
                "+algorithm.turnscore_backend=http",
            ],
        )
    return TurnScoreToolAgentLoop(
        trainer_config=DictConfigWrap(cfg),
        server_manager=server,
        tokenizer=tokenizer,
        processor=None,
        dataset_cls=None,
        data_config=DictConfigWrap(cfg.data),
        hf_model_type="qwen3",
        tools=ToolListWrap(tools),
    )


async def test_a_prepared_row_runs_through_the_agent_loop(
    prepared: tuple[Path, list[dict[str, Any]]], service_url: str
) -> None:
    out, _ = prepared
    tok = byte_tokenizer()
    ds = dataset(out, tok)
    tools = initialize_tools_from_config(str(out / "tool_config.yaml"))
    # a multi-call row whose gold calls are tools it offers
    row = next(
        r
        for r in (ds[i] for i in range(len(ds)))
        if sum(map(len, json.loads(r["reward_model"]["ground_truth"])["gold"]["turns"])) >= 2
        and {c["name"] for t in json.loads(r["reward_model"]["ground_truth"])["gold"]["turns"] for c in t}
        <= set(r["extra_info"]["tool_selection"])
    )
    gold = json.loads(row["reward_model"]["ground_truth"])
    turns = [t for t in gold["gold"]["turns"] if t]
    script = ["\n".join(tc(c) for c in t) + "<|im_end|>" for t in turns] + ["done<|im_end|>"]
    server = ScriptedServer(tok, script)
    loop = agent_loop(service_url, tok, server, tools)
    kwargs = {k: row[k] for k in ("raw_prompt", "reward_model", "extra_info", "tools_kwargs")}
    result = await loop.run({"temperature": 1.0}, **kwargs, uid="u", global_steps=1)
    assert server.calls == len(script)
    recorded = result.extra_fields[EXTRA_CALLS]
    assert [(c["name"], c["arguments"]) for c in recorded] == [
        (c["name"], c["arguments"]) for t in turns for c in t
    ]
    assert {c["record_id"] for c in recorded} == {row["extra_info"]["id"]}
    # the prompt offered this row's tools only (extra_info.tool_selection)
    prompt = tok.decode(result.prompt_ids)
    offered = {t.name for t in tools if f'"name": "{t.name}"' in prompt}
    assert offered == set(row["extra_info"]["tool_selection"])
    messages = [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"name": c["name"], "arguments": c["arguments"]} for c in t],
        }
        for t in turns
    ] + [{"role": "assistant", "content": "done"}]
    with TurnScoreClient(service_url) as c:
        expect = c.score([{"gold": gold, "rollouts": [{"messages": messages}]}], step=1).groups[0].rollouts[0]
    assert result.reward_score == pytest.approx(expect.return_)
    assert expect.turn_rewards[: len(turns)] == pytest.approx([1.0] * len(turns))
