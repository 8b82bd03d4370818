"""Fixtures for the HTTP service tests: real ``turnscore serve`` processes on free ports, real sockets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.serve import ServeProcess, ServiceFactory


@pytest.fixture
def service_factory(tmp_path: Path) -> Iterator[ServiceFactory]:
    started: list[ServeProcess] = []

    def make(*args: str, env: dict[str, str] | None = None, name: str = "svc") -> ServeProcess:
        svc = ServeProcess(tmp_path / f"{name}-{len(started)}.log", *args, env=env)
        started.append(svc)
        return svc.start()

    yield make
    for svc in started:
        svc.stop()


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """The shared service (embedded default, tier 1 only) with small limits so limit tests stay cheap."""
    log_dir = tmp_path_factory.mktemp("service")
    svc = ServeProcess(
        log_dir / "service.log",
        env={
            "TURNSCORE_MAX_BODY_BYTES": str(256 * 1024),
            "TURNSCORE_MAX_ROLLOUTS_PER_GROUP": "64",
            "TURNSCORE_MAX_JSON_DEPTH": "32",
            "TURNSCORE_MAX_TURNS_PER_ROLLOUT": "64",
        },
    )
    svc.start()
    yield svc
    svc.stop()
