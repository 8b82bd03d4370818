"""``turnscore prepare``: bad records by file:line and nothing written, the split (counts, determinism), the
labels (the service's gold), and each trainer's files as written (the trainer suites load them with the
trainers' own code: client/tests_trainers, client/tests_verl)."""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from turnscore.core import engine
from turnscore.core.gold import compile_gold

from tests.support.gold import SAMPLE, gold_records
from tests.support.prepare import prepare, write_records


def has_tools(rec: dict[str, Any]) -> bool:
    return rec.get("tools") is not None or bool((rec.get("meta") or {}).get("tools_ref"))


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    """The sample's records that name their tools (tau2-bench's give none)."""
    return [r for r in gold_records(sample=True) if has_tools(r)]


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def test_bad_records_are_reported_by_line_and_nothing_is_written(tmp_path: Path, records: list) -> None:
    good = records[:3]
    no_question = {**records[3], "question": None}
    bad_gold = {**records[4], "gold": {"turns": "x"}}
    src = tmp_path / "gold.jsonl"
    lines = [json.dumps(r) for r in good[:2]]
    lines += ["{not json", json.dumps(no_question), "", json.dumps(bad_gold), json.dumps(good[0])]
    lines += [json.dumps(good[2]), json.dumps({**records[5], "tools": None, "meta": None})]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    proc = prepare("openrlhf", [src], out, sample=True, check=False)
    assert proc.returncode == 1
    err = proc.stderr
    assert f"{src}:3: not JSON" in err
    assert f"{src}:4: question: " in err
    assert f"{src}:6: record.gold.turns: " in err  # the core's path of the field
    assert f"{src}:7: id {good[0]['id']!r} repeats the record at {src}:1" in err
    assert f"{src}:9: tools: null and no meta.tools_ref" in err
    assert "5 bad records, nothing written" in err
    assert not out.exists()
    proc = prepare("openrlhf", [src], out, "--skip-invalid", "--split", "1", sample=True)
    assert "skipped 5 bad records" in proc.stdout
    assert len(jsonl(out / "train.jsonl")) == 3
    assert sorted(p.name for p in out.iterdir()) == ["train.jsonl"]  # no temporary left, no empty split
    assert "no val records, no val file written" in proc.stdout


def test_the_sample_fails_on_tau2_lines_only(tmp_path: Path) -> None:
    tau2_lines = [
        n
        for n, line in enumerate(SAMPLE.read_text(encoding="utf-8").splitlines(), 1)
        if json.loads(line)["source"].startswith("tau2_bench")
    ]
    proc = prepare("slime", [SAMPLE], tmp_path / "o", sample=True, check=False)
    assert proc.returncode == 1
    reported = sorted(int(x.split(":")[1]) for x in proc.stderr.splitlines() if x.startswith(f"{SAMPLE}:"))
    assert reported == tau2_lines[: len(reported)] and len(reported) == min(20, len(tau2_lines))
    assert f"{len(tau2_lines)} bad records" in proc.stderr


def test_split_is_stratified_and_deterministic(tmp_path: Path, records: list) -> None:
    a = write_records(records[: len(records) // 2], tmp_path / "a.jsonl")
    b = write_records(records[len(records) // 2 :], tmp_path / "b.jsonl")
    shuffled = list(records)
    random.Random(1).shuffle(shuffled)
    c = write_records(shuffled, tmp_path / "c.jsonl")

    def splits(out: Path) -> dict[str, set[str]]:
        return {
            s: {json.loads(r["label"])["id"] for r in jsonl(out / f"{s}.jsonl")} for s in ("train", "val")
        }

    p1 = prepare("openrlhf", [a, b], tmp_path / "o1", "--split", "0.8")
    prepare("openrlhf", [c], tmp_path / "o2", "--split", "0.8")
    prepare("openrlhf", [b, a], tmp_path / "o3", "--split", "0.8", "--seed", "7")
    s1, s2, s3 = splits(tmp_path / "o1"), splits(tmp_path / "o2"), splits(tmp_path / "o3")
    assert s1 == s2  # the input order does not matter
    assert s1 != s3  # the seed does
    sizes = Counter(r["source"] for r in records)
    train = Counter(next(r["source"] for r in records if r["id"] == i) for i in s1["train"])
    for source, n in sizes.items():
        k = math.floor(n * 0.8 + 0.5)
        assert train[source] == k, source
        row = next(line.split() for line in p1.stdout.splitlines() if line.split()[:1] == [source])
        assert [int(x) for x in row[1:]] == [k, n - k, n]
    total = next(line.split() for line in p1.stdout.splitlines() if line.startswith("all "))
    assert int(total[-1]) == len(records) == len(s1["train"]) + len(s1["val"])


def test_labels_are_the_services_gold(tmp_path: Path, records: list) -> None:
    src = write_records(records, tmp_path / "g.jsonl")
    prepare("slime", [src], tmp_path / "o", "--split", "1")
    rows = jsonl(tmp_path / "o" / "train.jsonl")
    assert len(rows) == len(records)
    for row, rec in zip(rows, records, strict=True):
        label = json.loads(row["label"])
        assert label["id"] == rec["id"] == row["metadata"]["id"]
        assert compile_gold(label).ref == compile_gold(rec).ref
    body = engine.score(
        {"groups": [{"id": "g", "gold": json.loads(rows[0]["label"]), "rollouts": [{"text": "no call"}]}]}
    ).body
    assert body["groups"][0]["gold_ref"] == compile_gold(records[0]).ref


def test_verl_files(tmp_path: Path, records: list) -> None:
    src = write_records(records, tmp_path / "g.jsonl")
    system = tmp_path / "system.txt"
    system.write_text("Be brief.\n", encoding="utf-8")
    proc = prepare("verl", [src], tmp_path / "o", "--system-prompt", str(system))
    config = yaml.safe_load((tmp_path / "o" / "tool_config.yaml").read_text(encoding="utf-8"))
    declared = {t["tool_schema"]["function"]["name"]: t for t in config["tools"]}
    assert len(declared) == len(config["tools"])
    assert {t["class_name"] for t in config["tools"]} == {"turnscore_client.verl.tools.RecordingTool"}
    rows = [*pq.read_table(tmp_path / "o" / "train.parquet").to_pylist()]
    rows += pq.read_table(tmp_path / "o" / "val.parquet").to_pylist()
    assert len(rows) == len(records) and f"wrote {tmp_path / 'o' / 'train.parquet'}" in proc.stdout
    for row in rows:
        assert row["agent_name"] == "turnscore_tool_agent"
        assert row["prompt"] == [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": next(r["question"] for r in records if r["id"] == row["extra_info"]["id"]),
            },
        ]
        sel = row["extra_info"]["tool_selection"]
        assert sel and set(sel) <= set(declared)
        assert json.loads(row["extra_info"]["tools_kwargs"]) == {
            n: {"create_kwargs": {"record_id": row["extra_info"]["id"]}} for n in sel
        }
        assert json.loads(row["reward_model"]["ground_truth"])["id"] == row["extra_info"]["id"]
        schema = declared[sel[0]]["tool_schema"]["function"]["parameters"]
        assert schema["type"] == "object" and all("type" in p for p in schema["properties"].values())


def test_text_prompts_carry_the_tools(tmp_path: Path, records: list) -> None:
    src = write_records(records, tmp_path / "g.jsonl")
    prepare("openrlhf", [src], tmp_path / "o", "--split", "1")
    prepare("trl", [src], tmp_path / "t", "--split", "1")
    rows = jsonl(tmp_path / "o" / "train.jsonl")
    trl_rows = pq.read_table(tmp_path / "t" / "train.parquet").to_pylist()
    for row, trl_row, rec in zip(rows, trl_rows, records, strict=True):
        system, user = row["prompt"]
        assert system["role"] == "system" and user == {"role": "user", "content": rec["question"]}
        tools = json.loads(trl_row["tools"])
        assert tools and all(json.dumps(t, ensure_ascii=False) in system["content"] for t in tools)
        assert "<tool_call>" in system["content"] and row["datasource"] == rec["source"]
        assert trl_row["prompt"] == row["prompt"] and trl_row["gold"] == row["label"]


def test_bad_options_exit_2(tmp_path: Path) -> None:
    proc = prepare("keras", [SAMPLE], tmp_path / "o", check=False)
    assert proc.returncode == 2 and "--for must be one of verl, openrlhf, trl, slime" in proc.stderr
    proc = prepare("verl", [tmp_path / "none.jsonl"], tmp_path / "o", check=False)
    assert proc.returncode == 2 and "no such file" in proc.stderr
    proc = prepare("verl", [SAMPLE], tmp_path / "o", "--split", "1.5", check=False)
    assert proc.returncode == 2 and "--split" in proc.stderr
