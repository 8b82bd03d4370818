"""gRPC helpers: the service in this process (``Runtime`` + ``GrpcServer`` on a free port) and the API.md
error body an ``RpcError`` carries."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
from turnscore.grpc.server import GrpcServer
from turnscore.runtime import Runtime
from turnscore.settings import Settings

SERVICE = "turnscore.v1.RewardService"


def error_body(err: grpc.RpcError) -> dict[str, Any]:
    """The API.md error body from the trailing metadata (asserts it is there)."""
    import orjson

    trailers = dict(err.trailing_metadata() or ())  # type: ignore[attr-defined]
    assert "turnscore-error-bin" in trailers, trailers
    body = orjson.loads(trailers["turnscore-error-bin"])
    assert trailers["turnscore-error-code"] == body["error"]["code"]
    return dict(body["error"])


@contextlib.asynccontextmanager
async def grpc_server(**settings: Any) -> AsyncIterator[tuple[GrpcServer, Runtime, grpc.aio.Channel]]:
    """Runtime + GrpcServer on a free port in this event loop, and a real channel to it."""
    s = Settings(host="127.0.0.1", grpc_port=0, grpc_drain_delay=0, **settings)
    rt = Runtime(s)
    await rt.start()
    server = GrpcServer(rt)
    port = await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield server, rt, channel
    finally:
        await channel.close()
        await server.stop(0)
        await rt.close()
