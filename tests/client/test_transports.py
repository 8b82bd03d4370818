"""The transport interface: a user's own transport under the clients, an httpx transport under the HTTP one,
and one error mapping for every transport (HTTP, gRPC, in-process)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from turnscore_client import (
    AsyncTransport,
    AsyncTurnScoreClient,
    AuthenticationError,
    BadRequestError,
    ConnectionFailed,
    ErrorKind,
    Health,
    Operation,
    PayloadTooLargeError,
    RetryPolicy,
    ServerError,
    ServiceUnavailableError,
    Transport,
    TurnScoreClient,
    TurnScoreError,
    UnknownGoldRefError,
    ValidationError,
)
from turnscore_client.errors import error_for
from turnscore_client.transports import HttpTransport, LocalTransport

from tests.support.fake_service import gold_ref_of
from tests.support.workloads import make_group

FAST = RetryPolicy(max_attempts=3, backoff_base=0.0, deadline=30)


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """A score answer for ``body``: one rollout row per rollout, the gold's ref on every group."""
    rows = {"turn_rewards": [0.5], "outcome_reward": 1.0, "return": 1.5, "advantages": [0.1]}
    groups = []
    for g in body["groups"]:
        ref = g.get("gold_ref") or gold_ref_of(g["gold"])
        groups.append({"id": g["id"], "gold_ref": ref, "rollouts": [rows for _ in g["rollouts"]]})
    return {"preset": "matchtir-km", "config": {}, "groups": groups}


class ScriptedTransport(Transport):
    """A user's transport: answers in-process, fails on cue, remembers the golds it has seen."""

    endpoints = ("scripted://a", "scripted://b")

    def __init__(self, failures: list[TurnScoreError] | None = None) -> None:
        self.failures = list(failures or [])
        self.calls: list[tuple[Operation, Any, float | None]] = []
        self.known: set[str] = set()
        self.closed = False

    def call(self, operation: Operation, request: Any, timeout: float | None) -> Any:
        self.calls.append((operation, request, timeout))
        if self.failures:
            raise self.failures.pop(0)
        if operation is Operation.HEALTH:
            return {"status": "ok"}
        if operation is Operation.PRESETS:
            return {"presets": {"matchtir-km": {"assignment": "hungarian"}}}
        missing = [
            g["gold_ref"] for g in request["groups"] if "gold_ref" in g and g["gold_ref"] not in self.known
        ]
        if missing:
            body = {"error": {"code": "unknown_gold_ref", "message": "m", "details": {"missing": missing}}}
            raise error_for(ErrorKind.UNKNOWN_GOLD_REF, body, url="scripted://a")
        result = answer(request)
        self.known.update(g["gold_ref"] for g in result["groups"])
        return result

    def close(self) -> None:
        self.closed = True


class AsyncScriptedTransport(AsyncTransport):
    """The async twin: the same script, awaited."""

    def __init__(self, failures: list[TurnScoreError] | None = None) -> None:
        self.sync = ScriptedTransport(failures)
        self.endpoints = self.sync.endpoints

    async def call(self, operation: Operation, request: Any, timeout: float | None) -> Any:
        return self.sync.call(operation, request, timeout)


def overloaded() -> ServiceUnavailableError:
    err = error_for(ErrorKind.OVERLOADED, {"error": {"code": "overloaded", "message": "busy"}}, retry_after=0)
    assert isinstance(err, ServiceUnavailableError)
    return err


def test_a_users_transport_gets_chunking_retries_and_gold_refs() -> None:
    t = ScriptedTransport([overloaded()])
    with TurnScoreClient(transport=t, retry=FAST, max_groups_per_request=2, max_concurrency=1) as c:
        assert c.urls == ["scripted://a", "scripted://b"] and not c.local
        res = c.score([make_group(i) for i in range(5)], step=3)
        assert [g.id for g in res.groups] == [f"g{i}" for i in range(5)]
        assert [len(req["groups"]) for op, req, _ in t.calls] == [2, 2, 2, 1]  # the first one failed once
        assert all(op is Operation.SCORE and req["step"] == 3 for op, req, _ in t.calls)
        assert c.stats.retries == 1 and c.stats.requests == 3
        assert all(timeout is not None and 0 < timeout <= 30 for _, _, timeout in t.calls)

        t.known.clear()  # the transport forgot every gold: refs are answered unknown_gold_ref, then resent
        again = c.score([make_group(i) for i in range(2)])
        (_, by_ref, _), (_, in_full, _) = t.calls[-2:]
        assert all("gold_ref" in g for g in by_ref["groups"]) and all("gold" in g for g in in_full["groups"])
        assert c.stats.gold_resends == 1 and again.returns == res.returns[:2]

        assert c.presets() == {"matchtir-km": {"assignment": "hungarian"}}
        assert c.health() == Health(True, 200, {"status": "ok"})
    assert t.closed


def test_a_users_transport_errors_are_typed_and_not_retried() -> None:
    invalid = {"error": {"code": "invalid_config", "message": "bad", "details": {"path": "config.x"}}}
    t = ScriptedTransport([error_for(ErrorKind.INVALID, invalid)])
    with TurnScoreClient(transport=t, retry=FAST) as c, pytest.raises(ValidationError) as e:
        c.score([make_group(0)])
    assert (
        e.value.path == "config.x" and e.value.status == 422 and e.value.attempts == 1 and len(t.calls) == 1
    )
    t = ScriptedTransport([ConnectionFailed("down")] * 3)
    with TurnScoreClient(transport=t, retry=FAST) as c:
        with pytest.raises(ConnectionFailed) as f:
            c.score([make_group(0)])
        assert f.value.attempts == 3
        t.failures = [ConnectionFailed("down")]
        assert c.health() == Health(False, 0, "down")


async def test_an_async_users_transport() -> None:
    t = AsyncScriptedTransport([overloaded()])
    async with AsyncTurnScoreClient(transport=t, retry=FAST, max_groups_per_request=1) as c:
        res = await c.score([make_group(i) for i in range(3)])
        assert [g.id for g in res.groups] == ["g0", "g1", "g2"] and c.stats.retries == 1
        assert (await c.health()).ok


def test_transport_replaces_the_transport_settings() -> None:
    with pytest.raises(ValueError, match="transport="):
        TurnScoreClient("http://a:1", transport=ScriptedTransport())
    with pytest.raises(ValueError, match="transport="):
        TurnScoreClient(transport=ScriptedTransport(), gzip_min_bytes=0)


def test_an_httpx_transport_goes_under_the_http_transport() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answer(json.loads(request.content)))

    with TurnScoreClient("http://svc:1", transport=httpx.MockTransport(handler), api_key="k") as c:
        assert isinstance(c.transport, HttpTransport)
        assert c.score([make_group(0)]).groups[0].id == "g0"
    assert str(seen[0].url) == "http://svc:1/v1/score" and seen[0].headers["authorization"] == "Bearer k"


# ---- one error mapping for every transport ------------------------------------------------------------

#: (kind, HTTP status, gRPC status, API.md error code, details, class)
CASES = [
    (ErrorKind.MALFORMED, 400, "INVALID_ARGUMENT", "malformed_json", None, BadRequestError),
    (ErrorKind.UNAUTHENTICATED, 401, "UNAUTHENTICATED", "unauthorized", None, AuthenticationError),
    (ErrorKind.UNKNOWN_GOLD_REF, 409, "FAILED_PRECONDITION", "unknown_gold_ref", {"missing": ["r"]}, None),
    (ErrorKind.TOO_LARGE, 413, "RESOURCE_EXHAUSTED", "limit_exceeded", {"limit": "max_groups"}, None),
    (ErrorKind.INVALID, 422, "INVALID_ARGUMENT", "invalid_config", {"path": "config.x"}, ValidationError),
    (ErrorKind.OVERLOADED, 503, "RESOURCE_EXHAUSTED", "overloaded", None, ServiceUnavailableError),
    (ErrorKind.SERVER, 500, "INTERNAL", "internal", None, ServerError),
]
CLASSES = {ErrorKind.UNKNOWN_GOLD_REF: UnknownGoldRefError, ErrorKind.TOO_LARGE: PayloadTooLargeError}


def via_http(status: int, body: Any, headers: dict[str, str]) -> TurnScoreError:
    mock = httpx.MockTransport(lambda request: httpx.Response(status, json=body, headers=headers))
    t = HttpTransport("http://svc:1", transport=mock)
    with pytest.raises(TurnScoreError) as e:
        t.call(Operation.SCORE, t.prepare(Operation.SCORE, {"groups": []}), None)
    return e.value


def via_grpc(status: str, body: Any, metadata: dict[str, str]) -> TurnScoreError:
    grpc = pytest.importorskip("grpc")
    from turnscore_client.transports.grpc import error_from_rpc

    class Failed(grpc.RpcError):  # what a failed call raises: a status, its details, trailing metadata
        def code(self) -> Any:
            return grpc.StatusCode[status]

        def details(self) -> str:
            return body["error"]["message"] if body else "no details"

        def trailing_metadata(self) -> Any:
            trailers = [(k, v) for k, v in metadata.items()]
            return trailers + ([("turnscore-error-bin", json.dumps(body).encode())] if body else [])

    return error_from_rpc(Failed(), "svc:1")


def described(err: TurnScoreError) -> tuple[Any, ...]:
    return (
        type(err),
        err.kind,
        err.code,
        err.message,
        err.details,
        err.status,
        err.retryable,
        getattr(err, "retry_after", None),
    )


@pytest.mark.parametrize(("kind", "status", "grpc_status", "code", "details", "cls"), CASES)
def test_every_transport_maps_an_error_the_same_way(
    kind: ErrorKind, status: int, grpc_status: str, code: str, details: Any, cls: type | None
) -> None:
    body = {"error": {"code": code, "message": f"{code}: m", "details": details}}
    over_http = via_http(status, body, {"Retry-After": "1"})
    over_grpc = via_grpc(grpc_status, body, {"retry-after": "1"})
    expected = error_for(kind, body, retry_after=1.0)
    assert isinstance(expected, cls or CLASSES[kind]) and expected.kind is kind
    assert described(over_http) == described(over_grpc) == described(expected)
    assert over_http.url == "http://svc:1/v1/score" and over_grpc.url == "grpc://svc:1"


def test_no_answer_is_connection_failed_on_every_transport() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    t = HttpTransport("http://svc:1", transport=httpx.MockTransport(refuse))
    with pytest.raises(ConnectionFailed) as http_err:
        t.call(Operation.SCORE, t.prepare(Operation.SCORE, {}), None)
    grpc_err = via_grpc("UNAVAILABLE", None, {})
    assert isinstance(grpc_err, ConnectionFailed)
    for err in (http_err.value, grpc_err):
        assert err.retryable and err.kind is None and err.status is None and err.code == "connection_failed"


def test_local_errors_map_like_the_services() -> None:
    local = LocalTransport()
    assert TurnScoreClient(transport=local).local
    gold = {"calls": [{"name": "f", "arguments": {}}]}
    requests: list[tuple[dict[str, Any], ErrorKind]] = [
        ({"preset": "nope", "groups": []}, ErrorKind.INVALID),
        (
            {"groups": [{"id": 1, "gold_ref": "sha256:" + "0" * 64, "rollouts": []}]},
            ErrorKind.UNKNOWN_GOLD_REF,
        ),
        ({"groups": [{"id": 1, "references": [gold] * 65, "rollouts": []}]}, ErrorKind.TOO_LARGE),
    ]
    for body, kind in requests:
        with pytest.raises(TurnScoreError) as e:
            local.call(Operation.SCORE, local.prepare(Operation.SCORE, body), None)
        expected = error_for(kind, e.value.body)
        assert described(e.value) == described(expected) and e.value.url == "local:score"
    with pytest.raises(TurnScoreError) as refused:
        local.prepare(Operation.OPENRLHF, {})
    assert refused.value.code == "not_available"
