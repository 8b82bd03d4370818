"""``turnscore score IN.jsonl -o OUT.jsonl``: one output record per input line, bad lines reported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
from turnscore import workload
from turnscore.core import engine

from tests.support.gold import gold_records


def score_file(src: Path, out: str, *options: str) -> subprocess.CompletedProcess[str]:
    """``turnscore score SRC -o OUT --no-progress *options`` in a subprocess (output captured as text)."""
    cmd = [sys.executable, "-m", "turnscore", "score", str(src), "-o", out, "--no-progress", *options]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_score_file_keeps_every_line(tmp_path):
    recs = gold_records(sample=True)
    good1 = workload.make_request(recs, 3, 2, seed=1)
    good2 = workload.make_request(recs, 2, 3, seed=2)
    src = tmp_path / "in.jsonl"
    src.write_bytes(
        orjson.dumps(good1)
        + b"\n{not json\n\n"
        + orjson.dumps({"groups": [{"gold": {"calls": "x"}, "rollouts": []}]})
        + b"\n"
        + orjson.dumps(good2)
        + b"\n"
    )
    out = tmp_path / "out.jsonl"
    proc = score_file(src, str(out), "--preset", "matchtir-ot")
    assert proc.returncode == 1, proc.stderr
    assert "line 2: invalid_request" in proc.stderr
    assert "line 4: invalid_request at groups[0].gold.calls" in proc.stderr
    records = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert [r["line"] for r in records] == [1, 2, 4, 5]
    assert "error" in records[1] and "error" in records[2]
    good1["preset"] = "matchtir-ot"
    assert records[0]["response"] == orjson.loads(orjson.dumps(engine.score(good1).body))
    assert records[3]["response"]["preset"] == "matchtir-ot"
    assert len(records[3]["response"]["groups"]) == 2


def test_all_good_lines_exit_zero(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(orjson.dumps({"groups": []}) + b"\n")
    proc = score_file(src, "-", "--config", '{"gamma": 0.5}')
    assert proc.returncode == 0
    rec = orjson.loads(proc.stdout.splitlines()[0])
    assert rec["response"]["config"]["gamma"] == 0.5
