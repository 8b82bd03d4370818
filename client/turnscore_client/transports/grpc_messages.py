"""gRPC clients with the surface of the HTTP ones: ``GrpcTurnScoreClient`` and ``AsyncGrpcTurnScoreClient``.

Needs the ``grpc`` extra (``pip install 'turnscore-client[grpc]'``: grpcio and protobuf); the generated
``turnscore.v1`` code ships in ``turnscore_client._gen``, so the service package is not needed.

They subclass :class:`~turnscore_client.TurnScoreClient` / :class:`~turnscore_client.AsyncTurnScoreClient` and
replace only the transport: the same ``score()``, ``advantages()``, ``presets()``, ``health()``, chunking,
concurrency, retries (UNAVAILABLE, DEADLINE_EXCEEDED per attempt, and RESOURCE_EXHAUSTED "overloaded" are
retried like connection errors and 503), gold_ref protocol (a FAILED_PRECONDITION ``unknown_gold_ref`` is
resent with the full traces) and local fallback; the same typed results; the same typed errors (a gRPC status
becomes the exception of the equivalent HTTP status, with the server's ``code``, ``message`` and ``details``).

``target``: ``"host:port"``, several (list or comma-separated; round-robin, failover on retry) or ``None``
for ``$TURNSCORE_GRPC_TARGET`` (default ``127.0.0.1:50051``). ``credentials=grpc.ssl_channel_credentials()``
for TLS. ``/v1/openrlhf`` has no RPC (it is an HTTP compatibility shape).

A request the typed messages cannot express (e.g. a rollout with both ``text`` and ``turns``) raises
:class:`ValidationError` before anything is sent, with the message and ``details.path`` the service
would give.
"""

from __future__ import annotations

import json
import numbers
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import httpx

try:
    import grpc
    import grpc.aio
except ImportError as _e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "turnscore_client.grpc needs grpcio and protobuf: pip install 'turnscore-client[grpc]'"
    ) from _e

from ._base import UrlRing, dumps
from ._client import (
    AsyncTurnScoreClient,
    TurnScoreClient,
    _Common,
    _env_kwargs,
    _openrlhf_unavailable,
    _Outcome,
)
from ._gen import turnscore_pb2 as pb
from ._gen import turnscore_pb2_grpc as pb_grpc
from ._retry import RETRY_STATUSES, Attempts, parse_retry_after
from .errors import ConnectionFailed, TurnScoreError, ValidationError, error_from_response
from .types import Health

__all__ = [
    "AsyncGrpcTurnScoreClient",
    "GrpcTurnScoreClient",
    "advantages_request",
    "error_from_rpc",
    "response_dict",
    "score_request",
]

DEFAULT_TARGET = "127.0.0.1:50051"
SERVICE_NAME = "turnscore.v1.RewardService"
ERROR_KEY = "turnscore-error-bin"
_PLACEHOLDER_URL = "http://grpc.invalid"  # _Common wants an HTTP URL; the gRPC transport never uses it
_FORMS = ("text", "messages", "turns")
_GOLD_KEYS = ("gold", "references", "gold_ref", "gold_refs")
_INT64 = (-(2**63), 2**63 - 1)
_CHANNEL_OPTIONS = (
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
    ("grpc.primary_user_agent", "turnscore-client"),
)


def parse_targets(target: str | Sequence[str] | None) -> list[str]:
    if target is None:
        target = os.environ.get("TURNSCORE_GRPC_TARGET") or DEFAULT_TARGET
    parts = target.split(",") if isinstance(target, str) else list(target)
    out = []
    for p in parts:
        p = p.strip().removeprefix("grpc://").rstrip("/")  # other schemes (dns:///, unix:) pass through
        if p:
            out.append(p)
    if not out:
        raise ValueError("at least one gRPC target (host:port) is required")
    return out


# ---- API.md dict -> turnscore.v1 request ----------------------------------------------------------------


def _fail(path: str, message: str) -> ValidationError:
    return ValidationError(
        f"{path}: {message}" if path else message, code="invalid_request", details={"path": path}
    )


def _set_id(msg: Any, gid: Any) -> None:
    if isinstance(gid, str):
        msg.id = gid
    elif gid is not None:
        msg.id_json = dumps(gid)


def _common(msg: Any, body: Mapping[str, Any]) -> None:
    preset = body.get("preset")
    if preset is not None:
        if not isinstance(preset, str):
            raise _fail("preset", "expected a string")
        msg.preset = preset
    if body.get("config") is not None:
        msg.config_json = dumps(body["config"])
    step = body.get("step")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, numbers.Integral):
            raise _fail("step", "expected an integer >= 0")
        if not _INT64[0] <= int(step) <= _INT64[1]:
            raise _fail("step", "expected an integer >= 0 (64-bit)")
        msg.step = int(step)


def _rollouts(g: Mapping[str, Any], path: str) -> list[Any]:
    rollouts = g.get("rollouts")
    if not isinstance(rollouts, list | tuple):
        raise _fail(f"{path}.rollouts", "expected a list of rollouts")
    return list(rollouts)


def _groups(req: Any, body: Mapping[str, Any]) -> Iterator[tuple[Any, Mapping[str, Any], str]]:
    """Each group of ``body`` (checked) with its new message in ``req`` (id set) and its JSON path."""
    groups = body.get("groups")
    if not isinstance(groups, list | tuple):
        raise _fail("groups", "expected a list of groups")
    for gi, g in enumerate(groups):
        path = f"groups[{gi}]"
        if not isinstance(g, Mapping):
            raise _fail(path, "expected a group object")
        group = req.groups.add()
        _set_id(group, g.get("id"))
        yield group, g, path


def score_request(body: Mapping[str, Any]) -> pb.ScoreRequest:
    """A ``POST /v1/score`` body as a ``ScoreRequest``."""
    req = pb.ScoreRequest()
    _common(req, body)
    explain = body.get("explain")
    if explain is not None:
        if not isinstance(explain, bool):
            raise _fail("explain", "expected true or false")
        req.explain = explain
    for group, g, path in _groups(req, body):
        given = [k for k in _GOLD_KEYS if g.get(k) is not None]
        if len(given) > 1:
            raise _fail(path, f"expected exactly one of gold, references, gold_ref (got {', '.join(given)})")
        if g.get("gold") is not None:
            group.gold_json = dumps(g["gold"])
        elif g.get("references") is not None:
            group.references_json = dumps(g["references"])
        elif g.get("gold_ref") is not None:
            if not isinstance(g["gold_ref"], str):
                raise _fail(f"{path}.gold_ref", "expected a gold_ref string")
            group.gold_ref = g["gold_ref"]
        elif g.get("gold_refs") is not None:
            refs = g["gold_refs"]
            if not isinstance(refs, list | tuple) or not all(isinstance(r, str) for r in refs):
                raise _fail(f"{path}.gold_refs", "expected a list of gold_ref strings")
            group.gold_refs.refs.extend(refs)
        for ri, r in enumerate(_rollouts(g, path)):
            rp = f"{path}.rollouts[{ri}]"
            if not isinstance(r, Mapping):
                raise _fail(rp, "expected a rollout object with one of text, messages, turns")
            forms = [f for f in _FORMS if r.get(f) is not None]
            if len(forms) > 1:
                raise _fail(rp, f"expected exactly one of text, messages, turns (got {', '.join(forms)})")
            ro = group.rollouts.add()
            if r.get("text") is not None:
                if not isinstance(r["text"], str):
                    raise _fail(f"{rp}.text", "expected a string")
                ro.text = r["text"]
            elif r.get("messages") is not None:
                ro.messages_json = dumps(r["messages"])
            elif r.get("turns") is not None:
                ro.turns_json = dumps(r["turns"])
    return req


def _number(x: Any, path: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise _fail(path, "expected a number")
    return float(x)


def advantages_request(body: Mapping[str, Any]) -> pb.AdvantagesRequest:
    """A ``POST /v1/advantages`` body as an ``AdvantagesRequest``."""
    req = pb.AdvantagesRequest()
    _common(req, body)
    for group, g, path in _groups(req, body):
        for ri, r in enumerate(_rollouts(g, path)):
            rp = f"{path}.rollouts[{ri}]"
            if not isinstance(r, Mapping):
                raise _fail(rp, "expected an object {turn_rewards, outcome_reward}")
            trs: Any = r.get("turn_rewards")
            if hasattr(trs, "tolist"):  # numpy arrays, tensors
                trs = trs.tolist()
            if not isinstance(trs, list | tuple):
                raise _fail(f"{rp}.turn_rewards", "expected a list of numbers")
            ro = group.rollouts.add()
            ro.turn_rewards.extend(_number(x, f"{rp}.turn_rewards[{t}]") for t, x in enumerate(trs))
            for key in ("outcome_reward", "trajectory_reward"):
                if r.get(key) is not None:
                    setattr(ro, key, _number(r[key], f"{rp}.{key}"))
    return req


# ---- turnscore.v1 response -> API.md dict ---------------------------------------------------------------


def _id(msg: Any) -> Any:
    which = msg.WhichOneof("id_value")
    if which == "id":
        return msg.id
    if which == "id_json":
        return json.loads(msg.id_json)
    return None


def _match(m: Any) -> dict[str, Any]:
    return {
        "turn": m.turn,
        "call": m.call,
        "name": m.name,
        "gold": m.gold if m.HasField("gold") else None,
        "similarity": m.similarity,
        "reward": m.reward,
    }


def _rollout(r: Any, explain: bool) -> dict[str, Any]:
    row: dict[str, Any] = {
        "turn_rewards": list(r.turn_rewards),
        "outcome_reward": r.outcome_reward,
        "return": getattr(r, "return"),
        "trajectory_advantage": r.trajectory_advantage,
        "turn_advantages": list(r.turn_advantages),
        "advantages": list(r.advantages),
        "num_turns": r.num_turns,
    }
    for key in ("trajectory_reward", "num_calls", "malformed_calls", "reference"):
        if r.HasField(key):
            row[key] = getattr(r, key)
    if r.HasField("toolrl"):
        row["toolrl"] = {"format": r.toolrl.format, "correctness": r.toolrl.correctness}
    if explain:
        row["matches"] = [_match(m) for m in r.matches]
    return row


def response_dict(resp: pb.ScoreResponse) -> dict[str, Any]:
    """A ``ScoreResponse`` as the API.md response body (equal to the HTTP service's JSON answer)."""
    body: dict[str, Any] = {"preset": resp.preset, "config": json.loads(resp.config_json or b"{}")}
    if resp.effective_json:
        body["effective"] = json.loads(resp.effective_json)
    groups = []
    for g in resp.groups:
        group: dict[str, Any] = {"id": _id(g)}
        if g.HasField("gold_ref"):
            group["gold_ref"] = g.gold_ref
        if g.gold_refs:
            group["gold_refs"] = list(g.gold_refs)
        group["rollouts"] = [_rollout(r, resp.explain) for r in g.rollouts]
        groups.append(group)
    body["groups"] = groups
    return body


def presets_dict(resp: pb.PresetsResponse) -> dict[str, Any]:
    return {name: json.loads(v) for name, v in resp.presets_json.items()}


# ---- errors ---------------------------------------------------------------------------------------------

_RETRY_CONNECTION = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)
_BAD_REQUEST_CODES = frozenset({"malformed_json", "bad_request", "bad_encoding"})


def _http_status(code: grpc.StatusCode, api_code: str | None) -> int:
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return 400 if api_code in _BAD_REQUEST_CODES else 422
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return 409
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return 503 if api_code == "overloaded" else 413
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return 401
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return 403
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return 404
    return 500


def error_from_rpc(err: grpc.RpcError, target: str) -> tuple[TurnScoreError, bool, float | None]:
    """(typed error, retryable, retry_after) for a failed call; the server's API.md error body comes from
    the trailing metadata ``turnscore-error-bin``."""
    code: grpc.StatusCode = err.code()  # type: ignore[attr-defined]
    message = err.details() or code.name  # type: ignore[attr-defined]
    url = f"grpc://{target}"
    trailers = dict(err.trailing_metadata() or ())  # type: ignore[attr-defined]
    if code in _RETRY_CONNECTION:
        why = "deadline_exceeded" if code == grpc.StatusCode.DEADLINE_EXCEEDED else "connection_failed"
        return ConnectionFailed(f"{code.name}: {message}", code=why, url=url), True, None
    body: Any = None
    raw = trailers.get(ERROR_KEY)
    if isinstance(raw, bytes | str):
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
    api_code: str | None = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        api_code = str(body["error"].get("code"))
    if body is None:
        body = {"error": {"code": code.name.lower(), "message": message, "details": None}}
    retry = trailers.get("retry-after")
    retry_after = parse_retry_after(retry.decode() if isinstance(retry, bytes) else retry)
    status = _http_status(code, api_code)
    typed = error_from_response(status, body, url=url, retry_after=retry_after)
    return typed, status in RETRY_STATUSES, retry_after


# ---- shared transport logic -----------------------------------------------------------------------------

_RPCS: dict[tuple[str, str], tuple[str, Callable[[Any], Any], Callable[[Any, Any], Any]]] = {
    ("POST", "/v1/score"): ("Score", score_request, lambda resp, body: response_dict(resp)),
    ("POST", "/v1/advantages"): ("Advantages", advantages_request, lambda resp, body: response_dict(resp)),
    ("GET", "/v1/presets"): (
        "Presets",
        lambda body: pb.PresetsRequest(),
        lambda resp, body: presets_dict(resp),
    ),
}


class _GrpcMixin(_Common):
    """What both gRPC clients share: settings, channels, request encoding, status mapping and retry
    decisions (placed before :class:`TurnScoreClient` / :class:`AsyncTurnScoreClient` in their bases)."""

    def __init__(
        self,
        target: str | Sequence[str] | None = None,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        options: Sequence[tuple[str, Any]] = (),
        compression: grpc.Compression | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        **kwargs: Any,
    ) -> None:
        _Common.__init__(self, _PLACEHOLDER_URL, **kwargs)
        self.targets = [] if self.local else parse_targets(target)
        self.urls = list(self.targets)
        self._ring = UrlRing(self.targets) if self.targets else None
        self.credentials = credentials
        self.channel_options = (*_CHANNEL_OPTIONS, *options)
        self.compression = compression
        auth = [("authorization", v) for k, v in self.headers.items() if k.lower() == "authorization"]
        self.metadata = tuple(auth) + tuple((k.lower(), v) for k, v in metadata)
        self._channel_lock = threading.Lock()
        self._channels: dict[str, Any] = {}

    def _channel(self, target: str) -> Any:
        raise NotImplementedError

    def _channel_from(self, api: Any, target: str) -> Any:
        """The channel to ``target``, created on first use by ``api`` (``grpc`` or ``grpc.aio``)."""
        ch = self._channels.get(target)
        if ch is None:
            if self.credentials is not None:
                ch = api.secure_channel(target, self.credentials, self.channel_options, self.compression)
            else:
                ch = api.insecure_channel(target, self.channel_options, self.compression)
            self._channels[target] = ch
        return ch

    def _rpc_request(self, method: str, path: str, body: Any) -> tuple[str, Any, Callable[[Any, Any], Any]]:
        """(RPC name, request message, response decoder) for an HTTP route."""
        try:
            name, encode, decode = _RPCS[(method, path)]
        except KeyError:
            raise TurnScoreError(
                f"{method} {path} has no gRPC method (HTTP only)", code="not_available"
            ) from None
        return name, encode(body if body is not None else {}), decode

    def _rpc_call(self, target: str, name: str) -> Any:
        return getattr(pb_grpc.RewardServiceStub(self._channel(target)), name)

    def _attempt_seconds(self, attempts: Attempts) -> float | None:
        t = self.timeout
        base = t.read if isinstance(t, httpx.Timeout) else t
        left = attempts.remaining()
        if left is None:
            return None if base is None else float(base)
        return max(0.001, left if base is None else min(float(base), left))

    def _rpc_failed(self, attempts: Attempts, e: grpc.RpcError, target: str) -> _Outcome:
        """A failed call: retry after the wait, or raise its typed error (not retryable, no attempt left)."""
        err, retryable, retry_after = error_from_rpc(e, target)
        if not retryable:
            err.attempts = attempts.count
            raise err from None
        return False, self._attempt_failed(attempts, err, retry_after)

    def _health_check(self, ready: bool) -> Any:
        """The ``grpc.health.v1`` Check on the next target (an awaitable call with ``grpc.aio``)."""
        assert self._ring is not None
        stub = _health_stub(self._channel(self._ring.next()))
        return stub.Check(_health_request(ready), timeout=self._probe_timeout, metadata=self.metadata)

    @staticmethod
    def _health_result(resp: Any) -> Health:
        serving = resp.status == 1  # grpc.health.v1 HealthCheckResponse.SERVING
        names = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}
        return Health(serving, 200 if serving else 503, {"status": names.get(resp.status, str(resp.status))})


def _health_stub(channel: Any) -> Any:
    from grpc_health.v1 import health_pb2_grpc  # grpcio-health-checking, when installed

    return health_pb2_grpc.HealthStub(channel)


def _health_request(ready: bool) -> Any:
    from grpc_health.v1 import health_pb2

    return health_pb2.HealthCheckRequest(service=SERVICE_NAME if ready else "")


def _no_health(e: grpc.RpcError) -> Health:
    return Health(False, 0, f"{e.code().name}: {e.details()}")  # type: ignore[attr-defined]


class GrpcTurnScoreClient(_GrpcMixin, TurnScoreClient):
    """Synchronous gRPC client: :class:`TurnScoreClient`'s surface over ``turnscore.v1.RewardService``.

    Extra arguments: ``credentials`` (``grpc.ChannelCredentials``; default insecure), ``options`` (channel
    arguments), ``compression`` (e.g. ``grpc.Compression.Gzip``), ``metadata`` (extra call metadata).
    ``health()`` uses ``grpc.health.v1`` (needs grpcio-health-checking); ``ready=True`` asks for the
    RewardService itself.
    """

    @classmethod
    def from_env(  # type: ignore[override]
        cls, target: str | Sequence[str] | None = None, **overrides: Any
    ) -> GrpcTurnScoreClient:
        """Configured like :meth:`TurnScoreClient.from_env`; the target from ``$TURNSCORE_GRPC_TARGET``."""
        return cls(target, **_env_kwargs(overrides))

    @classmethod
    def local_mode(cls, **kwargs: Any) -> GrpcTurnScoreClient:
        return cls(None, local=True, **kwargs)

    def __enter__(self) -> GrpcTurnScoreClient:
        return self

    def _channel(self, target: str) -> grpc.Channel:
        with self._channel_lock:
            return self._channel_from(grpc, target)

    def close(self) -> None:
        with self._channel_lock:
            for ch in self._channels.values():
                ch.close()
            self._channels.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def _request_http(self, method: str, path: str, body: Any) -> Any:
        name, request, decode = self._rpc_request(method, path, body)

        def attempt(target: str, attempts: Attempts) -> _Outcome:
            call = self._rpc_call(target, name)
            try:
                resp = call(request, timeout=self._attempt_seconds(attempts), metadata=self.metadata)
            except grpc.RpcError as e:
                return self._rpc_failed(attempts, e, target)
            return True, decode(resp, body)

        return self._with_retries(attempt)

    def openrlhf(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise _openrlhf_unavailable()

    def health(self, *, ready: bool = False) -> Health:
        """One ``grpc.health.v1`` Check (no retry) on the next target."""
        if self.local:
            return super().health(ready=ready)
        try:
            resp = self._health_check(ready)
        except grpc.RpcError as e:
            return _no_health(e)
        return self._health_result(resp)


class AsyncGrpcTurnScoreClient(_GrpcMixin, AsyncTurnScoreClient):
    """Asynchronous twin of :class:`GrpcTurnScoreClient` (grpc.aio; same arguments, awaitable methods)."""

    @classmethod
    def from_env(  # type: ignore[override]
        cls, target: str | Sequence[str] | None = None, **overrides: Any
    ) -> AsyncGrpcTurnScoreClient:
        return cls(target, **_env_kwargs(overrides))

    @classmethod
    def local_mode(cls, **kwargs: Any) -> AsyncGrpcTurnScoreClient:
        return cls(None, local=True, **kwargs)

    async def __aenter__(self) -> AsyncGrpcTurnScoreClient:
        return self

    def _channel(self, target: str) -> grpc.aio.Channel:
        # grpc.aio channels belong to the running event loop: created lazily, inside it.
        return self._channel_from(grpc.aio, target)

    async def aclose(self) -> None:
        channels = list(self._channels.values())
        self._channels.clear()
        for ch in channels:
            await ch.close()

    async def _request_http(self, method: str, path: str, body: Any) -> Any:
        name, request, decode = self._rpc_request(method, path, body)

        async def attempt(target: str, attempts: Attempts) -> _Outcome:
            call = self._rpc_call(target, name)
            try:
                resp = await call(request, timeout=self._attempt_seconds(attempts), metadata=self.metadata)
            except grpc.RpcError as e:
                return self._rpc_failed(attempts, e, target)
            return True, decode(resp, body)

        return await self._with_retries(attempt)

    async def openrlhf(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise _openrlhf_unavailable()

    async def health(self, *, ready: bool = False) -> Health:
        if self.local:
            return await super().health(ready=ready)
        try:
            resp = await self._health_check(ready)
        except grpc.RpcError as e:
            return _no_health(e)
        return self._health_result(resp)
