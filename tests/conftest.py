"""Shared fixtures: real Redis servers.

- ``redis_url`` (session): the Redis on 127.0.0.1:6379 when it answers PING, else a throwaway
  ``redis-server`` on a free port started here and killed at teardown. Tests sharing it must use their
  own key prefix (``redis_prefix``).
- ``redis_server_factory``: throwaway ``redis-server`` processes a test may kill and restart (never the
  shared one on 6379).

No Redis test is skipped silently: without a ``redis-server`` binary these fixtures fail with a message.
The servers are tests/support/redis_server.py's.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.support.redis_server import RedisServer, redis_ping


@pytest.fixture
def redis_server_factory() -> Iterator[Callable[[], RedisServer]]:
    servers: list[RedisServer] = []

    def make() -> RedisServer:
        server = RedisServer().start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        with contextlib.suppress(Exception):
            server.kill()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    if redis_ping("127.0.0.1", 6379):
        yield "redis://127.0.0.1:6379/0"
        return
    server = RedisServer().start()
    try:
        yield server.url
    finally:
        server.kill()


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix no other test (or engineer) uses."""
    return f"turnscore-test:{uuid.uuid4().hex}:"
