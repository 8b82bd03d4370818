"""HTTP transport (FastAPI): ``create_app`` and the transport-neutral ``Runtime`` it shares."""

from __future__ import annotations

from .app import create_app
from .runtime import Runtime

__all__ = ["Runtime", "create_app"]
