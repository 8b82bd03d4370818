"""Which core runs: the compiled extension ``turnscore_native`` (native/, Rust via PyO3) or pure Python.

The Python core is the reference and the fallback: the extension, when installed, replaces only hot
functions and returns exactly what they return. ``select("auto")`` (the default) uses the extension when
it imports; ``"native"`` requires it; ``"python"`` never uses it. The choice is process-wide.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from types import ModuleType

CORES = ("python", "native", "auto")

try:
    import turnscore_native as _ext
except ImportError as exc:  # not built (no Rust toolchain or crates): the Python path runs
    _ext = None
    _import_error: str | None = str(exc)
else:
    _import_error = None

_active: ModuleType | None = _ext


def select(core: str) -> str:
    """Choose the core for this process; returns the one that runs (``"python"`` or ``"native"``).

    Raises ``RuntimeError`` for ``"native"`` when the extension is not installed, ``ValueError`` for an
    unknown name."""
    global _active
    if core not in CORES:
        raise ValueError(f"core must be one of {', '.join(CORES)} (got {core!r})")
    if core == "native" and _ext is None:
        raise RuntimeError(f"--core native: the compiled extension is not installed ({_import_error})")
    _active = None if core == "python" else _ext
    return active()


def active() -> str:
    """``"native"`` when the extension is in use, else ``"python"``."""
    return "python" if _active is None else "native"


def module() -> ModuleType | None:
    """The extension module when the native core is active (hot paths call into it), else ``None``."""
    return _active


def available() -> bool:
    return _ext is not None


def import_error() -> str | None:
    """Why the extension did not import (``None`` when it did)."""
    return _import_error


def same_fields(cls: type, names: Iterable[str] | None) -> bool:
    """Whether the dataclass ``cls`` has exactly the fields ``names``, in this order: the extension builds
    some of the core's dataclasses itself, by position or by name, and the Python path builds them
    wherever the two lists differ. ``None`` (an extension that does not export the list) is never a match."""
    return names is not None and tuple(f.name for f in fields(cls)) == tuple(names)
