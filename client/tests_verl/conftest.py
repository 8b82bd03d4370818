"""Fixtures for the verl plugin tests (run in .venv-verl: real verl 0.9.1 on CPU torch).

``service_url`` starts the real service (``turnscore serve`` of this environment, i.e. the repo's service
installed editable) on a free loopback port for the whole session.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.serve import ServeProcess


@pytest.fixture(scope="session")
def service_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    exe = Path(sys.executable).with_name("turnscore")
    if not exe.exists():
        pytest.fail(f"{exe} not found: the service must be installed in this environment (make venv-verl)")
    proc = ServeProcess(tmp_path_factory.mktemp("service") / "serve.log", command=[str(exe)])
    try:
        proc.start(timeout=60)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield proc.url
    finally:
        proc.stop()
