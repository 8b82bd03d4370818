"""Fixtures for the verl plugin tests (run in .venv-verl: real verl 0.9.1 on CPU torch).

``service_url`` starts the real service (``turnscore serve`` of this environment, i.e. the repo's service
installed editable) on a free loopback port for the whole session.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def service_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    exe = Path(sys.executable).with_name("turnscore")
    if not exe.exists():
        pytest.fail(f"{exe} not found: the service must be installed in this environment (make venv-verl)")
    port = _free_port()
    log = tmp_path_factory.mktemp("service") / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNSCORE_")}
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # up to ~60 s for the process to answer
            if proc.poll() is not None:
                pytest.fail(f"turnscore serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(url + "/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            pytest.fail(f"turnscore serve did not become healthy:\n{log.read_text()[-3000:]}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
