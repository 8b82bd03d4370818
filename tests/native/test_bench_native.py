"""Smoke test of ``python -m bench.run native`` (bench/native.py): both cores side by side, in-process and
over HTTP, write their rows; no timing assertions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.native import require_native

ROOT = Path(__file__).resolve().parents[2]


def test_native_bench_quick_writes_both_cores(tmp_path: Path) -> None:
    require_native()
    cmd = [sys.executable, "-m", "bench.run", "native", "--quick", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    inproc = json.loads((tmp_path / "native.json").read_text())["rows"]
    assert inproc and all(r["python_per_core"] > 0 and r["native_per_core"] > 0 for r in inproc)
    http = json.loads((tmp_path / "native_http.json").read_text())
    assert [r["core"] for r in http["rows"]] == ["python", "native"]
    assert set(http["targets"]) == {"per_core", "http_vs_orjson", "http_vs_public_reference_derived"}
