"""The grpc.aio server: ``turnscore.v1.RewardService`` (a thin shell over the shared :class:`Runtime`),
the standard health service (``grpc.health.v1``) and server reflection.

One :class:`Runtime` per process serves every transport, so gRPC shares the HTTP service's scoring pool,
gold-trace cache (tier 1 and Redis), limits, admission budget (``max_inflight``), API keys and metrics.
:mod:`turnscore.serve` starts a :class:`GrpcServer` next to HTTP (``turnscore serve --grpc-port 50051``)
or alone (``--no-http``).

Per RPC: API key (metadata ``authorization: Bearer <key>``; health and reflection are public) → admission
(``RESOURCE_EXHAUSTED`` "overloaded" beyond ``max_inflight``) → deadline check → request message to the
API.md document (off the event loop for large messages) → ``Runtime.score`` / ``Runtime.advantages``
(exactly the HTTP code path) → response message. The work is bounded by the call's deadline: when it
expires, the RPC is cancelled and scoring not yet started in the pool is dropped (scoring already running
finishes in its pool thread; its result is discarded).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from turnscore import metrics
from turnscore.core import engine
from turnscore.core.errors import ErrorKind, TurnScoreError
from turnscore.runtime import Runtime, ServiceError
from turnscore.runtime.decode import OFFLOOP_DECODE_BYTES
from turnscore.runtime.errors import internal, unauthenticated

from . import convert
from ._gen import turnscore_pb2 as pb
from ._gen import turnscore_pb2_grpc as pb_grpc
from .status import for_error

log = logging.getLogger("turnscore.grpc")
access_log = logging.getLogger("turnscore.access")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["RewardService"].full_name  # "turnscore.v1.RewardService"
PUBLIC_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")


class Malformed:
    """What a request deserializer returns for bytes that are not a valid message of its type: the RPC
    answers INVALID_ARGUMENT ``malformed_message`` (grpcio's own answer would be UNKNOWN with the Python
    exception in its details)."""

    def __init__(self, message_type: str) -> None:
        self.message_type = message_type


def _deserializer(cls: Any) -> Callable[[bytes], Any]:
    name = cls.DESCRIPTOR.full_name

    def parse(data: bytes) -> Any:
        try:
            return cls.FromString(data)
        except Exception:  # google.protobuf.message.DecodeError and friends
            return Malformed(name)

    return parse


def _check_message(request: Any) -> None:
    if isinstance(request, Malformed):
        raise ServiceError(
            ErrorKind.BAD_REQUEST,
            "malformed_message",
            f"the request is not a valid {request.message_type} protobuf message",
            {"path": "message"},
        )


def _service_handler(servicer: RewardServicer) -> grpc.GenericRpcHandler:
    """``turnscore.v1.RewardService``'s handlers (as the generated ``add_...`` builds them) with request
    deserializers that never raise (:class:`Malformed`)."""
    methods: dict[str, tuple[Any, Any, Any]] = {
        "Score": (servicer.Score, pb.ScoreRequest, pb.ScoreResponse),
        "Advantages": (servicer.Advantages, pb.AdvantagesRequest, pb.ScoreResponse),
        "Presets": (servicer.Presets, pb.PresetsRequest, pb.PresetsResponse),
    }
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            fn, request_deserializer=_deserializer(req), response_serializer=resp.SerializeToString
        )
        for name, (fn, req, resp) in methods.items()
    }
    return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)


def _endpoint(method: str) -> str:
    return method if method.startswith(f"/{SERVICE_NAME}/") else "other"


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """API keys from metadata ``authorization: Bearer <key>`` (the HTTP header, as gRPC metadata)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

        async def deny(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await context.abort(*for_error(unauthenticated("metadata `authorization: Bearer <key>`")))

        self._deny = grpc.unary_unary_rpc_method_handler(deny)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        runtime = self.runtime
        method = details.method
        if not runtime.auth_enabled or method.startswith(PUBLIC_PREFIXES):
            return await continuation(details)
        token: str | bytes | None = None
        for key, value in details.invocation_metadata or ():
            if key == "authorization":
                raw = value.encode("latin-1") if isinstance(value, str) else bytes(value)
                scheme, _, rest = raw.partition(b" ")
                if scheme.lower() == b"bearer":
                    token = rest.strip()
                break
        if token is not None and runtime.check_key(token):
            return await continuation(details)
        metrics.REJECTED.labels("unauthorized").inc()
        metrics.REQUEST_DURATION.labels(_endpoint(method), "UNAUTHENTICATED").observe(0.0)
        return self._deny


class RewardServicer(pb_grpc.RewardServiceServicer):
    """``turnscore.v1.RewardService`` over a :class:`Runtime` (the HTTP service's code path)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._presets: pb.PresetsResponse | None = None

    # -- RPCs ----------------------------------------------------------------------------------------
    async def Score(self, request: pb.ScoreRequest, context: grpc.aio.ServicerContext) -> pb.ScoreResponse:
        async def work() -> pb.ScoreResponse:
            _check_message(request)
            doc = await self._decode(convert.score_doc, request)
            # the core stops at the call's deadline (or request_timeout, if sooner), freeing its thread
            deadline = self.runtime.deadline(context.time_remaining())
            # the message is built in the scoring call's thread (its time is the stage ``encode``)
            encode = functools.partial(convert.score_response, explain=bool(doc.get("explain")))
            _, message = await self.runtime.score(doc, encode=encode, deadline=deadline)
            return message

        return await self._scoring("Score", context, work)

    async def Advantages(
        self, request: pb.AdvantagesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ScoreResponse:
        async def work() -> pb.ScoreResponse:
            _check_message(request)
            doc = await self._decode(convert.advantages_doc, request)
            encode = functools.partial(convert.score_response, explain=False)
            _, message = await self.runtime.advantages(doc, encode=encode)
            return message

        return await self._scoring("Advantages", context, work)

    async def Presets(
        self, request: pb.PresetsRequest, context: grpc.aio.ServicerContext
    ) -> pb.PresetsResponse:
        start = time.perf_counter()
        if isinstance(request, Malformed):
            metrics.REQUEST_DURATION.labels(f"/{SERVICE_NAME}/Presets", "INVALID_ARGUMENT").observe(0.0)
            try:
                _check_message(request)
            except ServiceError as exc:
                await context.abort(*for_error(exc))
        if self._presets is None:
            self._presets = convert.presets_response(engine.presets())
        metrics.REQUEST_DURATION.labels(f"/{SERVICE_NAME}/Presets", "OK").observe(time.perf_counter() - start)
        return self._presets

    # -- shared path ---------------------------------------------------------------------------------
    async def _decode(self, fn: Callable[[Any, int], dict[str, Any]], request: Any) -> dict[str, Any]:
        t0 = time.perf_counter()
        size = request.ByteSize()
        metrics.REQUEST_BODY_BYTES.labels("wire").observe(size)
        depth = self.runtime.settings.max_json_depth
        doc = (
            await self.runtime.run(fn, request, depth) if size > OFFLOOP_DECODE_BYTES else fn(request, depth)
        )
        metrics.STAGE_DURATION.labels("decode").observe(time.perf_counter() - t0)
        return doc

    async def _scoring(
        self, name: str, context: grpc.aio.ServicerContext, work: Callable[[], Awaitable[Any]]
    ) -> Any:
        runtime = self.runtime
        start = time.perf_counter()
        status = "OK"
        admitted = False
        metrics.INFLIGHT.inc()
        try:
            if not runtime.try_admit():
                raise runtime.overloaded()
            admitted = True
            remaining = context.time_remaining()
            if remaining is not None and remaining <= 0:
                status = "DEADLINE_EXCEEDED"
                await _abort_deadline(context)
            async with asyncio.timeout(remaining):  # None = no deadline
                return await work()
        except TurnScoreError as exc:
            code, message, trailers = for_error(exc)
            status = code.name
            await context.abort(code, message, trailers)
        except TimeoutError:
            status = "DEADLINE_EXCEEDED"
            await _abort_deadline(context)
        except asyncio.CancelledError:  # the client cancelled or the deadline expired (gRPC cancels us)
            status = "CANCELLED"
            raise
        except grpc.aio.AbortError:
            raise
        except Exception:
            status = "INTERNAL"
            log.exception("unhandled error in %s", name)
            await context.abort(*for_error(internal("internal error (a bug; please report it)")))
        finally:
            if admitted:
                runtime.release()
            metrics.INFLIGHT.dec()
            duration = time.perf_counter() - start
            metrics.REQUEST_DURATION.labels(f"/{SERVICE_NAME}/{name}", status).observe(duration)
            if runtime.settings.access_log:
                access_log.info(
                    "request",
                    extra={
                        "transport": "grpc",
                        "method": f"/{SERVICE_NAME}/{name}",
                        "status": status,
                        "duration_ms": round(duration * 1000, 3),
                        "client": context.peer(),
                    },
                )
        raise AssertionError("unreachable")  # pragma: no cover


async def _abort_deadline(context: grpc.aio.ServicerContext) -> None:
    message = "deadline exceeded before the request was scored"
    await context.abort(*for_error(ServiceError(ErrorKind.DEADLINE_EXCEEDED, "deadline_exceeded", message)))


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


class GrpcServer:
    """The gRPC server of one process, over that process's :class:`Runtime`."""

    def __init__(self, runtime: Runtime, host: str | None = None, port: int | None = None) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.host = host if host is not None else (settings.grpc_host or settings.host)
        self.requested_port = port if port is not None else (settings.grpc_port or 0)
        self.port: int | None = None
        self.max_message_bytes = settings.grpc_max_message_bytes or settings.max_body_bytes
        self.health = HealthServicer()
        self.server: grpc.aio.Server | None = None
        self.draining = False

    async def start(self) -> int:
        """Bind and start; returns the bound port (useful with port 0)."""
        settings = self.runtime.settings
        options = [
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", -1),  # answers are bounded by the request limits
            # uvicorn workers (--workers N) each bind the same gRPC port; the kernel spreads connections
            ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
        ]
        server = grpc.aio.server(interceptors=[AuthInterceptor(self.runtime)], options=options)
        server.add_generic_rpc_handlers((_service_handler(RewardServicer(self.runtime)),))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (
                SERVICE_NAME,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            server,
        )
        port = server.add_insecure_port(_address(self.host, self.requested_port))
        if port == 0:
            raise RuntimeError(f"gRPC: cannot bind {_address(self.host, self.requested_port)}")
        await server.start()
        self.server = server
        self.port = port
        for service in ("", SERVICE_NAME):
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        log.info("gRPC server listening", extra={"address": _address(self.host, port)})
        return port

    async def begin_drain(self) -> None:
        """Health turns NOT_SERVING (permanently); RPCs are still served until :meth:`stop`."""
        self.draining = True
        await self.health.enter_graceful_shutdown()

    async def stop(self, grace: float | None = None) -> None:
        """Refuse new RPCs, give in-flight ones ``grace`` seconds (default ``graceful_timeout``), stop."""
        if self.server is None:
            return
        if grace is None:
            grace = self.runtime.settings.graceful_timeout
        await self.server.stop(grace)
        self.server = None

    async def shutdown(self, grace: float | None = None) -> None:
        """The whole drain within ``grace`` seconds (default ``graceful_timeout``): NOT_SERVING for
        ``grpc_drain_delay`` seconds (at most half of ``grace``), then :meth:`stop` with the rest."""
        if grace is None:
            grace = self.runtime.settings.graceful_timeout
        await self.begin_drain()
        delay = min(self.runtime.settings.grpc_drain_delay, grace / 2)
        if delay > 0:
            log.info("gRPC draining", extra={"delay_seconds": delay})
            await asyncio.sleep(delay)
        await self.stop(max(0.0, grace - delay))
        log.info("gRPC server stopped")
