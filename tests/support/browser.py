"""A real headless browser for the inspect page's tests (tests/ui): Debian's ``chromium`` driven by
Playwright's Python package through ``executable_path`` (Playwright's own browser download is not used).

- :data:`CHROMIUM`: ``$TURNSCORE_TEST_CHROMIUM``, else ``/usr/bin/chromium`` (``make browser`` installs it
  with apt when missing, as root; mk/browser.mk).
- :func:`missing`: what is missing to run a browser, as one line saying how to install it ('' if nothing).
  The suites fail with it, never skip: a machine without a browser does not pass tests/ui.
- :func:`launch`: the browser, headless, flags for a sandbox-less CI machine, no network of its own.
- :func:`artifact_dir`: where screenshots are kept (``$TURNSCORE_TEST_ARTIFACTS``, else
  ``test-artifacts/`` at the repository root, git-ignored).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("TURNSCORE_TEST_CHROMIUM") or "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def missing() -> str:
    """'' when Playwright and the browser are there, else what to do (one line)."""
    if importlib.util.find_spec("playwright") is None:
        return "the Python package `playwright` is not installed: pip install -e '.[dev]' (or `make venv`)"
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return (
            f"no browser at {CHROMIUM}: `make browser` (as root: apt-get install -y chromium), "
            "or point TURNSCORE_TEST_CHROMIUM at a Chromium executable"
        )
    return ""


def launch(playwright: Any) -> Any:
    """A headless Chromium (``playwright.chromium.launch`` on :data:`CHROMIUM`)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True)


def artifact_dir() -> Path:
    path = Path(os.environ.get("TURNSCORE_TEST_ARTIFACTS") or REPO / "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path
