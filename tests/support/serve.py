"""Servers on free loopback ports: ``turnscore serve`` in a subprocess (start it, wait until it is ready,
probe it, stop it) and small stdlib HTTP servers in a thread (the suites' scripted fakes).

- :class:`ServeProcess`: one ``turnscore serve`` subprocess; the suites under tests/ and the benchmarks
  (bench/common.py ``Server``) use it or one of its variants:
  :class:`RealService` (the installed ``turnscore`` command with this process's environment: tests/client,
  client/tests_trainers, client/tests_verl) and :class:`ContainerProcess` (configured through
  ``TURNSCORE_*`` variables as in a container: tests/deploy).
- :class:`LoopbackServer`: a ``http.server`` handler served from a daemon thread (tests/client's
  ``FakeService``, client/tests_trainers' ``FaultProxy``).

At import time it needs only the standard library and httpx (the trainer environments have the client, not
the service); grpc is imported when a gRPC port is served.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, Self

import httpx

from tests.support.probes import Samples, parse_metrics

HOST = "127.0.0.1"
#: ``python -c CLI``: the ``turnscore`` command of this interpreter's environment (no console script needed)
CLI = "import sys; from turnscore.cli import app; sys.argv[0] = 'turnscore'; app()"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def clean_env() -> dict[str, str]:
    """This process's environment without the service's settings (``TURNSCORE_*``) and without
    ``PROMETHEUS_MULTIPROC_DIR`` (set by a multi-worker parent)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNSCORE_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def turnscore_command(bin_dir: Path | None = None) -> list[str]:
    """The ``turnscore`` console script (of this interpreter's environment unless ``bin_dir``)."""
    script = (bin_dir or Path(sys.executable).parent) / "turnscore"
    if not script.exists():
        raise RuntimeError(f"{script} not found: install the project (`make venv`)")
    return [str(script)]


class ServeProcess:
    """One ``turnscore serve`` subprocess on 127.0.0.1.

    - Command line: ``[*command, "serve", *address_args(), *args]``; ``command`` defaults to this interpreter
      running the CLI, the address is ``--host 127.0.0.1 --port PORT`` (and ``--grpc-port``, ``--no-http``).
    - Environment: ``base_env`` (default :func:`clean_env`), then ``env``, and ``PYTHONUNBUFFERED=1``.
    - Output (stdout and stderr) is appended to ``log_path``, else to an anonymous temporary file;
      :meth:`logs` reads it.
    - Ready when the process answers 200 on ``ready_path`` over HTTP (unless ``http=False``) and, with
      ``grpc=True``, the standard gRPC health service says SERVING.
    - A start that fails (the process exits, or is not ready in time) stops the process; with ``attempts``
      above 1 it is tried again on new ports (a free port can be taken between probing and binding), then
      :meth:`start` raises RuntimeError with the end of the log.
    - :meth:`stop`: SIGTERM, wait ``stop_timeout`` seconds, then SIGKILL.
    - Probes: :meth:`get`, :meth:`post`, :meth:`readyz`, :meth:`metrics` / :meth:`metric`.
    """

    start_timeout = 30.0
    stop_timeout = 20.0
    wait_timeout = 30.0
    poll_interval = 0.05
    ready_path = "/healthz"
    attempts = 1

    def __init__(
        self,
        log_path: Path | None,
        *args: str,
        command: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        base_env: Mapping[str, str] | None = None,
        grpc: bool = False,
        http: bool = True,
    ) -> None:
        self.log_path = log_path
        self.args = list(args)
        self.command = list(command) if command is not None else [sys.executable, "-c", CLI]
        self.env = dict(env or {})
        self.base_env = base_env
        self.grpc = grpc
        self.http = http
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._pick_ports()

    def _pick_ports(self) -> None:
        self.port = free_port()
        self.grpc_port = free_port() if self.grpc else None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def target(self) -> str:
        """The gRPC target (``grpc=True``)."""
        assert self.grpc_port is not None, "no gRPC port: ServeProcess(..., grpc=True)"
        return f"{HOST}:{self.grpc_port}"

    def address_args(self) -> list[str]:
        out = ["--host", HOST, "--port", str(self.port)]
        if self.grpc_port is not None:
            out += ["--grpc-port", str(self.grpc_port)]
        if not self.http:
            out.append("--no-http")
        return out

    def process_env(self) -> dict[str, str]:
        env = dict(self.base_env) if self.base_env is not None else clean_env()
        env.update(self.env)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def start(self, timeout: float | None = None) -> Self:
        timeout = self.start_timeout if timeout is None else timeout
        problem = "was not started"
        for attempt in range(self.attempts):
            if attempt:
                self._pick_ports()
            self._spawn()
            problem = self._wait_ready(timeout)
            if not problem:
                return self
            self.stop()
        raise RuntimeError(f"turnscore serve {problem}:\n{self.logs()[-4000:]}")

    def _spawn(self) -> None:
        cmd = [*self.command, "serve", *self.address_args(), *self.args]
        env = self.process_env()
        if self.log_path is not None:
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
            return
        if self._log_file is None:
            self._log_file = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as this object)
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log_file, stderr=subprocess.STDOUT)

    def _wait_ready(self, timeout: float) -> str:
        """'' once ready, else what went wrong."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        with contextlib.ExitStack() as stack:
            grpc_serving = self._grpc_health(stack) if self.grpc_port is not None else None
            while True:
                if self.proc.poll() is not None:
                    return f"exited with {self.proc.returncode}"
                if (grpc_serving is None or grpc_serving()) and self._http_ready():
                    return ""
                if time.monotonic() > deadline:
                    return f"did not become ready within {timeout:g} s"
                time.sleep(self.poll_interval)

    def _http_ready(self) -> bool:
        if not self.http:
            return True
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(self.url + self.ready_path, timeout=1.0).status_code == 200
        return False

    def _grpc_health(self, stack: contextlib.ExitStack) -> Callable[[], bool]:
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        stub = health_pb2_grpc.HealthStub(stack.enter_context(grpc.insecure_channel(self.target)))

        def serving() -> bool:
            with contextlib.suppress(grpc.RpcError):
                answer = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)
            return False

        return serving

    def logs(self) -> str:
        """Everything the process wrote so far."""
        if self.log_path is not None:
            return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        if self._log_file is None:
            return ""
        fd = self._log_file.fileno()  # pread: the child shares the file offset, leave it alone
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

    def signal(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float | None = None) -> int:
        assert self.proc is not None
        return self.proc.wait(self.wait_timeout if timeout is None else timeout)

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout`` (default ``stop_timeout``) seconds; the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_timeout if timeout is None else timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    # -- probes ---------------------------------------------------------------------------------------

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=kw.pop("timeout", 30.0), **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.post(self.url + path, timeout=kw.pop("timeout", 30.0), **kw)

    def readyz(self) -> dict[str, Any]:
        r = self.get("/readyz")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def metrics(self) -> Samples:
        """The samples of ``/metrics``."""
        r = self.get("/metrics", timeout=10.0)
        r.raise_for_status()
        return parse_metrics(r.text)

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels`` (0 if none)."""
        return self.metrics().value(name, **labels)


#: the type of a fixture that starts a :class:`ServeProcess` (``service_factory(*args, env=..., name=...)``)
ServiceFactory = Callable[..., ServeProcess]


class RealService(ServeProcess):
    """The real service for client tests, started on construction: the ``turnscore`` executable
    (``binary``, else ``$TURNSCORE_BIN``, else ``default_binary``, else this interpreter's) with this
    process's whole environment, ``--no-access-log``, ready on ``/healthz``; three tries on new ports."""

    start_timeout = 60.0
    poll_interval = 0.1
    attempts = 3

    def __init__(self, *args: str, binary: str | None = None, default_binary: str | None = None) -> None:
        exe = binary or os.environ.get("TURNSCORE_BIN") or default_binary
        exe = exe or str(Path(sys.executable).parent / "turnscore")
        super().__init__(None, "--no-access-log", *args, command=[exe], base_env=os.environ)
        self.start()


class ContainerProcess(ServeProcess):
    """``turnscore serve`` configured as a container configures it: a clean ``TURNSCORE_*`` environment (or
    exactly ``base_env``), the console script by default (``command``), host and port given as
    TURNSCORE_HOST / TURNSCORE_PORT (only ``--port`` on the command line)."""

    start_timeout = 60.0
    stop_timeout = 30.0

    def __init__(
        self,
        log_path: Path,
        env: dict[str, str] | None = None,
        command: list[str] | None = None,
        base_env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(log_path, command=command or turnscore_command(), env=env, base_env=base_env)

    def address_args(self) -> list[str]:
        return ["--port", str(self.port)]

    def process_env(self) -> dict[str, str]:
        return {**super().process_env(), "TURNSCORE_HOST": HOST, "TURNSCORE_PORT": str(self.port)}


class LoopbackServer:
    """A stdlib HTTP server (``handler``) on a free loopback port, served from a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer((HOST, 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://{HOST}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
