"""Fixtures of the inspect page's tests: real ``turnscore serve`` processes and a real headless Chromium.

- ``open_service``: no API key, sampling off (the defaults).
- ``keyed_service``: API key ``KEY``, ``--inspect-sample 3`` with a 64 KiB byte bound.
- ``browser``: one Chromium for the session (tests/support/browser.py); a missing browser or Playwright
  fails these tests with what to install, never skips them. ``page``: a fresh context and page per test,
  with the page's console errors collected in ``page.errors`` (asserted empty at teardown).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import browser as chromium
from tests.support.serve import ServeProcess

KEY = "ui-test-key"
SAMPLE_BYTES = 64 * 1024
EXAMPLE = Path(__file__).resolve().parents[2] / "service" / "turnscore" / "http" / "ui" / "example.json"


def example() -> dict[str, Any]:
    """The page's built-in example request (``/ui?example=1``)."""
    return dict(json.loads(EXAMPLE.read_text(encoding="utf-8")))


def _serve(tmp: Path, name: str, *args: str, env: dict[str, str] | None = None) -> ServeProcess:
    return ServeProcess(tmp / f"{name}.log", "--no-access-log", *args, env=env).start(timeout=60)


@pytest.fixture(scope="session")
def open_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    svc = _serve(tmp_path_factory.mktemp("ui"), "open")
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def keyed_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    svc = _serve(
        tmp_path_factory.mktemp("ui"),
        "keyed",
        "--inspect-sample",
        "3",
        "--inspect-sample-bytes",
        str(SAMPLE_BYTES),
        env={"TURNSCORE_API_KEYS": KEY},
    )
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    problem = chromium.missing()
    if problem:
        pytest.fail(f"the inspect page's browser tests cannot run: {problem}", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = chromium.launch(pw)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
