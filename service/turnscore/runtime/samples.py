"""The inspect sample ring (``--inspect-sample N``): the last N scored ``/v1/score`` requests of this process
with their responses, in memory only, so the inspect page (``/ui``) can open what a trainer just sent.

Bounded twice: at most ``max_entries`` samples and at most ``max_bytes`` bytes of JSON (request + response,
as encoded). A sample larger than ``max_bytes`` on its own is not kept (counted in ``skipped``); adding one
evicts the oldest until both bounds hold. Nothing is ever written to disk. One ring per process: with
``--workers N`` each worker keeps the requests it scored (ids name the worker).
"""

from __future__ import annotations

import collections
import itertools
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class Sample:
    """One scored request: its id, when, a few counts, and the request and response as JSON bytes."""

    id: str
    time: float
    preset: str
    groups: int
    rollouts: int
    request: bytes
    response: bytes

    @property
    def nbytes(self) -> int:
        return len(self.request) + len(self.response)

    def info(self) -> dict[str, Any]:
        """The listing entry (no bodies)."""
        return {
            "id": self.id,
            "time": round(self.time, 3),
            "preset": self.preset,
            "groups": self.groups,
            "rollouts": self.rollouts,
            "bytes": self.nbytes,
        }

    def to_json(self) -> bytes:
        """The listing entry with ``request`` and ``response`` (the kept bytes, not re-encoded)."""
        head = orjson.dumps(self.info())
        return head[:-1] + b',"request":' + self.request + b',"response":' + self.response + b"}"


class SampleRing:
    """A thread-safe ring of :class:`Sample` bounded by entries and bytes (``max_entries`` 0 = off)."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.worker = os.getpid()
        self.skipped = 0  # samples larger than max_bytes on their own
        self._items: collections.OrderedDict[str, Sample] = collections.OrderedDict()
        self._bytes = 0
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0

    def refuse(self, nbytes: int) -> bool:
        """True (counted in ``skipped``) when a sample of at least ``nbytes`` could not be kept: lets a
        caller skip encoding a request whose response alone is over ``max_bytes``."""
        if nbytes <= self.max_bytes:
            return False
        with self._lock:
            self.skipped += 1
        return True

    def add(self, request: bytes, response: bytes, preset: str, groups: int, rollouts: int) -> str | None:
        """Keep one scored request; its id, or None when sampling is off or it is over ``max_bytes``."""
        if not self.enabled:
            return None
        size = len(request) + len(response)
        with self._lock:
            if size > self.max_bytes:
                self.skipped += 1
                return None
            sample = Sample(
                f"{self.worker}-{next(self._seq)}", time.time(), preset, groups, rollouts, request, response
            )
            self._items[sample.id] = sample
            self._bytes += size
            while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self._bytes -= old.nbytes
            return sample.id

    def get(self, sample_id: str) -> Sample | None:
        with self._lock:
            return self._items.get(sample_id)

    def listing(self) -> dict[str, Any]:
        """The ring's bounds and use, and its samples newest first (no bodies)."""
        with self._lock:
            samples = [s.info() for s in reversed(self._items.values())]
            return {**self.status(locked=True), "samples": samples}

    def status(self, locked: bool = False) -> dict[str, Any]:
        """Bounds and use (for ``/readyz`` and the listing)."""
        if not locked:
            with self._lock:
                return self.status(locked=True)
        return {
            "worker": self.worker,
            "max_entries": self.max_entries,
            "max_bytes": self.max_bytes,
            "entries": len(self._items),
            "bytes": self._bytes,
            "skipped": self.skipped,
        }
