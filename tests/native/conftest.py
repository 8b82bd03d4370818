"""tests/native: the compiled core against the Python reference. With ``TURNSCORE_REQUIRE_NATIVE=1`` (set
by ``make test`` when make built the extension) a skipped test here is reported as a failure."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.native import REQUIRE_ENV, required


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome: Any = yield
    report = outcome.get_result()
    if report.skipped and required() and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"{REQUIRE_ENV}=1 (make built the extension), yet skipped: {report.longrepr}"
