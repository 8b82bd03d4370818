"""Containers of the service image under podman, driven as an orchestrator drives them: ``podman run -d``
with ``TURNSCORE_*`` variables, probes over the host network, ``podman kill --signal TERM`` and
``podman wait``.

- ``PODMAN`` (environment): the podman command line (default ``podman``; ``make test-image`` adds
  ``--runtime runc`` on the machines that need it). ``CONTAINERS_CONF`` is passed through.
- ``TURNSCORE_IMAGE``: the image under test (``make test-image`` builds it first).

Every podman call has a timeout; every failure message ends with the container's log.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
import time
import uuid
from typing import Any

import httpx

from tests.support.serve import HOST, free_port

PODMAN = shlex.split(os.environ.get("PODMAN", "podman"))
IMAGE = os.environ.get("TURNSCORE_IMAGE", "localhost/turnscore:test-image")


def podman(*args: str, timeout: float = 60.0, check: bool = True) -> subprocess.CompletedProcess[str]:
    """One podman command; its output as text. ``check``: a non-zero status fails with stderr."""
    cmd = [*PODMAN, *args]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"`{shlex.join(cmd)}` did not finish within {timeout:g} s") from exc
    if check and done.returncode != 0:
        raise AssertionError(f"`{shlex.join(cmd)}` exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done


def image_config(image: str = IMAGE) -> dict[str, Any]:
    """``podman image inspect``: the image's record (``Config``, ``HealthCheck``, ...)."""
    done = podman("image", "inspect", image, check=False)
    if done.returncode != 0:
        raise AssertionError(f"image {image} not found: build it with `make test-image`\n{done.stderr}")
    return dict(json.loads(done.stdout)[0])


class Container:
    """One detached container of the image on the host network, on free HTTP and gRPC ports.

    ``flags``: extra ``podman run`` options (``--read-only``, ``--tmpfs``, ...); ``env``: more
    ``TURNSCORE_*`` variables. The image's entrypoint, user and other defaults are left as they are.
    """

    start_timeout = 60.0

    def __init__(self, *flags: str, env: dict[str, str] | None = None) -> None:
        self.name = f"turnscore-test-{uuid.uuid4().hex[:10]}"
        self.flags = list(flags)
        self.port = free_port()
        self.grpc_port = free_port()
        ports = {"TURNSCORE_PORT": str(self.port), "TURNSCORE_GRPC_PORT": str(self.grpc_port)}
        self.env = {**ports, **(env or {})}

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def target(self) -> str:
        return f"{HOST}:{self.grpc_port}"

    def start(self) -> Container:
        env_args = [arg for k, v in self.env.items() for arg in ("--env", f"{k}={v}")]
        podman("run", "--detach", "--name", self.name, "--network", "host", *self.flags, *env_args, IMAGE)
        deadline = time.monotonic() + self.start_timeout
        while not (self._http_ready() and self._grpc_serving()):
            state = self.state()
            if not state.get("Running"):
                raise AssertionError(f"container exited with {state.get('ExitCode')}:\n{self.logs()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"container not ready within {self.start_timeout:g} s:\n{self.logs()}")
            time.sleep(0.2)
        return self

    def _http_ready(self) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200
        return False

    def _grpc_serving(self) -> bool:
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        with grpc.insecure_channel(self.target) as channel, contextlib.suppress(grpc.RpcError):
            answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
            return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)
        return False

    def state(self) -> dict[str, Any]:
        """``State`` of ``podman inspect`` (``Running``, ``ExitCode``, ...)."""
        done = podman("inspect", "--format", "{{json .State}}", self.name)
        return dict(json.loads(done.stdout))

    def logs(self) -> str:
        done = podman("logs", self.name, check=False, timeout=30.0)
        return (done.stdout + done.stderr)[-4000:]

    def exec(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``cmd`` inside the container (as the image's user)."""
        return podman("exec", self.name, *cmd, check=check)

    def python(self, code: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.exec("python", "-c", code, check=check)

    def terminate(self, timeout: float) -> tuple[int, float]:
        """SIGTERM to PID 1 (what ``docker stop`` / the kubelet send); the exit code and the seconds it took.
        Not exited within ``timeout``: an AssertionError with the log (the container is then killed)."""
        podman("kill", "--signal", "TERM", self.name)
        t0 = time.monotonic()
        while self.state().get("Running"):
            if time.monotonic() - t0 > timeout:
                logs = self.logs()
                podman("kill", "--signal", "KILL", self.name, check=False)
                raise AssertionError(f"still running {timeout:g} s after SIGTERM:\n{logs}")
            time.sleep(0.05)
        elapsed = time.monotonic() - t0
        return int(self.state()["ExitCode"]), elapsed

    def remove(self) -> None:
        podman("rm", "--force", "--time", "0", self.name, check=False)
