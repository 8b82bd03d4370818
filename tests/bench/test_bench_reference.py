"""The reference rows of the bench (bench/reference.py, bench/refcode.py), with a fake reference directory.

The real reference code never enters the repository; these tests write a stand-in ``tool.py`` with the
reference's signature into tmp_path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import refcode
from bench.native import issue_request
from tests.support.native import require_native

ROOT = Path(__file__).resolve().parents[2]

# Stand-in for the reference: the token-level list the real one returns, holding at each position the
# number of <|im_end|> tokens before it (so the first <|im_end|> of turn t, after t tool turns of two
# <|im_end|> each, holds 2t).
FAKE_TOOL = """
import json


def _scores(gt_tool_call, tokenizer, valid_response_ids, **_):
    assert isinstance(json.loads(gt_tool_call), list)
    end = tokenizer.encode("<|im_end|>", add_special_tokens=False)
    out, seen = [], 0
    for i in range(len(valid_response_ids)):
        out.append(float(seen))
        seen += valid_response_ids[i : i + len(end)] == end
    return out


def compute_process_KM(response, codes, unsolved_set, solve_rate, split, answer=None, gt_tool_call=None,
                       tokenizer=None, valid_response_ids=None):
    assert split == "train" and isinstance(response, str)
    return _scores(gt_tool_call, tokenizer, valid_response_ids)


compute_process_ot = compute_process_KM
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != refcode.ENV}
    return {**env, **extra}


def _fake(tmp_path: Path) -> Path:
    d = tmp_path / "ref"
    d.mkdir()
    (d / "tool.py").write_text(FAKE_TOOL)
    return d


def test_reference_is_skipped_without_a_directory(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "bench.run", "reference", "--quick", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, env=_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    skipped = [line for line in proc.stdout.splitlines() if "skipped" in line]
    assert len(skipped) == 1 and refcode.ENV in skipped[0]
    assert not (tmp_path / "reference.json").exists()


def test_a_directory_without_tool_py_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"no tool\.py"):
        refcode.locate(str(tmp_path))


def test_inputs_and_turn_values_with_a_fake_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # load() puts the directory on sys.path
    ref = refcode.load(_fake(tmp_path))
    assert ref.tokenizer_name == "pieces"  # no ref_tokenizer.py: the stand-in tokenizer
    request = issue_request(32)
    its = refcode.items(request, ref.tokenizer)
    assert len(its) == 32
    gold = request["groups"][0]["gold"]
    calls = json.loads(its[0].gold_calls)
    assert len(calls) == sum(len(t) for t in gold["turns"]) >= 4
    assert set(calls[0]) == {"name", "parameters"}
    tok = ref.tokenizer
    assert tok.encode("a}\n</tool_call><|im_end|>")[-1] == tok.encode(refcode.END)[0]
    for it in its:
        turns = it.response.count(refcode.SEP) + 1
        scores = refcode.call(ref.functions["km"], it, ref.tokenizer)
        assert len(scores) == len(it.ids)
        assert refcode.turn_values(scores, it.ids, ref.tokenizer) == [2.0 * t for t in range(turns)]


def test_reference_runs_with_a_fake_directory(tmp_path: Path) -> None:
    require_native()  # the bench compares both cores
    ref_dir = _fake(tmp_path)
    cmd = [sys.executable, "-m", "bench.run", "reference", "--quick", "--out", str(tmp_path)]
    env = _env(**{refcode.ENV: str(ref_dir)})
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads((tmp_path / "reference.json").read_text())
    assert doc["reference_dir"] == str(ref_dir.resolve())
    paths = {(r["match"], r["turnscore"]) for r in doc["rows"]}
    for kind in ("km", "ot"):
        for core in ("python", "native"):
            assert (kind, f"in-process, {core} core") in paths
            assert (kind, f"HTTP, {core} core") in paths
    assert all(r["ratio"] > 0 and r["reference_ms_per_rollout"] > 0 for r in doc["rows"])
    assert {a["preset"] for a in doc["agreement"]} == {
        "matchtir-km",
        "matchtir-ot",
        "matchtir-reference-km",
        "matchtir-reference-ot",
    }
    assert set(doc["targets"]) == {"http_km_vs_reference", "http_ot_vs_reference"}
