"""The FastAPI application: a thin router over ``turnscore.core.engine`` (through :class:`Runtime`).

``create_app(settings=None, runtime=None, lifespan_hooks=())`` builds the app (``turnscore.serve`` gives it
to uvicorn). ``lifespan_hooks`` are async context manager factories ``hook(runtime)`` entered after the
runtime has started and left before it closes: ``turnscore.serve`` runs the gRPC server there, so both
transports share this process's runtime.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Query, Request
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response

from turnscore import __version__, metrics
from turnscore.core.errors import ErrorKind
from turnscore.runtime import Runtime, ServiceError
from turnscore.settings import Settings

from . import examples, schemas
from .body import read_body
from .docs import install_docs
from .errors import install_handlers
from .middleware import ServiceMiddleware
from .openrlhf import score_openrlhf
from .protocol import Limits as ConnectionLimits
from .ui import install_ui, sampling_requested

JSON = "application/json"
log = logging.getLogger("turnscore.http")
LifespanHook = Callable[[Runtime], contextlib.AbstractAsyncContextManager[Any]]


class JSONBody(JSONResponse):
    """A response of JSON bytes the handler already encoded. Only /openapi.json sees it (the default class,
    so each route's ``response_model`` is its ``application/json`` schema): handlers return :func:`_json`."""

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else orjson.dumps(content)


def _json(data: bytes, status: int = 200) -> Response:
    return Response(data, status_code=status, media_type=JSON)


async def _read_json(request: Request, runtime: Runtime) -> dict[str, Any]:
    """Bounded read + gzip + depth check + decode of the request body (stage ``decode``)."""
    data, t0 = await _receive(request, runtime)
    doc = await runtime.decode(data)
    _decoded(request, t0, time.perf_counter())
    return doc


async def _receive(request: Request, runtime: Runtime) -> tuple[bytes | bytearray, float]:
    """Bounded read + gzip of the request body, then the admission slot; returns (body, ``perf_counter``
    when the read started: the start of stage ``decode``)."""
    info = request.scope.get("turnscore", {})
    t0 = time.perf_counter()
    settings = runtime.settings
    runtime.receiving += 1
    try:
        async with _timeout(settings.body_timeout):
            data, wire = await read_body(
                request.stream(),
                content_encoding=request.headers.get("content-encoding"),
                content_length=request.headers.get("content-length"),
                max_bytes=settings.max_body_bytes,
            )
    except ClientDisconnect:
        metrics.REJECTED.labels("disconnected").inc()
        raise ServiceError(
            ErrorKind.BAD_REQUEST,
            "client_disconnected",
            "the client closed the connection before sending the body",
        ) from None
    except TimeoutError:
        metrics.REJECTED.labels("timeout").inc()
        raise ServiceError(
            ErrorKind.DEADLINE_EXCEEDED,
            "request_timeout",
            f"request body not received within {settings.body_timeout:g}s",
        ) from None
    except ServiceError as exc:
        metrics.REJECTED.labels("too_large" if exc.kind is ErrorKind.TOO_LARGE else "bad_body").inc()
        raise
    finally:
        runtime.receiving -= 1
    # the admission slot is taken now that the body is here (released by the middleware)
    if not runtime.try_admit():
        raise runtime.overloaded()
    info["admitted"] = True
    info["bytes_in"] = wire
    info["bytes_decoded"] = len(data)
    metrics.REQUEST_BODY_BYTES.labels("wire").observe(wire)
    metrics.REQUEST_BODY_BYTES.labels("decoded").observe(len(data))
    return data, t0


def _decoded(request: Request, t0: float, t1: float) -> None:
    """Stage ``decode`` (read, gzip, depth check, JSON) took from ``t0`` to ``t1`` (``perf_counter``)."""
    dt = t1 - t0
    metrics.STAGE_DURATION.labels("decode").observe(dt)
    info = request.scope.get("turnscore")
    if isinstance(info, dict):
        info["stages_ms"] = {"decode": round(dt * 1000, 3)}


def _timeout(seconds: float) -> contextlib.AbstractAsyncContextManager[Any]:
    import asyncio

    return asyncio.timeout(seconds)


def _record(request: Request, stats: Any) -> None:
    info = request.scope.get("turnscore")
    if isinstance(info, dict):
        info["groups"] = stats.groups
        info["rollouts"] = stats.rollouts
        stages = info.setdefault("stages_ms", {})
        for k, v in (stats.stage_seconds or {}).items():
            stages[k] = round(v * 1000, 3)


def create_app(
    settings: Settings | None = None,
    runtime: Runtime | None = None,
    lifespan_hooks: Sequence[LifespanHook] = (),
) -> FastAPI:
    settings = settings or (runtime.settings if runtime is not None else Settings())
    if runtime is None:
        runtime = Runtime(settings)
    hooks = list(lifespan_hooks)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        log.info(
            "turnscore started",
            extra={"settings": settings.redacted(), "cache": runtime.cache.status(), "core": runtime.core},
        )
        try:
            async with contextlib.AsyncExitStack() as stack:
                for hook in hooks:
                    await stack.enter_async_context(hook(runtime))
                yield
        finally:
            await runtime.close()

    app = FastAPI(
        title="turnscore",
        version=__version__,
        description=(
            "Turn-level rewards and dual-level advantages for RL on tool use (MatchTIR bipartite matching, "
            'ToolRL, GRPO baselines). Errors are `{"error": {"code", "message", "details"}}`.'
        ),
        lifespan=lifespan,
        root_path=settings.root_path,
        default_response_class=JSONBody,
        docs_url=None,
        redoc_url=None,
    )
    install_docs(app)
    app.state.runtime = runtime
    install_handlers(app)
    app.add_middleware(ServiceMiddleware, runtime=runtime)

    scoring_errors = schemas.error_responses(400, 401, 408, 409, 413, 415, 422, 503)

    @app.post(
        "/v1/score",
        response_model=schemas.ScoreResponse,
        responses=scoring_errors,
        summary="Score groups of rollouts against gold tool-call traces",
        tags=["scoring"],
    )
    async def score(request: Request) -> Response:
        body, t0 = await _receive(request, runtime)
        result, data = await runtime.score_json(
            body, lambda t1: _decoded(request, t0, t1), sample=sampling_requested(request)
        )
        _record(request, result.stats)
        return _json(data)

    @app.post(
        "/v1/advantages",
        response_model=schemas.ScoreResponse,
        responses=schemas.error_responses(400, 401, 413, 415, 422, 503),
        summary="Advantages from per-turn rewards the trainer already holds",
        tags=["scoring"],
    )
    async def advantages(request: Request) -> Response:
        doc = await _read_json(request, runtime)
        result, data = await runtime.advantages(doc)
        _record(request, result.stats)
        return _json(data)

    @app.post(
        "/v1/openrlhf",
        response_model=schemas.OpenRLHFResponse,
        responses=schemas.error_responses(400, 401, 408, 413, 415, 422, 503),
        summary="OpenRLHF --remote_rm_url: one reward per sample, unscorable samples get 0",
        tags=["compatibility"],
    )
    async def openrlhf(
        request: Request,
        preset: str | None = Query(None, description="Preset (overridden by `preset` in the body)."),
    ) -> Response:
        doc = await _read_json(request, runtime)
        return _json(await score_openrlhf(runtime, doc, preset))

    @app.get("/v1/presets", response_model=dict[str, dict[str, Any]], tags=["scoring"])
    async def presets() -> Response:
        return _json(runtime.presets_bytes())

    @app.get("/healthz", response_model=schemas.Health, tags=["operations"])
    async def healthz() -> Response:
        return _json(b'{"status":"ok"}')

    @app.get("/readyz", response_model=schemas.Ready, tags=["operations"])
    async def readyz() -> Response:
        # The cache is optional: Redis being down is reported, never makes the service unready.
        http = {
            "connections": ConnectionLimits.status(),
            "body_timeout": settings.body_timeout,
            "draining": runtime.draining,
        }
        return _json(orjson.dumps({"status": "ok", **runtime.status(), "http": http}))

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}}},
    )
    async def metrics_endpoint() -> Response:
        data, content_type = metrics.render()
        return Response(data, media_type=content_type)

    install_ui(app, runtime)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        _, defs = models_json_schema(
            [(m, "validation") for m in schemas.REQUEST_MODELS.values()],
            ref_template="#/components/schemas/{model}",
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, sub in defs.get("$defs", {}).items():
            components.setdefault(name, sub)
        requests, answers = examples.request_examples(), examples.response_examples()
        for path, model in schemas.REQUEST_MODELS.items():
            operation = schema["paths"][path]["post"]
            operation["requestBody"] = {
                "required": True,
                "content": {
                    JSON: {
                        "schema": {"$ref": f"#/components/schemas/{model.__name__}"},
                        "examples": requests[path],
                    }
                },
            }
            for status, example in answers[path].items():
                operation["responses"][status].setdefault("content", {}).setdefault(JSON, {})["example"] = (
                    example
                )
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
