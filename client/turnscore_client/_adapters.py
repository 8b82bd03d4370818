"""Helpers shared by the trainer adapters: preset and config from the environment, a client per event loop."""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from . import settings
from ._args import config_arg
from ._chunks import GoldMemory
from ._client import AsyncTurnScoreClient, TurnScoreClient


def env_preset(preset: str | None) -> str | None:
    return preset if preset is not None else settings.PRESET.get()


def env_config(config: Mapping[str, Any] | str | None) -> dict[str, Any] | None:
    """``config`` (a mapping or a JSON-object string, checked as the client does), else TURNSCORE_CONFIG."""
    return config_arg(config) if config is not None else settings.CONFIG.get()


class PerLoopAsyncClient:
    """One :class:`AsyncTurnScoreClient` per running event loop (an httpx AsyncClient is bound to the loop
    it was first used on), all sharing one gold memory so ``gold_ref`` keeps working across loops."""

    def __init__(self, factory: Callable[[], AsyncTurnScoreClient]) -> None:
        self._factory = factory
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncTurnScoreClient] = (
            weakref.WeakKeyDictionary()
        )
        self._memory: GoldMemory | None = None
        self._first = True
        self._lock = threading.Lock()

    def get(self) -> AsyncTurnScoreClient:
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._clients.get(loop)
            if client is None:
                client = self._factory()
                if self._first:
                    self._memory, self._first = client.gold_memory, False
                else:
                    client.gold_memory = self._memory
                self._clients[loop] = client
            return client


class LazySyncClient:
    """A :class:`TurnScoreClient` created on first use (thread-safe; the client itself is thread-safe)."""

    def __init__(self, factory: Callable[[], TurnScoreClient]) -> None:
        self._factory = factory
        self._client: TurnScoreClient | None = None
        self._lock = threading.Lock()

    def get(self) -> TurnScoreClient:
        with self._lock:
            if self._client is None:
                self._client = self._factory()
            return self._client
