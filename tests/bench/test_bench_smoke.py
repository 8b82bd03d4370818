"""Smoke test of the benchmark harness (bench/): tiny in-process runs, no timing assertions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.common import table
from bench.tokens import loop_place, make_batch

ROOT = Path(__file__).resolve().parents[2]


def test_in_process_measurements_write_results(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "bench.run", "core", "ot", "tokens", "--quick", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ("core", "ot", "tokens"):
        doc = json.loads((tmp_path / f"{name}.json").read_text())
        assert doc["benchmark"] == name
        assert doc["rows"], name
        assert doc["machine"]["logical_cpus"] >= 1
    ot = json.loads((tmp_path / "ot.json").read_text())
    assert all(r["max_abs_plan_diff"] < 1e-6 for r in ot["rows"])


def test_table_and_workload_description() -> None:
    assert table([{"a": 1, "b": 2.5}]).splitlines()[0] == "| a | b   |"
    mask, values = make_batch(4, 64)
    out = loop_place(mask, values)
    assert out.shape == (4, 64)
    assert ((out != 0) <= (mask != 0)).all()
