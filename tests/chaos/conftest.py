"""Fixtures of the chaos suite: real ``turnscore serve`` processes on loopback (tests/support/serve.py),
real throwaway Redis servers (``redis_server_factory``, tests/conftest.py), real sockets.

Every test is a bounded loop of a few seconds against 127.0.0.1 only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.serve import ServeProcess, ServiceFactory


@pytest.fixture
def service_factory(tmp_path: Path) -> Iterator[ServiceFactory]:
    """``service_factory(*args, env=..., name=..., grpc=False)``: a started ``turnscore serve``."""
    started: list[ServeProcess] = []

    def make(
        *args: str, env: dict[str, str] | None = None, name: str = "svc", grpc: bool = False
    ) -> ServeProcess:
        svc = ServeProcess(
            tmp_path / f"{name}-{len(started)}.log", "--no-access-log", *args, env=env, grpc=grpc
        )
        started.append(svc)
        return svc.start(timeout=90)  # two cores shared by many processes: start-up can be slow

    yield make
    for svc in started:
        svc.stop(timeout=10)
