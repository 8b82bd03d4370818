"""The serving process: HTTP only, gRPC only, or both, over one :class:`Runtime` per process.

``turnscore serve`` (:mod:`turnscore.cli`) validates the settings and calls :func:`run`:

- HTTP (the default): uvicorn runs ``workers`` processes; each builds its app with the factory
  :func:`create_app`, from the ``TURNSCORE_*`` environment (:func:`run` exports the command-line flags there).
- HTTP and gRPC (``--grpc-port``): the same, and each worker's app starts a gRPC server on its runtime in
  its lifespan (:func:`grpc_lifespan`); on shutdown gRPC drains after HTTP.
- gRPC alone (``--grpc-port --no-http``): one process, :func:`serve_grpc_alone`.

Shutdown at any load (SIGTERM): every worker first stops new connections and serves the ones the kernel
already accepted (:mod:`turnscore.http.drain`), then uvicorn gives in-flight requests ``graceful_timeout``
seconds; requests still running then are answered 503 ``shutting_down`` (the HTTP middleware), and the
process exits within ``graceful_timeout`` + 1 s: scoring threads whose answer nobody waits for any more do
not hold the exit (:func:`exit_when_done`: ``os._exit`` once the server is done, logs flushed).

gRPC is the optional extra ``turnscore[grpc]``: nothing here imports it unless a gRPC port is set, and then
:func:`require_grpc` says at start-up, in one line, what to install.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import logging.config
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from turnscore.runtime import Runtime
from turnscore.runtime.logs import log_config
from turnscore.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from turnscore.grpc.server import GrpcServer
    from turnscore.http.app import LifespanHook

#: what ``turnscore.grpc`` imports beyond the service's own dependencies (the ``grpc`` extra)
GRPC_MODULES = ("grpc", "grpc_health.v1.health_pb2", "grpc_reflection.v1alpha.reflection", "google.protobuf")


class ServeError(Exception):
    """The process cannot serve what the settings ask for; the message is one line for the operator."""


def require_grpc() -> None:
    """Raise :class:`ServeError` when the gRPC extra is not installed."""
    for name in GRPC_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ServeError(
                f"--grpc-port needs the gRPC extra, which is not installed ({exc}): "
                "pip install 'turnscore[grpc]'"
            ) from None


def require_core(core: str) -> None:
    """Raise :class:`ServeError` when ``--core native`` is asked for and the extension is not installed
    (every worker applies the choice itself, in ``Runtime.start``)."""
    from turnscore.core import native

    if core == "native" and not native.available():
        raise ServeError(
            f"--core native: the compiled extension turnscore_native is not installed "
            f"({native.import_error()}); build it with `make venv` (needs cargo and Debian's Rust crates, "
            "native/README.md) or serve with --core auto or python"
        )


def export_env(settings: Settings, names: Iterable[str]) -> None:
    """Settings given on the command line become env vars, so uvicorn workers (spawned) see them too."""
    for name in names:
        value = getattr(settings, name)
        env = f"TURNSCORE_{name.upper()}"
        if value is None:
            os.environ.pop(env, None)
        elif isinstance(value, bool):
            os.environ[env] = "true" if value else "false"
        else:
            os.environ[env] = str(value)


# -- gRPC ---------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def grpc_lifespan(runtime: Runtime) -> AsyncIterator[GrpcServer]:
    """Lifespan hook of the HTTP app: a gRPC server on the app's runtime, drained on shutdown (within
    what is left of ``graceful_timeout`` since the shutdown signal: HTTP and gRPC share one budget)."""
    from turnscore.grpc.server import GrpcServer

    server = GrpcServer(runtime)
    await server.start()
    try:
        yield server
    finally:
        await server.shutdown(grace=remaining_grace(runtime))


def remaining_grace(runtime: Runtime) -> float:
    """Seconds left of ``graceful_timeout`` since the shutdown signal (all of it before the signal)."""
    total = runtime.settings.graceful_timeout
    if runtime.shutdown_started is None:
        return total
    return max(0.0, total - (time.monotonic() - runtime.shutdown_started))


# -- shutdown -------------------------------------------------------------------------------------------

#: seconds a uvicorn worker may take to answer its supervisor's health ping (start-up included)
WORKER_HEALTHCHECK_SECONDS = 60

#: after the server is done, how long the process waits for its logs before ``os._exit``
EXIT_GRACE = 0.1


def exit_when_done(runtime: Runtime) -> None:
    """Called when the runtime has closed: if scoring threads still run (their requests were answered 503
    ``shutting_down``), the interpreter would wait for them at exit; a daemon thread ends the process
    :data:`EXIT_GRACE` seconds later instead (status 0, logs flushed). Nothing happens when no thread is
    busy."""
    if runtime.busy_threads() == 0:
        return

    def end() -> None:
        time.sleep(EXIT_GRACE)
        logging.getLogger("turnscore.runtime").warning(
            "exiting with scoring threads still running", extra={"threads": runtime.busy_threads()}
        )
        logging.shutdown()
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(0)

    threading.Thread(target=end, name="turnscore-exit", daemon=True).start()


@contextlib.asynccontextmanager
async def http_drain_lifespan(runtime: Runtime) -> AsyncIterator[None]:
    """Lifespan hook of the served HTTP app: the stop-accepting-first drain on SIGTERM/SIGINT
    (:mod:`turnscore.http.drain`) and :func:`exit_when_done` after the runtime has closed."""
    from turnscore.http import drain

    settings = runtime.settings
    exclude = frozenset({settings.grpc_port}) if settings.grpc_port else frozenset()
    drain.install(settings.port, runtime.begin_shutdown, exclude)
    try:
        yield
    finally:
        runtime.begin_shutdown()
        runtime.on_close(lambda: exit_when_done(runtime))


async def serve_grpc_alone(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """gRPC only (``--no-http``) until SIGTERM/SIGINT (or ``stop`` is set), then a graceful drain."""
    from turnscore.grpc.server import GrpcServer

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    runtime = Runtime(settings)
    await runtime.start()
    try:
        server = GrpcServer(runtime)
        await server.start()
        try:
            await stop.wait()
        finally:
            runtime.begin_shutdown()
            await server.shutdown(grace=remaining_grace(runtime))
    finally:
        await runtime.close()
        exit_when_done(runtime)


# -- HTTP (and gRPC in its lifespan) ------------------------------------------------------------------


def create_app() -> FastAPI:
    """uvicorn factory, run in every worker: the HTTP app from the ``TURNSCORE_*`` environment, with the
    gRPC server in its lifespan when ``grpc_port`` is set."""
    from turnscore.http import protocol
    from turnscore.http.app import create_app as create_http_app

    settings = Settings()
    protocol.configure(
        settings.header_timeout, settings.send_timeout, settings.max_connections, settings.retry_after
    )
    hooks: list[LifespanHook] = [http_drain_lifespan]
    if settings.grpc_port is not None:
        hooks.append(grpc_lifespan)
    return create_http_app(settings, lifespan_hooks=hooks)


def _run_http(settings: Settings) -> int:
    import uvicorn

    from turnscore.http.protocol import PROTOCOL

    prom_dir: str | None = None
    if settings.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        prom_dir = tempfile.mkdtemp(prefix="turnscore-prometheus-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = prom_dir
    # uvicorn shuts down gracefully on SIGTERM, restores the previous handler and re-raises the signal;
    # with the default handler that would end the process with status 143. A no-op handler here makes
    # a graceful SIGTERM shutdown exit 0 (uvicorn installs its own handlers while it serves).
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    extra: dict[str, Any] = {}
    if "timeout_worker_healthcheck" in inspect.signature(uvicorn.run).parameters:
        # uvicorn kills a worker that does not answer its supervisor's ping within this; importing the
        # app (numpy, scipy, POT) takes seconds on a busy node, and 5 s (uvicorn's default) killed
        # starting workers in a loop there
        extra["timeout_worker_healthcheck"] = WORKER_HEALTHCHECK_SECONDS
    try:
        uvicorn.run(
            f"{__name__}:create_app",
            factory=True,
            http=PROTOCOL,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_config=log_config(settings.log_level),
            log_level=settings.log_level,
            access_log=False,  # turnscore writes its own structured access log
            timeout_graceful_shutdown=settings.graceful_timeout,  # type: ignore[arg-type]
            timeout_keep_alive=max(1, math.ceil(settings.keepalive_timeout)),
            root_path=settings.root_path,
            server_header=False,
            **extra,
        )
    except KeyboardInterrupt:  # Ctrl-C: uvicorn already shut down gracefully and re-raised SIGINT
        return 130
    finally:
        if prom_dir is not None:
            shutil.rmtree(prom_dir, ignore_errors=True)
    return 0


def run(settings: Settings, flags: Iterable[str] = ()) -> int:
    """Serve until SIGTERM (exit status 0) or Ctrl-C (130). ``flags`` names the settings given on the
    command line (exported for the workers). Raises :class:`ServeError` before starting anything when the
    settings ask for what this installation cannot serve."""
    if settings.grpc_port is not None:
        require_grpc()
    require_core(settings.core)
    export_env(settings, flags)
    if not settings.http:  # settings validation guarantees a grpc_port
        logging.config.dictConfig(log_config(settings.log_level))
        asyncio.run(serve_grpc_alone(settings))
        return 0
    code = _run_http(settings)
    sys.stdout.flush()
    return code
