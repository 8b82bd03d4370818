"""``turnscore serve`` in a subprocess on free loopback ports: start it, wait until it is ready, stop it.

The one helper behind every suite that runs the real service as a process: tests/service (``Service``),
tests/grpc (``ServeProcess``), tests/deploy (``Server``), tests/client and client/tests_trainers
(``RealService``) and the benchmarks (bench/common.py ``Server``). Each subclasses :class:`ServeProcess`
and only sets what differs (command line, environment, readiness probe, timeouts).

Importing it: pytest puts tests/ on ``sys.path`` (it holds tests/conftest.py and no ``__init__.py``), so the
suites under tests/ ``import serve_support``; bench/common.py and client/tests_trainers/conftest.py append
tests/ to ``sys.path`` first. At import time it needs only the standard library and httpx (the trainer
environment has the client, not the service); grpc is imported when a gRPC port is served.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Self

import httpx

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
    """

    start_timeout = 30.0
    stop_timeout = 15.0
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


class RealService(ServeProcess):
    """The real service for client tests, started on construction: the ``turnscore`` executable
    (``binary``, else ``$TURNSCORE_BIN``, else ``default_binary``) with this process's whole environment,
    ``--no-access-log``, ready on ``/healthz``; three tries on new ports."""

    start_timeout = 60.0
    poll_interval = 0.1
    attempts = 3

    def __init__(self, *args: str, binary: str | None = None, default_binary: str | None = None) -> None:
        exe = binary or os.environ.get("TURNSCORE_BIN") or default_binary
        exe = exe or str(Path(sys.executable).parent / "turnscore")
        super().__init__(None, "--no-access-log", *args, command=[exe], base_env=os.environ)
        self.start()
