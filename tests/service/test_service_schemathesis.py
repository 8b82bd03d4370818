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


def _warnings() -> str:
    """schemathesis' default warnings but ``missing_test_data``: the inspect endpoints
    (``/v1/inspect/samples``) answer 404 on a service without ``--inspect-sample`` (tests/ui covers them)."""
    from schemathesis.core.warnings import SchemathesisWarning

    try:  # the opt-in ones (low_valid_rate in 4.32)
        from schemathesis.config._warnings import OPT_IN_WARNINGS
    except ImportError:
        OPT_IN_WARNINGS = frozenset({SchemathesisWarning.LOW_VALID_RATE})
    left_out = {*OPT_IN_WARNINGS, SchemathesisWarning.MISSING_TEST_DATA}
    return ",".join(w.value for w in SchemathesisWarning if w not in left_out)


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
            "--warnings",
            _warnings(),
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
