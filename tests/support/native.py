"""The compiled core in tests: skip without it, unless the build promised it.

``make test`` sets ``TURNSCORE_REQUIRE_NATIVE=1`` when make built the extension ``turnscore_native``
(mk/native.mk); then a native test that would skip fails instead (tests/native/conftest.py), so CI runs the
parity tests on both cores. Where no Rust toolchain exists they skip, saying why.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from turnscore.core import native

REQUIRE_ENV = "TURNSCORE_REQUIRE_NATIVE"


def required() -> bool:
    """Whether the environment says the extension was built (a skip is then a failure)."""
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0", "false")


def require_native() -> None:
    """Skip the calling test when the extension is not installed (fail when :func:`required`)."""
    if native.available():
        return
    reason = f"turnscore_native is not installed ({native.import_error()}): `make venv` builds it with cargo"
    if required():
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
    pytest.skip(reason)


def answers(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, real: Any = None) -> list[bool]:
    """Spy on ``owner.name`` (or wrap ``real``, the function itself, when ``owner.name`` may already be a
    spy): the returned list gets, per call, whether it answered (returned something other than None)."""
    ran: list[bool] = []
    wrapped = getattr(owner, name) if real is None else real

    def spy(*args: Any) -> Any:
        got = wrapped(*args)
        ran.append(got is not None)
        return got

    monkeypatch.setattr(owner, name, spy)
    return ran


def hiding_path(tmp: Path) -> str:
    """A directory for the front of ``PYTHONPATH`` in which ``import turnscore_native`` raises ImportError:
    a real process that runs as if the extension had never been built."""
    (tmp / "turnscore_native.py").write_text(
        'raise ImportError("turnscore_native hidden by the test (as if never built)")\n'
    )
    return str(tmp)


#: Debian's crate directory the build uses (native/.cargo/config.toml) and the crates it needs there
CRATE_DIR = Path("/usr/share/cargo/registry")
CRATES = ("pyo3-0.17", "serde_json-1.", "memchr-2.")


def toolchain_missing() -> str | None:
    """Why the extension cannot be built here (no cargo, or Debian's crates missing); ``None``: it can."""
    if shutil.which("cargo") is None:
        return "no cargo on PATH"
    for crate in CRATES:
        if not any(CRATE_DIR.glob(crate + "*")):
            return f"{CRATE_DIR}/{crate}* missing (make native-deps installs Debian's librust-*-dev)"
    return None
