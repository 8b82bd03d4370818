"""``POST /v1/score`` decodes and scores in one call to the scoring pool (``Runtime.score_json``) unless a
group sends only a ``gold_ref``: the same bodies as decoding then ``Runtime.score`` (inline golds, cached
refs, unknown refs, errors of decoding and of scoring), and stage ``decode`` is observed once per request
whose body decoded, also when scoring then fails, never when decoding failed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from turnscore import metrics
from turnscore.core import engine
from turnscore.http.app import create_app
from turnscore.runtime import Runtime
from turnscore.runtime.decode import decode_json
from turnscore.settings import Settings

from tests.support.workloads import weather_gold, weather_rollouts


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = Settings(max_json_depth=16)
    app = create_app(settings, Runtime(settings))
    with TestClient(app) as c:
        yield c


def _decodes() -> float:
    return (
        metrics.REGISTRY.get_sample_value("turnscore_stage_duration_seconds_count", {"stage": "decode"}) or 0
    )


def _direct(client: TestClient, body: bytes) -> Any:
    """What decoding then ``Runtime.score`` answer (the two-step path), as the app's error handler would."""
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]

    async def run() -> bytes:
        return (await runtime.score(decode_json(body, runtime.settings.max_json_depth)))[1]

    return orjson.loads(asyncio.run(run()))


def test_inline_gold_and_cached_ref_answer_as_the_two_step_path(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = {"explain": True, "groups": [{"gold": weather_gold("Lima"), "rollouts": weather_rollouts("Lima")}]}
    body = orjson.dumps(doc)
    before = _decodes()
    r = client.post("/v1/score", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json() == _direct(client, body)
    assert _decodes() == before + 1
    ref = r.json()["groups"][0]["gold_ref"]
    by_ref = orjson.dumps(
        {"explain": True, "groups": [{"gold_ref": ref, "rollouts": weather_rollouts("Lima")}]}
    )
    reads: list[int] = []
    real = engine.gold_refs_in
    monkeypatch.setattr(engine, "gold_refs_in", lambda *a, **k: reads.append(1) or real(*a, **k))
    again = client.post("/v1/score", content=by_ref)
    monkeypatch.undo()
    assert again.status_code == 200, again.text
    assert len(reads) == 1  # the refs are read once (in the pool thread), not again on the loop
    assert again.json() == _direct(client, by_ref)
    assert again.json()["groups"][0]["rollouts"] == r.json()["groups"][0]["rollouts"]
    assert _decodes() == before + 2


@pytest.mark.parametrize(
    ("body", "status", "code", "decoded"),
    [
        (b'{"groups": [}', 400, "malformed_json", False),
        (b"[" * 17 + b"]" * 17, 413, "limit_exceeded", False),
        (b"[1, 2]", 422, "invalid_request", False),
        (b'{"groups": "x"}', 422, "invalid_request", True),
        (
            orjson.dumps({"groups": [{"gold": weather_gold(), "rollouts": [{"turns": 3}]}]}),
            422,
            "invalid_request",
            True,
        ),
        (
            orjson.dumps({"groups": [{"gold_ref": "sha256:" + "0" * 64, "rollouts": []}]}),
            409,
            "unknown_gold_ref",
            True,
        ),
        (orjson.dumps({"groups": [], "preset": "no-such-preset"}), 422, "unknown_preset", True),
    ],
)
def test_errors(client: TestClient, body: bytes, status: int, code: str, decoded: bool) -> None:
    before = _decodes()
    r = client.post("/v1/score", content=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert _decodes() == before + decoded
