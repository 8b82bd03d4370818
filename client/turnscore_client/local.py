"""Local mode: the same client surface, scored in-process by the turnscore core.

Needs the ``turnscore`` package (``pip install turnscore-client[local]``); it is imported lazily, so the
client itself never depends on it. The local backend answers exactly like the HTTP service (status, JSON
body), including the gold_ref protocol (an in-process, bounded store of compiled golds), so every code path
of the client (typed results, typed errors, gold_ref resends) is the same in both modes.
"""

from __future__ import annotations

import importlib
import json
import threading
from collections import OrderedDict
from typing import Any

from ._base import dumps
from .errors import LocalModeUnavailable

__all__ = ["LocalBackend", "local_available"]


def local_available() -> bool:
    """Whether the turnscore core can be imported (local mode and the local fallback can run)."""
    try:
        importlib.import_module("turnscore.core.engine")
    except ImportError:
        return False
    return True


class LocalBackend:
    """In-process stand-in for the service: ``request(method, path, body) -> (status, json_body)``."""

    def __init__(self, max_golds: int = 4096) -> None:
        try:
            engine = importlib.import_module("turnscore.core.engine")
            errors = importlib.import_module("turnscore.core.errors")
            http_errors = importlib.import_module("turnscore.http.errors")
        except ImportError as e:
            raise LocalModeUnavailable(
                "local mode needs the turnscore package (the scoring core): "
                f"pip install 'turnscore-client[local]' or pip install turnscore ({e})"
            ) from e
        self._engine: Any = engine
        self._error_cls: type[Exception] = errors.TurnscoreError
        self._http_status: Any = http_errors.http_status
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

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        # A JSON round trip, so the core sees exactly what the service would decode (plain dicts/lists).
        payload = json.loads(dumps(body)) if body is not None else None
        try:
            if method == "POST" and path == "/v1/score":
                result = self._engine.score(payload, golds=self._resolve(payload))
                self._store(getattr(result, "golds", None))
                return 200, getattr(result, "body", result)
            if method == "POST" and path == "/v1/advantages":
                result = self._engine.advantages(payload)
                return 200, getattr(result, "body", result)
            if method == "GET" and path == "/v1/presets":
                return 200, {"presets": self._engine.presets()}
            if method == "GET" and path in ("/healthz", "/readyz"):
                return 200, {"status": "ok", "mode": "local"}
        except self._error_cls as e:
            err: Any = e
            return int(self._http_status(err)), err.to_dict()
        msg = f"{method} {path} is not available in local mode"
        return 404, {"error": {"code": "not_found", "message": msg}}
