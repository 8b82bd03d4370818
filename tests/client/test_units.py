"""Unit tests of the client's pure parts: retry policy, error mapping, gold conversion, typed results."""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from typing import Any

import pytest
from turnscore_client import (
    AsyncTurnScoreClient,
    ClientUsageError,
    RateLimitedError,
    RetryPolicy,
    ScoreResponse,
    ServerError,
    ServiceUnavailableError,
    TurnScoreClient,
    UnknownGoldRefError,
    ValidationError,
    gold_from_record,
)
from turnscore_client._chunks import GoldMemory, ScoreChunk, merge
from turnscore_client._json import dumps
from turnscore_client._retry import Attempts, parse_retry_after
from turnscore_client.errors import error_from_response
from turnscore_client.gold import group_fields
from turnscore_client.transports.http import parse_urls

from tests.support.gold import gold_records


def test_backoff_is_bounded_jittered_and_honours_retry_after() -> None:
    p = RetryPolicy(backoff_base=0.5, backoff_max=4.0, retry_after_max=30)
    rng = random.Random(1)
    for attempt in range(1, 10):
        cap = min(4.0, 0.5 * 2 ** (attempt - 1))
        waits = [p.backoff(attempt, rng=rng) for _ in range(200)]
        assert all(0 <= w <= cap for w in waits)
        assert max(waits) > cap / 2  # jitter spreads over the whole range
    assert p.backoff(1, retry_after=7.0, rng=rng) == 7.0
    assert p.backoff(1, retry_after=100.0, rng=rng) == 30.0
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


def test_attempts_stop_at_count_and_deadline() -> None:
    a = Attempts(RetryPolicy(max_attempts=3, backoff_base=0.0, deadline=None))
    a.count = 2
    assert a.next_wait(None) == 0.0
    a.count = 3
    assert a.next_wait(None) is None
    b = Attempts(RetryPolicy(max_attempts=100, deadline=5.0))
    b.count = 1
    assert b.next_wait(retry_after=10.0) is None  # waiting would end past the deadline


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    future = email.utils.formatdate(time.time() + 20, usegmt=True)
    assert 15 <= (parse_retry_after(future) or 0) <= 21


def test_error_mapping() -> None:
    e = error_from_response(
        422, {"error": {"code": "invalid_request", "message": "m", "details": {"path": "p"}}}
    )
    assert (
        isinstance(e, ValidationError) and e.code == "invalid_request" and e.path == "p" and e.status == 422
    )
    e409 = error_from_response(
        409, {"error": {"code": "unknown_gold_ref", "message": "x", "details": {"missing": ["a"]}}}
    )
    assert isinstance(e409, UnknownGoldRefError) and e409.missing == ["a"]
    e429 = error_from_response(429, {"error": {"code": "rate_limited", "message": "x"}}, retry_after=2.0)
    assert isinstance(e429, RateLimitedError) and e429.retry_after == 2.0
    assert isinstance(error_from_response(504, "gateway timeout"), ServiceUnavailableError)
    e500 = error_from_response(500, "<html>oops</html>")
    assert isinstance(e500, ServerError) and e500.message == "<html>oops</html>" and "500" in str(e500)
    assert error_from_response(404, {"detail": "Not Found"}).message == "Not Found"


def test_parse_urls() -> None:
    assert parse_urls("http://a:1/, http://b:2") == ["http://a:1", "http://b:2"]
    assert parse_urls(["https://x"]) == ["https://x"]
    with pytest.raises(ValueError):
        parse_urls("a:8000")
    with pytest.raises(ValueError):
        parse_urls(" , ")


@pytest.mark.parametrize("fast", [True, False])
def test_dumps_handles_numpy_and_refuses_nan(fast: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np
    from turnscore_client import _json

    if not fast:
        monkeypatch.setattr(_json, "_orjson", None)  # loads() without the ``fast`` extra
    else:
        assert _json._orjson is not None  # the main environment has orjson (the service needs it)
    assert json.loads(dumps({"a": np.float32(0.5), "b": np.arange(3), "c": (1, 2)})) == {
        "a": 0.5,
        "b": [0, 1, 2],
        "c": [1, 2],
    }
    for bad in (float("nan"), float("inf"), np.array([1.0, np.nan]), [np.float64("nan")]):
        with pytest.raises(ValueError):
            dumps({"x": bad})
    odd = {
        "none": None,
        "set": {3},
        "big": 2**70,
        "keys": {1: "a", 2.5: "b"},
        "strided": np.arange(6.0)[::2],
        "text": "é ☃ \u2028",
        "f": 1e-05,
    }
    assert json.loads(dumps(odd)) == json.loads(json.dumps(odd, default=_json._default))
    with pytest.raises(TypeError):
        dumps({"x": object()})
    assert _json.loads(dumps(odd)) == json.loads(dumps(odd))


def test_score_chunk_substitutes_refs_and_restores() -> None:
    mem = GoldMemory(10)
    g = {"id": "a", "gold": {"calls": []}, "rollouts": []}
    c1 = ScoreChunk([g], mem)
    assert c1.wire_groups() == [g]
    c1.learn({"groups": [{"id": "a", "gold_ref": "sha256:1"}]})
    c2 = ScoreChunk([dict(g)], mem)
    assert c2.wire_groups() == [{"id": "a", "rollouts": [], "gold_ref": "sha256:1"}]
    assert c2.restore(["sha256:other"]) is False and c2.refs_sent == 1
    assert c2.restore(["sha256:1"]) is True and c2.wire_groups() == [g] and len(mem) == 0


def test_typed_results_from_api_shape() -> None:
    body: dict[str, Any] = {
        "preset": "matchtir-km",
        "config": {"gamma": 0.9},
        "groups": [
            {
                "id": "p",
                "gold_ref": "sha256:9f",
                "rollouts": [
                    {
                        "turn_rewards": [0.75, 0.0],
                        "outcome_reward": 0.4,
                        "return": 1.15,
                        "trajectory_advantage": 0.71,
                        "turn_advantages": [0.52, -0.3],
                        "advantages": [1.23, 0.41],
                        "num_turns": 2,
                        "num_calls": 1,
                        "malformed_calls": 0,
                        "reference": 0,
                        "matches": [{"turn": 0, "call": 0, "gold": 0, "similarity": 0.75, "reward": 0.75}],
                    }
                ],
            }
        ],
    }
    res = ScoreResponse.from_dict(body)
    r = res.groups[0].rollouts[0]
    assert (
        r.return_ == 1.15 and r.advantages == [1.23, 0.41] and r.matches and r.matches[0].similarity == 0.75
    )
    assert res.returns == [[1.15]] and res.rollouts == [r] and r.raw["return"] == 1.15


def test_chunk_warnings_merge_into_one_per_code() -> None:
    """Chunks are scored apart: their warnings merge by code, paths renumbered to the merged groups."""

    def chunk(groups: int, *warnings: tuple[str, str, int]) -> dict[str, Any]:
        return {
            "preset": "matchtir-km",
            "config": {},
            "groups": [{"id": str(i), "rollouts": []} for i in range(groups)],
            "warnings": [{"code": c, "path": p, "count": n, "message": c.upper()} for c, p, n in warnings],
        }

    merged = merge(
        [
            chunk(2, ("answer_missing", "groups[1].rollouts[0]", 3)),
            chunk(3),
            chunk(
                2, ("malformed_calls", "groups[1].rollouts[4].text", 2), ("answer_missing", "groups[0]", 1)
            ),
        ]
    )
    res = ScoreResponse.from_dict(merged)
    assert [(w.code, w.path, w.count, w.message) for w in res.warnings] == [
        ("answer_missing", "groups[1].rollouts[0]", 4, "ANSWER_MISSING"),
        ("malformed_calls", "groups[6].rollouts[4].text", 2, "MALFORMED_CALLS"),
    ]
    assert len(res.groups) == 7


def test_gold_from_record_is_read_by_the_core_as_the_records_gold() -> None:
    """On every real trace: what gold_from_record gives has the gold_ref of the record's own gold with its
    accepted_values (the core reads records; the helper does not rewrite them)."""
    from turnscore.core.gold import compile_gold

    recs = gold_records(10_000, min_calls=1)
    assert any(r.get("accepted_values") for r in recs)
    for rec in recs:
        ours = compile_gold(gold_from_record(rec))
        theirs = compile_gold({**rec["gold"], "accepted_values": rec.get("accepted_values")})
        assert ours.ref == theirs.ref, rec["id"]
        assert gold_from_record(json.dumps(rec)) == rec
    for bad in (3, "[1, 2]", "not json", None):
        with pytest.raises(ClientUsageError) as info:
            gold_from_record(bad)  # type: ignore[arg-type]
        assert isinstance(info.value, ValidationError) and info.value.path == "gold"


def test_group_fields_accepts_label_shapes() -> None:
    gold = {"calls": [{"name": "f", "arguments": {}}], "answer": None, "accepted_values": None}
    assert group_fields(json.dumps(gold)) == {"gold": gold}
    assert group_fields(json.dumps(gold).encode()) == {"gold": gold}
    assert group_fields({"gold_ref": "sha256:x"}) == {"gold_ref": "sha256:x"}
    assert group_fields({"references": [gold, gold]}) == {"references": [gold, gold]}
    assert group_fields([gold, json.dumps(gold)]) == {"references": [gold, gold]}
    record = gold_records(1)[0]
    assert group_fields(record) == {"gold": record}  # records go to the service as they are
    with pytest.raises(ClientUsageError, match="label"):
        group_fields(3)


@pytest.mark.parametrize(
    ("call", "path"),
    [
        (lambda c: c.score({"gold": {"answer": "a"}, "rollouts": []}), "groups"),
        (lambda c: c.score("groups"), "groups"),
        (lambda c: c.score([{"gold": {"answer": "a"}, "rollouts": []}, 3]), "groups[1]"),
        (lambda c: c.score([], config='["gamma", 0.5]'), "config"),
        (lambda c: c.score([], config="{gamma: 0.5}"), "config"),
        (lambda c: c.score([], config=0.5), "config"),
        (lambda c: c.score([], preset=3), "preset"),
        (lambda c: c.score([], step="7"), "step"),
        (lambda c: c.score([], step=-1), "step"),
        (lambda c: c.score([], explain="yes"), "explain"),
        (lambda c: c.advantages({"rollouts": []}), "groups"),
    ],
)
def test_wrong_argument_types_are_typed_errors_before_sending(fake: Any, call: Any, path: str) -> None:
    with TurnScoreClient(fake.url) as client, pytest.raises(ClientUsageError) as info:
        call(client)
    err = info.value
    assert isinstance(err, ValidationError) and err.path == path and err.status is None
    assert err.message.startswith(f"{path} must be") and err.code == "invalid_argument"
    assert fake.posts() == [] and fake.posts("/v1/advantages") == []


def test_config_as_a_json_string_of_an_object_is_sent_as_the_object(fake: Any) -> None:
    with TurnScoreClient(fake.url) as client:
        client.score([{"gold": {"answer": "a"}, "rollouts": [{"text": "x"}]}], config='{"gamma": 0.5}')
    assert fake.posts()[0].body["config"] == {"gamma": 0.5}


def test_verl_client_cache_one_client_per_settings_and_event_loop() -> None:
    from turnscore_client.verl._clients import ClientCache
    from turnscore_client.verl.settings import Settings

    def http(url: str) -> Settings:
        return Settings.from_dict({"url": url, "backend": "http"})

    sync = ClientCache(TurnScoreClient, prefer_local=True)
    a = sync.get(http("http://h1:1"))
    assert type(a) is TurnScoreClient and a.urls == ["http://h1:1"] and not a.local
    assert sync.get(http("http://h1:1")) is a and sync.get(http("http://h2:1")) is not a

    per_loop = ClientCache(AsyncTurnScoreClient, prefer_local=False, per_loop=True)

    async def get() -> AsyncTurnScoreClient:
        return per_loop.get(http("http://h1:1"))

    loops = [asyncio.new_event_loop() for _ in range(2)]
    try:
        first, again, other = (loop.run_until_complete(get()) for loop in (loops[0], loops[0], loops[1]))
    finally:
        for loop in loops:
            loop.close()
    assert type(first) is AsyncTurnScoreClient and again is first and other is not first
    with pytest.raises(RuntimeError):  # async clients only inside a running loop
        per_loop.get(http("http://h1:1"))
