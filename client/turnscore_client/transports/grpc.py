"""gRPC transport (grpcio): the API's operations as ``turnscore.v1.RewardService`` calls.

Needs the ``grpc`` extra (``pip install './client[grpc]'`` from a clone: grpcio and protobuf, and
grpcio-health-checking for the health probes); the generated ``turnscore.v1`` code ships in
``turnscore_client._gen``, so the service package is not needed. ``/v1/openrlhf`` has no RPC.

A failed call becomes the client's typed error by its status: UNAVAILABLE, DEADLINE_EXCEEDED and CANCELLED
are :class:`~turnscore_client.ConnectionFailed` (retried); the others carry the service's API.md error body
from the trailing metadata ``turnscore-error-bin`` and map to an :class:`~turnscore_client.errors.ErrorKind`
(RESOURCE_EXHAUSTED ``overloaded`` is retried, with the metadata ``retry-after``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import httpx

try:
    import grpc
    import grpc.aio
except ImportError as _e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "turnscore_client's gRPC transport needs grpcio and protobuf: pip install './client[grpc]' "
        "(from the repository root)"
    ) from _e

from .. import settings
from .._gen import turnscore_pb2 as pb
from .._gen import turnscore_pb2_grpc as pb_grpc
from .._retry import parse_retry_after
from ..errors import ConnectionFailed, ErrorKind, TurnScoreError, error_code, error_for
from .base import DEFAULT_TIMEOUT, AsyncTransport, EndpointRing, Operation, Transport, http_only
from .grpc_messages import advantages_request, presets_dict, response_dict, score_request

__all__ = ["AsyncGrpcTransport", "GrpcTransport", "error_from_rpc", "parse_targets"]

SERVICE_NAME = "turnscore.v1.RewardService"
ERROR_KEY = "turnscore-error-bin"
_CHANNEL_OPTIONS = (
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
    ("grpc.primary_user_agent", "turnscore-client"),
)


def parse_targets(target: str | Sequence[str] | None) -> list[str]:
    """``host:port``, several (list or comma-separated) or ``None`` for ``$TURNSCORE_GRPC_TARGET``."""
    if target is None:
        target = settings.GRPC_TARGET.get() or settings.DEFAULT_GRPC_TARGET
    parts = target.split(",") if isinstance(target, str) else list(target)
    out = []
    for p in parts:
        p = p.strip().removeprefix("grpc://").rstrip("/")  # other schemes (dns:///, unix:) pass through
        if p:
            out.append(p)
    if not out:
        raise ValueError("at least one gRPC target (host:port) is required")
    return out


# ---- requests and answers -------------------------------------------------------------------------------


class GrpcRequest(NamedTuple):
    """An operation ready to send: the stub for a channel, its method, the message, the answer's decoder."""

    stub: Callable[[Any], Any]
    method: str
    message: Any
    decode: Callable[[Any, str], Any]


def _health_stub(channel: Any) -> Any:
    from grpc_health.v1 import health_pb2_grpc  # grpcio-health-checking, when installed

    return health_pb2_grpc.HealthStub(channel)


_HEALTH_NAMES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def _health_answer(resp: Any, target: str) -> dict[str, Any]:
    """``{"status": "SERVING"}``; any other status raises the ``unavailable`` error with that body."""
    body = {"status": _HEALTH_NAMES.get(resp.status, str(resp.status))}
    if resp.status != 1:  # grpc.health.v1 HealthCheckResponse.SERVING
        raise error_for(ErrorKind.UNAVAILABLE, body, url=f"grpc://{target}")
    return body


_RPCS: dict[Operation, tuple[str, Callable[[Any], Any], Callable[[Any, str], Any]]] = {
    Operation.SCORE: ("Score", score_request, lambda resp, target: response_dict(resp)),
    Operation.ADVANTAGES: ("Advantages", advantages_request, lambda resp, target: response_dict(resp)),
    Operation.PRESETS: ("Presets", lambda body: pb.PresetsRequest(), lambda resp, target: presets_dict(resp)),
}


def grpc_request(operation: Operation, body: Any) -> GrpcRequest:
    """The call of ``operation`` for ``body`` (``ValidationError`` for what the messages cannot hold)."""
    if operation in (Operation.HEALTH, Operation.READY):
        from grpc_health.v1 import health_pb2

        service = SERVICE_NAME if operation is Operation.READY else ""
        return GrpcRequest(
            _health_stub, "Check", health_pb2.HealthCheckRequest(service=service), _health_answer
        )
    if operation not in _RPCS:
        raise http_only(operation)
    name, encode, decode = _RPCS[operation]
    return GrpcRequest(pb_grpc.RewardServiceStub, name, encode(body if body is not None else {}), decode)


# ---- errors ---------------------------------------------------------------------------------------------

_NO_ANSWER = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)
_KIND_BY_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: ErrorKind.INVALID,
    grpc.StatusCode.FAILED_PRECONDITION: ErrorKind.UNKNOWN_GOLD_REF,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ErrorKind.TOO_LARGE,
    grpc.StatusCode.UNAUTHENTICATED: ErrorKind.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED: ErrorKind.UNAUTHENTICATED,
    grpc.StatusCode.UNIMPLEMENTED: ErrorKind.OTHER,
}
_MALFORMED_CODES = frozenset({"malformed_json", "bad_request", "bad_encoding"})


def _kind(status: grpc.StatusCode, code: str | None) -> ErrorKind:
    """The kind of a failed call from its status and the API.md error ``code`` (which tells a malformed body
    from an invalid one, both INVALID_ARGUMENT, and ``overloaded`` from a limit, both RESOURCE_EXHAUSTED)."""
    if status == grpc.StatusCode.INVALID_ARGUMENT and code in _MALFORMED_CODES:
        return ErrorKind.MALFORMED
    if status == grpc.StatusCode.RESOURCE_EXHAUSTED and code == "overloaded":
        return ErrorKind.OVERLOADED
    return _KIND_BY_STATUS.get(status, ErrorKind.SERVER)


def error_from_rpc(err: grpc.RpcError, target: str) -> TurnScoreError:
    """The typed error of a failed call; the server's API.md error body comes from the trailing metadata
    ``turnscore-error-bin`` (without it, one is made of the status and its details)."""
    status: grpc.StatusCode = err.code()  # type: ignore[attr-defined]
    message = err.details() or status.name  # type: ignore[attr-defined]
    url = f"grpc://{target}"
    if status in _NO_ANSWER:
        why = "deadline_exceeded" if status == grpc.StatusCode.DEADLINE_EXCEEDED else "connection_failed"
        return ConnectionFailed(f"{status.name}: {message}", code=why, url=url)
    trailers = dict(err.trailing_metadata() or ())  # type: ignore[attr-defined]
    body: Any = None
    raw = trailers.get(ERROR_KEY)
    if isinstance(raw, bytes | str):
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
    if body is None:
        body = {"error": {"code": status.name.lower(), "message": message, "details": None}}
    retry = trailers.get("retry-after")
    retry_after = parse_retry_after(retry.decode() if isinstance(retry, bytes) else retry)
    return error_for(_kind(status, error_code(body)), body, url=url, retry_after=retry_after)


# ---- channels and the two transports --------------------------------------------------------------------


class _Channels:
    """What both gRPC transports share: the targets, one channel per target (opened on first use by ``api``,
    ``grpc`` or ``grpc.aio``), the call metadata and the per-call timeout."""

    def __init__(
        self,
        api: Any,
        target: str | Sequence[str] | None,
        api_key: str | None,
        timeout: float | httpx.Timeout | None,
        credentials: grpc.ChannelCredentials | None,
        options: Sequence[tuple[str, Any]],
        compression: grpc.Compression | None,
        metadata: Sequence[tuple[str, str]],
    ) -> None:
        self.api = api
        self.ring = EndpointRing(parse_targets(target))
        self.timeout = timeout.read if isinstance(timeout, httpx.Timeout) else timeout
        self.credentials = credentials
        self.options = (*_CHANNEL_OPTIONS, *options)
        self.compression = compression
        api_key = api_key if api_key is not None else settings.API_KEY.get()
        auth = (("authorization", f"Bearer {api_key}"),) if api_key else ()
        self.metadata = auth + tuple((k.lower(), v) for k, v in metadata)
        self.by_target: dict[str, Any] = {}
        self._lock = threading.Lock()

    def method(self, request: GrpcRequest) -> tuple[str, Any]:
        """The next target and ``request``'s method on a channel to it."""
        target = self.ring.next()
        with self._lock:
            channel = self.by_target.get(target)
            if channel is None:
                if self.credentials is not None:
                    channel = self.api.secure_channel(
                        target, self.credentials, self.options, self.compression
                    )
                else:
                    channel = self.api.insecure_channel(target, self.options, self.compression)
                self.by_target[target] = channel
        return target, getattr(request.stub(channel), request.method)

    def seconds(self, left: float | None) -> float | None:
        """The call's timeout: the configured one, cut to ``left`` (the rest of the deadline)."""
        if left is None:
            return None if self.timeout is None else float(self.timeout)
        return max(0.001, left if self.timeout is None else min(float(self.timeout), left))

    def take_all(self) -> list[Any]:
        with self._lock:
            channels = list(self.by_target.values())
            self.by_target.clear()
        return channels


class GrpcTransport(Transport):
    """Synchronous gRPC transport (thread-safe).

    ``target``: ``"host:port"``, several (list or comma-separated; one per call, round-robin) or ``None``
    for ``$TURNSCORE_GRPC_TARGET``. ``api_key`` (default ``$TURNSCORE_API_KEY``) goes in the
    ``authorization`` metadata; ``credentials`` (``grpc.ChannelCredentials``; default insecure, e.g.
    ``grpc.ssl_channel_credentials()`` for TLS), ``options`` (channel arguments), ``compression`` (e.g.
    ``grpc.Compression.Gzip``), ``metadata`` (extra call metadata). ``timeout``: seconds per call (of an
    ``httpx.Timeout``, its read timeout).
    """

    def __init__(
        self,
        target: str | Sequence[str] | None = None,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        credentials: grpc.ChannelCredentials | None = None,
        options: Sequence[tuple[str, Any]] = (),
        compression: grpc.Compression | None = None,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> None:
        self._channels = _Channels(
            grpc, target, api_key, timeout, credentials, options, compression, metadata
        )
        self.endpoints = self._channels.ring.endpoints

    def prepare(self, operation: Operation, body: Any) -> GrpcRequest:
        return grpc_request(operation, body)

    def call(self, operation: Operation, request: GrpcRequest, timeout: float | None) -> Any:
        target, method = self._channels.method(request)
        try:
            resp = method(
                request.message, timeout=self._channels.seconds(timeout), metadata=self._channels.metadata
            )
        except grpc.RpcError as e:
            raise error_from_rpc(e, target) from None
        return request.decode(resp, target)

    def close(self) -> None:
        for channel in self._channels.take_all():
            channel.close()


class AsyncGrpcTransport(AsyncTransport):
    """Asynchronous twin of :class:`GrpcTransport` (``grpc.aio``; same arguments). Its channels belong to the
    event loop they were opened in."""

    def __init__(
        self,
        target: str | Sequence[str] | None = None,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        credentials: grpc.ChannelCredentials | None = None,
        options: Sequence[tuple[str, Any]] = (),
        compression: grpc.Compression | None = None,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> None:
        self._channels = _Channels(
            grpc.aio, target, api_key, timeout, credentials, options, compression, metadata
        )
        self.endpoints = self._channels.ring.endpoints

    def prepare(self, operation: Operation, body: Any) -> GrpcRequest:
        return grpc_request(operation, body)

    async def call(self, operation: Operation, request: GrpcRequest, timeout: float | None) -> Any:
        target, method = self._channels.method(request)
        try:
            resp = await method(
                request.message, timeout=self._channels.seconds(timeout), metadata=self._channels.metadata
            )
        except grpc.RpcError as e:
            raise error_from_rpc(e, target) from None
        return request.decode(resp, target)

    async def aclose(self) -> None:
        for channel in self._channels.take_all():
            await channel.close()
