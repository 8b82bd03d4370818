"""``turnscore serve --core python|native|auto`` (and ``TURNSCORE_CORE``): real ``turnscore serve`` processes
say in ``/readyz`` which core runs; ``native`` without the extension refuses to start, ``auto`` without it
warns once and runs on Python. "Without the extension" is a real process whose ``import turnscore_native``
fails (tests/support/native.py ``hiding_path``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from turnscore.http.examples import SCORE

from tests.support.native import hiding_path, require_native
from tests.support.serve import CLI, ServeProcess, clean_env, free_port

WARNING = "turnscore_native is not installed"


def hidden_env(tmp_path: Path) -> dict[str, str]:
    """A ``PYTHONPATH`` on which the extension does not import (this process's path after it)."""
    front = hiding_path(tmp_path)
    rest = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": front + (os.pathsep + rest if rest else "")}


def score_ok(svc: ServeProcess) -> dict[str, object]:
    r = svc.post("/v1/score", json=SCORE)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_python_core_in_every_worker_from_the_env(tmp_path: Path) -> None:
    svc = ServeProcess(tmp_path / "py.log", "--workers", "2", env={"TURNSCORE_CORE": "python"})
    svc.start(timeout=90)
    try:
        cores = {svc.readyz()["core"] for _ in range(12)}
        assert cores == {"python"}
        score_ok(svc)
    finally:
        assert svc.stop() == 0
    assert WARNING not in svc.logs()


def test_native_core_reported_and_scores_as_python(tmp_path: Path) -> None:
    require_native()
    native = ServeProcess(tmp_path / "native.log", "--core", "native").start()
    python = ServeProcess(tmp_path / "python.log", "--core", "python").start()
    try:
        assert native.readyz()["core"] == "native"
        assert python.readyz()["core"] == "python"
        assert score_ok(native) == score_ok(python)
    finally:
        native.stop()
        python.stop()


def test_auto_uses_native_when_installed(tmp_path: Path) -> None:
    require_native()
    svc = ServeProcess(tmp_path / "auto.log").start()
    try:
        assert svc.readyz()["core"] == "native"
    finally:
        svc.stop()
    assert WARNING not in svc.logs()


def test_auto_without_extension_warns_once_and_runs_python(tmp_path: Path) -> None:
    svc = ServeProcess(tmp_path / "auto.log", env=hidden_env(tmp_path)).start()
    try:
        assert svc.readyz()["core"] == "python"
        score_ok(svc)
    finally:
        svc.stop()
    lines = [line for line in svc.logs().splitlines() if WARNING in line]
    assert len(lines) == 1, svc.logs()
    assert "hidden by the test" in lines[0]  # the import error is in the line


def test_native_without_extension_refuses_to_start(tmp_path: Path) -> None:
    env = {**clean_env(), **hidden_env(tmp_path)}
    cmd = [sys.executable, "-c", CLI, "serve", "--port", str(free_port()), "--core", "native"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--core native" in done.stderr and "not installed" in done.stderr
    assert "hidden by the test" in done.stderr


def test_unknown_core_is_a_settings_error() -> None:
    cmd = [sys.executable, "-c", CLI, "serve", "--port", str(free_port()), "--core", "fast"]
    done = subprocess.run(cmd, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "core" in done.stderr


def test_offline_score_core_flag(tmp_path: Path) -> None:
    import orjson

    src = tmp_path / "in.jsonl"
    src.write_bytes(orjson.dumps(SCORE) + b"\n")
    env = {**clean_env(), **hidden_env(tmp_path)}
    base = [sys.executable, "-c", CLI, "score", str(src)]
    refused = subprocess.run(
        [*base, "-o", str(tmp_path / "n.jsonl"), "--core", "native"], env=env, capture_output=True, text=True
    )
    assert refused.returncode == 2 and "--core native" in refused.stderr
    ok = subprocess.run(
        [*base, "-o", str(tmp_path / "p.jsonl"), "--no-progress"],
        env={**env, "TURNSCORE_CORE": "python"},
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    assert orjson.loads((tmp_path / "p.jsonl").read_bytes())["response"]["groups"]
