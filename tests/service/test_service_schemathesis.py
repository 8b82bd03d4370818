"""Property-based fuzzing of every operation in /openapi.json (schemathesis): no 5xx, conforming answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.serve import ServeProcess

pytestmark = pytest.mark.timeout(240)

CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance"


def test_schemathesis_finds_no_server_errors(service: ServeProcess, tmp_path: Path) -> None:
    st = Path(sys.executable).with_name("schemathesis")
    cmd = [str(st)] if st.exists() else [sys.executable, "-m", "schemathesis.cli"]
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.run(
        [
            *cmd,
            "run",
            f"{service.url}/openapi.json",
            "--checks",
            CHECKS,
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "40",
            "--workers",
            "1",
            "--seed",
            "20260101",
            "--generation-database",
            "none",
            "--request-timeout",
            "30",
            "--no-color",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=220,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "No issues found" in out, out[-3000:]
    assert service.get("/healthz").status_code == 200
