"""``bench.http_profile`` (server-side pieces of issue 18's request) runs on a small request: the ASGI call
answers 200 and every piece is reported; its numbers mean nothing here."""

from __future__ import annotations

import sys

import pytest

from bench import http_profile
from tests.support.native import require_native


def test_http_profile_reports_every_piece(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    require_native()
    monkeypatch.setattr(sys, "argv", ["http_profile", "--rollouts", "32", "--repeats", "1"])
    http_profile.main()
    out = capsys.readouterr().out
    for piece in ("asgi (whole request)", "orjson.loads", "depth check", "engine.score", "observe_stats"):
        assert piece in out
    assert "http shell" in out and "us/rollout" in out
