"""Fixtures for the gRPC tests: one `turnscore serve --grpc-port` process (HTTP and gRPC together)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.serve import ServeProcess


@pytest.fixture(scope="session")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """HTTP and gRPC served by one process (one runtime: same cache, limits, metrics)."""
    proc = ServeProcess(tmp_path_factory.mktemp("grpc") / "serve.log", "--grpc-drain-delay", "0", grpc=True)
    proc.start()
    yield proc
    proc.stop()
