"""``turnscore prepare`` output read by the trainers' own code, scored by the real service:

- OpenRLHF: the JSONL through ``blending_datasets`` and ``PromptDataset`` (``--data.input_key prompt
  --data.label_key label --data.apply_chat_template``), then each prompt and label through OpenRLHF's
  ``SingleTurnAgentExecutor`` posting to ``/v1/openrlhf``;
- TRL: the folder through ``datasets.load_dataset`` into one ``GRPOTrainer`` step with ``TurnScoreReward``;
- slime: the JSONL read as slime's ``Dataset`` reads it (pandas, ``label`` as a string, ``--tool-key`` into
  the chat template), the samples through ``turnscore_client.slime.group_rm``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from conftest import ROOT
from datasets import load_dataset
from openrlhf.datasets import PromptDataset
from openrlhf.datasets.utils import blending_datasets
from openrlhf.utils.agent import SingleTurnAgentExecutor
from test_openrlhf import _run
from test_trl import _model
from transformers import PreTrainedTokenizerFast
from trl import GRPOConfig, GRPOTrainer
from turnscore_client import AsyncTurnScoreClient, TurnScoreClient
from turnscore_client.slime import score_samples
from turnscore_client.trl import TurnScoreReward

from tests.support.gold import gold_records
from tests.support.prepare import prepare, write_records
from tests.support.serve import RealService
from tests.support.workloads import qwen_response, qwen_text

CHATML = (
    "{% if tools %}<|im_start|>system\n{% for t in tools %}{{ t | tojson }}\n{% endfor %}"
    "<|im_end|>\n{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def small_records(n_per_source: int = 2, max_tools_chars: int = 1500) -> list[dict[str, Any]]:
    """Records with inline tools of modest size (short prompts for the tiny test policy) and gold calls."""
    out = []
    for rec in gold_records(per_source=20):
        tools = rec.get("tools")
        small = bool(tools) and len(json.dumps(tools)) <= max_tools_chars and any(rec["gold"]["turns"])
        if small and sum(r["source"] == rec["source"] for r in out) < n_per_source:
            out.append(rec)
    return out


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    recs = small_records()
    assert len(recs) >= 4
    return recs


@pytest.fixture
def chat_tokenizer(tokenizer: PreTrainedTokenizerFast) -> PreTrainedTokenizerFast:
    tokenizer.chat_template = CHATML
    return tokenizer


def test_openrlhf_prompt_dataset(
    tmp_path: Path, records: list[dict[str, Any]], chat_tokenizer: Any, service: RealService
) -> None:
    src = write_records(records, tmp_path / "gold.jsonl")
    prepare("openrlhf", [src], tmp_path / "out", "--split", "0.5")
    data_args = SimpleNamespace(input_key="prompt", label_key="label", apply_chat_template=True)
    strategy = SimpleNamespace(
        args=SimpleNamespace(data=data_args, use_ms=False), print=lambda *a: None, is_rank_0=lambda: True
    )
    seen = []
    for split in ("train", "val"):
        data = blending_datasets(str(tmp_path / "out" / f"{split}.jsonl"), None, strategy)
        ds = PromptDataset(data, chat_tokenizer, strategy)
        for i in range(len(ds)):
            datasource, prompt, label, _images = ds[i]
            rec = next(r for r in records if r["id"] == json.loads(label)["id"])
            seen.append(rec["id"])
            assert datasource == rec["source"]
            assert prompt.endswith(f"<|im_start|>user\n{rec['question']}<|im_end|>\n<|im_start|>assistant\n")
            for tool in rec["tools"]:
                assert f'"name": "{tool["name"]}"' in prompt  # the tools are in the system message
            # OpenRLHF's agent executor posts (query, prompt, label) to the service
            executor = SingleTurnAgentExecutor(remote_rm_url=[service.url + "/v1/openrlhf"])
            turns = rec["gold"]["turns"]
            good = _run(executor, chat_tokenizer, prompt, label, qwen_response(turns))
            none = _run(executor, chat_tokenizer, prompt, label, "I will not call anything.<|im_end|>")
            assert good["extra_logs"]["turnscore_errors"] == [0]
            assert good["extra_logs"]["turnscore_num_calls"] == [sum(map(len, turns))]
            assert good["reward"][0] > none["reward"][0]
    assert sorted(seen) == sorted(r["id"] for r in records)


def test_trl_folder_into_a_grpo_step(
    tmp_path: Path, records: list[dict[str, Any]], chat_tokenizer: Any, service: RealService
) -> None:
    src = write_records(records, tmp_path / "gold.jsonl")
    prepare("trl", [src], tmp_path / "out", "--split", "0.5")
    dd = load_dataset(str(tmp_path / "out"))
    assert set(dd) == {"train", "validation"}
    assert len(dd["train"]) + len(dd["validation"]) == len(records)
    row = dd["train"][0]
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    assert isinstance(row["tools"], list) and row["tools"][0]["type"] == "function"
    seen: list[dict[str, Any]] = []

    class Recording(TurnScoreReward):
        def __call__(self, prompts: Any, completions: Any, completion_ids: Any = None, **kw: Any) -> Any:
            seen.append({"prompts": prompts, **kw})
            return super().__call__(prompts, completions, completion_ids, **kw)

    reward = Recording(base_url=service.url, gold_column="gold")
    g = 2
    args = GRPOConfig(
        output_dir=str(tmp_path / "run"),
        per_device_train_batch_size=g * 2,
        num_generations=g,
        max_completion_length=8,
        max_steps=1,
        learning_rate=1e-4,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        bf16=False,
        seed=0,
    )
    model = _model(chat_tokenizer)
    model.config.max_position_embeddings = 32768
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[reward],
        args=args,
        train_dataset=dd["train"],
        processing_class=chat_tokenizer,
    )
    trainer.train()
    assert seen and reward.client.stats.requests >= 1
    golds = {r["gold"] for r in dd["train"]}
    for call in seen:
        assert set(call["gold"]) <= golds  # the gold column as written
        assert all(isinstance(t, list) for t in call["tools"])
        assert all(p[0]["role"] == "system" and "<tools>" in p[0]["content"] for p in call["prompts"])
    logged = {k for entry in trainer.state.log_history for k in entry}
    assert any(k.startswith("rewards/turnscore") for k in logged), logged


def test_slime_samples(
    tmp_path: Path, records: list[dict[str, Any]], chat_tokenizer: Any, service: RealService
) -> None:
    src = write_records(records, tmp_path / "gold.jsonl")
    prepare("slime", [src], tmp_path / "out", "--split", "1")
    # as slime/utils/data.py reads it: pandas, the label column as str, tools (JSON string) to the template
    df = pd.read_json(tmp_path / "out" / "train.jsonl", lines=True, dtype={"label": str})
    assert len(df) == len(records)

    async def group_rewards(samples: list[Any]) -> list[float]:
        async with AsyncTurnScoreClient(service.url) as client:
            return await score_samples(SimpleNamespace(), samples, client=client)

    for data, rec in zip((row.to_dict() for _, row in df.iterrows()), records, strict=True):
        tools = json.loads(data["tools"])
        prompt = chat_tokenizer.apply_chat_template(
            data["prompt"], tools, tokenize=False, add_generation_prompt=True
        )
        assert [t["function"]["name"] for t in tools] == [t["name"] for t in rec["tools"]]
        assert all(json.dumps(t) in prompt for t in tools) and rec["question"] in prompt
        assert data["metadata"] == {"id": rec["id"], "source": rec["source"]}
        turns = [t for t in rec["gold"]["turns"] if t]
        samples = [
            SimpleNamespace(
                index=i,
                group_index=0,
                prompt=prompt,
                response=r,
                label=data["label"],
                reward=None,
                metadata={},
            )
            for i, r in enumerate([qwen_text(turns), "no call"])
        ]
        rewards = asyncio.run(group_rewards(samples))
        expect = TurnScoreClient(service.url).score(
            [{"gold": json.loads(data["label"]), "rollouts": [{"text": s.response} for s in samples]}]
        )
        assert rewards == pytest.approx(expect.returns[0]) and rewards[0] > rewards[1]
        assert [s.reward for s in samples] == rewards
        assert samples[0].metadata["turnscore"]["gold_ref"] == expect.groups[0].gold_ref


def test_openrlhf_launch_script_uses_the_prepared_files(
    tmp_path: Path, records: list[dict[str, Any]]
) -> None:
    """client/examples/openrlhf_launch.sh with ``DATA_DIR`` = a prepared folder: ``ray job submit`` (a
    stand-in on PATH that prints its arguments) gets the files and keys ``prepare`` wrote, and every flag it
    passes to ``openrlhf.cli.train_ppo_ray`` is one that OpenRLHF's parser defines."""
    import openrlhf

    src = write_records(records, tmp_path / "gold.jsonl")
    prepare("openrlhf", [src], tmp_path / "data" / "openrlhf", "--split", "0.5")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ray").write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    (bin_dir / "ray").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "DATA_DIR": "data/openrlhf"}
    script = ROOT / "client" / "examples" / "openrlhf_launch.sh"
    out = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, env=env, cwd=tmp_path, check=True
    )
    args = out.stdout.splitlines()
    argv = args[args.index("openrlhf.cli.train_ppo_ray") + 1 :]
    flags = dict(zip(argv, [*argv[1:], ""], strict=True))
    assert flags["--data.input_key"] == "prompt" and flags["--data.label_key"] == "label"
    assert (tmp_path / flags["--data.prompt_dataset"]) == tmp_path / "data" / "openrlhf" / "train.jsonl"
    assert (tmp_path / flags["--eval.dataset"]).is_file()
    defined = set(
        re.findall(
            r'add_argument\(\s*"(--[\w.]+)"',
            (Path(openrlhf.__file__).parent / "cli" / "train_ppo_ray.py").read_text(),
        )
    )
    assert {a for a in argv if a.startswith("--")} <= defined
