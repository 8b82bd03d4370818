"""In-process transport: the API's operations answered by the turnscore core, in this process.

Needs the ``turnscore`` package (from a clone: ``pip install . './client[local]'``); it is imported lazily,
so the client itself never depends on it. It answers like the service (the same bodies, the same errors),
including the gold_ref protocol (an in-process, bounded store of compiled golds), so every code path of the
client (typed results, typed errors, gold_ref resends) is the same in both modes.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
from collections import OrderedDict
from typing import Any

from .._json import dumps
from ..errors import APIError, ErrorKind, LocalModeUnavailable, error_for
from .base import AsyncTransport, Operation, Transport, http_only

# the core's error kinds (``turnscore.core.errors.ErrorKind`` values) as the client's; the core raises only
# these three (the others are the service's transport errors)
_CORE_KINDS = {
    "invalid": ErrorKind.INVALID,
    "unknown_gold_ref": ErrorKind.UNKNOWN_GOLD_REF,
    "too_large": ErrorKind.TOO_LARGE,
}

__all__ = ["AsyncLocalTransport", "LocalTransport", "local_available"]


def local_available() -> bool:
    """Whether the turnscore core can be imported (local mode and the local fallback can run)."""
    try:
        importlib.import_module("turnscore.core.engine")
    except ImportError:
        return False
    return True


class LocalTransport(Transport):
    """The service's operations run by the core in the calling thread (thread-safe)."""

    def __init__(self, max_golds: int = 4096) -> None:
        try:
            engine = importlib.import_module("turnscore.core.engine")
            errors = importlib.import_module("turnscore.core.errors")
        except ImportError as e:
            raise LocalModeUnavailable(
                "local mode needs the turnscore package (the scoring core): "
                f"pip install . './client[local]' from the repository root ({e})"
            ) from e
        self._engine: Any = engine
        self._core_errors: Any = errors
        self._max_golds = max_golds
        self._golds: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def _resolve(self, body: Any) -> dict[str, Any]:
        refs = self._engine.gold_refs_in(body)
        with self._lock:
            return {r: self._golds[r] for r in refs if r in self._golds}

    def _store(self, golds: Any) -> None:
        if not golds:
            return
        with self._lock:
            for ref, g in dict(golds).items():
                self._golds[ref] = g
                self._golds.move_to_end(ref)
            while len(self._golds) > self._max_golds:
                self._golds.popitem(last=False)

    def _error(self, err: Any, operation: Operation) -> APIError:
        """A core error as the client's (the core's kind, named alike on both sides; its body as is)."""
        kind = _CORE_KINDS.get(str(err.kind), ErrorKind.SERVER)
        return error_for(kind, err.to_dict(), url=f"local:{operation.value}")

    def prepare(self, operation: Operation, body: Any) -> Any:
        if operation is Operation.OPENRLHF:
            raise http_only(operation)
        # A JSON round trip, so the core sees exactly what the service would decode (plain dicts/lists).
        return json.loads(dumps(body)) if body is not None else None

    def call(self, operation: Operation, request: Any, timeout: float | None) -> Any:
        try:
            if operation is Operation.SCORE:
                result = self._engine.score(request, golds=self._resolve(request))
                self._store(result.golds)
                return result.body
            if operation is Operation.ADVANTAGES:
                return self._engine.advantages(request).body
            if operation is Operation.PRESETS:
                return {"presets": self._engine.presets()}
        except self._core_errors.TurnScoreError as e:
            raise self._error(e, operation) from None
        if operation in (Operation.HEALTH, Operation.READY):
            return {"status": "ok", "mode": "local"}
        raise http_only(operation)


class AsyncLocalTransport(AsyncTransport):
    """:class:`LocalTransport` for async clients: the core runs in a worker thread, off the event loop."""

    def __init__(self, max_golds: int = 4096) -> None:
        self._local = LocalTransport(max_golds)

    def prepare(self, operation: Operation, body: Any) -> Any:
        return self._local.prepare(operation, body)

    async def call(self, operation: Operation, request: Any, timeout: float | None) -> Any:
        return await asyncio.to_thread(self._local.call, operation, request, timeout)
