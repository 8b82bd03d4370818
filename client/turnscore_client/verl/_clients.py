"""The clients of the verl hooks: one per process and transport settings (verl creates agent loops per
rollout and calls the estimator every step), and for async clients one per event loop as well."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Generic, TypeVar

from .._client import AsyncTurnScoreClient, TurnScoreClient
from .settings import Settings

C = TypeVar("C", TurnScoreClient, AsyncTurnScoreClient)


class ClientCache(Generic[C]):
    """``cls`` clients by transport settings (and by running event loop with ``per_loop``: an async client
    is bound to the loop it was first used on); ``prefer_local`` is the ``auto`` backend's choice."""

    def __init__(self, cls: type[C], *, prefer_local: bool, per_loop: bool = False) -> None:
        self._cls: type[C] = cls
        self._prefer_local = prefer_local
        self._per_loop = per_loop
        self._clients: dict[tuple[Any, ...], C] = {}
        self._lock = threading.Lock()

    def get(self, settings: Settings) -> C:
        loop: tuple[int, ...] = (id(asyncio.get_running_loop()),) if self._per_loop else ()
        local = settings.use_local(prefer_local=self._prefer_local)
        key = (*loop, local, settings.urls, settings.api_key, settings.timeout)
        with self._lock:
            c = self._clients.get(key)
            if c is None:
                kwargs = settings.client_kwargs()
                c = self._cls.local_mode(**kwargs) if local else self._cls(list(settings.urls), **kwargs)
                self._clients[key] = c
            return c
