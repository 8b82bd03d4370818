"""Settings (TURNSCORE_* env vars) and the `turnscore serve` flags generated from them."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from turnscore.cli import app
from turnscore.core import engine
from turnscore.settings import Settings
from typer.testing import CliRunner

from tests.support.serve import CLI, ServeProcess, clean_env
from tests.support.workloads import score_request


def test_env_vars_and_derived_values(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("# ops\nfile-key\n\nk1\n")
    monkeypatch.setenv("TURNSCORE_MAX_INFLIGHT", "7")
    monkeypatch.setenv("TURNSCORE_REDIS_URL", "")
    monkeypatch.setenv("TURNSCORE_API_KEYS", "k1, k2,")
    monkeypatch.setenv("TURNSCORE_API_KEY_FILE", str(keys))
    monkeypatch.setenv("TURNSCORE_MAX_ROLLOUTS_PER_GROUP", "16")
    monkeypatch.setenv("TURNSCORE_ACCESS_LOG", "false")
    s = Settings()
    assert s.max_inflight == 7 and s.redis_url is None and s.access_log is False
    assert s.api_key_list() == ["k1", "k2", "file-key"]
    limits = s.core_limits()
    assert isinstance(limits, engine.Limits)
    assert limits.max_rollouts_per_group == 16 and limits.max_groups == engine.Limits().max_groups
    assert "k1" not in str(s.redacted()) and "file-key" not in str(s.redacted())
    # init arguments (the CLI flags) win over env vars
    assert Settings(max_inflight=3).max_inflight == 3


def test_invalid_settings_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError):
        Settings(max_inflight=0)
    with pytest.raises(ValueError):
        Settings(api_key_file=Path("/nonexistent/keys"))
    monkeypatch.setenv("TURNSCORE_PORT", "not-a-port")
    with pytest.raises(ValueError):
        Settings()


def test_serve_has_a_flag_per_setting() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in Settings.model_fields:
        assert "--" + name.replace("_", "-") in result.output, name
        assert f"TURNSCORE_{name.upper()}" in result.output, name
    bad = runner.invoke(app, ["serve", "--max-inflight", "0"])
    assert bad.exit_code == 2 and "max_inflight" in bad.output


def test_empty_env_vars_mean_unset(monkeypatch):
    """An image default can be switched off with ``-e TURNSCORE_GRPC_PORT=`` (empty means unset)."""
    from turnscore.settings import Settings

    for name in ("GRPC_PORT", "GRPC_HOST", "GRPC_MAX_MESSAGE_BYTES", "REDIS_URL", "API_KEY_FILE"):
        monkeypatch.setenv(f"TURNSCORE_{name}", "")
    s = Settings()
    assert (s.grpc_port, s.grpc_host, s.grpc_max_message_bytes, s.redis_url, s.api_key_file) == (None,) * 5


#: ``turnscore`` as without the gRPC extra: ``import grpc`` fails (what an environment without grpcio sees)
CLI_WITHOUT_GRPC = "import sys; sys.modules['grpc'] = None; " + CLI.removeprefix("import sys; ")


@pytest.mark.parametrize("args", [["--grpc-port", "0"], ["--grpc-port", "0", "--no-http"]])
def test_grpc_port_without_grpcio_fails_at_start(args: list[str]) -> None:
    """The gRPC extra missing: exit 2 and one line saying what to install, before anything listens."""
    env = {**clean_env(), "PYTHONUNBUFFERED": "1"}
    out = subprocess.run(
        [sys.executable, "-c", CLI_WITHOUT_GRPC, "serve", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, out.stderr
    assert len(lines) == 1 and "pip install 'turnscore[grpc]'" in lines[0] and "--grpc-port" in lines[0], (
        lines
    )
    assert out.stdout == ""


def test_http_serves_without_grpcio(tmp_path: Path) -> None:
    svc = ServeProcess(tmp_path / "no-grpc.log", command=[sys.executable, "-c", CLI_WITHOUT_GRPC]).start()
    try:
        r = svc.post("/v1/score", json=score_request())
        assert r.status_code == 200, r.text
    finally:
        assert svc.stop() == 0, svc.logs()[-3000:]


def test_docs_list_every_setting_with_its_default() -> None:
    """docs/SERVICE.md's settings table has a row per setting (gRPC ones: docs/grpc.md) with the default of
    ``Settings``: the request limits there are the core's (``engine.Limits``), written once in the code."""
    docs = Path(__file__).resolve().parents[2] / "docs"
    rows = {}
    for line in (docs / "SERVICE.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[1].startswith("`TURNSCORE_"):
            rows[cells[1].strip("`").removeprefix("TURNSCORE_").lower()] = cells[2]
    grpc_md = (docs / "grpc.md").read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        if name.startswith("grpc_") or name == "http":
            assert f"TURNSCORE_{name.upper()}" in grpc_md, name
            continue
        assert name in rows, name
        cell, default = rows[name], field.default
        if default is None:
            assert cell == "unset", (name, cell)
            continue
        token = cell.split("`")[1]
        if isinstance(default, bool):
            assert token == str(default).lower(), (name, cell)
        elif isinstance(default, int | float):
            assert float(token) == default, (name, cell)
        else:
            assert token == (str(default) or '""'), (name, cell)
    core = {f.name: Settings.model_fields[f.name].default for f in dataclasses.fields(engine.Limits)}
    assert engine.Limits(**core) == engine.Limits()
