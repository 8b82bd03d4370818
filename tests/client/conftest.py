"""Fixtures for the client suite: scripted fake services and the real one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_service import FakeService
from tests.support.serve import RealService


@pytest.fixture
def fake() -> Iterator[FakeService]:
    svc = FakeService()
    yield svc
    svc.close()


@pytest.fixture
def fake2() -> Iterator[FakeService]:
    svc = FakeService()
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def service() -> Iterator[RealService]:
    svc = RealService()
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def service2() -> Iterator[RealService]:
    """A second replica sharing nothing with the first (no Redis): it knows none of the first's golds."""
    svc = RealService()
    yield svc
    svc.stop()
