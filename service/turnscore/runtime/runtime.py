"""The per-process runtime every transport shares: settings, gold cache, limits, admission, API keys,
JSON decoding and the scoring pool.

Nothing here depends on a transport. One :class:`Runtime` per process serves every transport in it (the
HTTP app of ``turnscore.http.app`` and the gRPC server of ``turnscore.grpc.server``, put together by
``turnscore.serve``), so they share the tier-1 cache, the Redis circuit breaker, the admission budget and
the metrics::

    runtime = Runtime(Settings())
    await runtime.start()
    try:
        result, body_bytes = await runtime.score(request_dict)   # ScoreResult, orjson-encoded body
    finally:
        await runtime.close()
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import gc
import hmac
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import orjson

from turnscore import metrics
from turnscore.cache import GoldCache
from turnscore.core import engine, native
from turnscore.settings import Settings

from .decode import OFFLOOP_DECODE_BYTES, decode_json
from .errors import ServiceError, overloaded
from .samples import SampleRing

T = TypeVar("T")
log = logging.getLogger("turnscore.runtime")

_DUMPS_OPTS = orjson.OPT_SERIALIZE_NUMPY


#: scored once at start-up, before the heap is frozen: the first request's one-time work (the core's lazy
#: tables, the extension's first calls) is done and frozen with the modules, and a broken core fails start-up
_WARMUP_CALL = {"name": "get_weather", "arguments": {"city": "Oslo", "days": 2}}
WARMUP_REQUEST: dict[str, Any] = {
    "explain": True,
    "groups": [
        {
            "gold": {"calls": [_WARMUP_CALL], "answer": "cold"},
            "rollouts": [
                {"text": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>'},
                {"turns": [{"tool_calls": [_WARMUP_CALL]}, {"answer": "cold"}]},
                {
                    "messages": [
                        {
                            "role": "assistant",
                            "content": "",
                            "tool_calls": [
                                {"function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
                            ],
                        },
                        {"role": "assistant", "content": "<answer>cold</answer>"},
                    ]
                },
            ],
        }
    ],
}


def warm_up() -> None:
    """Score :data:`WARMUP_REQUEST` with every assignment the presets use (KM, greedy, OT)."""
    for preset in ("matchtir-km", "matchtir-ot", "matchtir-reference-km"):
        engine.score({**WARMUP_REQUEST, "preset": preset})


def freeze_heap() -> None:
    """Collect once, then exclude every object alive now (modules, the app, the core's tables) from
    future cyclic collections: a full collection otherwise rescans all of numpy, scipy, POT and FastAPI.
    Objects created later (requests, cached golds) are collected as usual."""
    gc.collect()
    gc.freeze()


def tune_gc(threshold: int) -> None:
    """Set the cyclic GC's first-generation threshold (``Settings.gc_threshold``; 0 leaves it as it is).
    The older generations keep their thresholds: a full collection still follows every 10 x 10 young ones."""
    if threshold > 0:
        gc.set_threshold(threshold, *gc.get_threshold()[1:])


def select_core(requested: str) -> str:
    """Choose this process's scoring core (``Settings.core``); returns the one that runs. ``auto`` without
    the extension logs one warning line; ``native`` without it raises ``RuntimeError``."""
    core = native.select(requested)
    if requested == "auto" and core == "python":
        log.warning(
            "turnscore_native is not installed: scoring runs on the pure-Python core (same results, "
            "slower); `make venv` builds it where cargo is installed (native/README.md)",
            extra={"reason": native.import_error()},
        )
    return core


class _Busy:
    """Pool calls running now (a thread-safe count)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def call(self, fn: Callable[[], T]) -> T:
        with self._lock:
            self.count += 1
        try:
            return fn()
        finally:
            with self._lock:
                self.count -= 1


#: how a scoring call's body is encoded, in the pool thread: ``True`` orjson (JSON bytes), ``False`` not at
#: all (``b""``), or a function of the body (gRPC's message; its time is the ``encode`` stage as orjson's is)
Encode = bool | Callable[[dict[str, Any]], Any]


def _timed_call(fn: Callable[..., Any], encode: Encode, *args: Any, **kwargs: Any) -> tuple[Any, Any, float]:
    """Run a core entry point and encode its body, in a pool thread; returns (result, encoded, encode s)."""
    result = fn(*args, **kwargs)
    if encode is False:
        return result, b"", 0.0
    t0 = time.perf_counter()
    data = orjson.dumps(result.body, option=_DUMPS_OPTS) if encode is True else encode(result.body)
    return result, data, time.perf_counter() - t0


class Runtime:
    """Per-process state shared by all transports."""

    def __init__(self, settings: Settings, cache: GoldCache | None = None) -> None:
        self.settings = settings
        self.cache = cache if cache is not None else GoldCache.from_settings(settings)
        self.limits = settings.core_limits()
        self.max_inflight = settings.max_inflight
        self.inflight = 0
        self.receiving = 0  # request bodies being read (they hold no admission slot)
        self.shutdown_started: float | None = None  # time.monotonic() of the shutdown signal
        self._busy = _Busy()
        self._keys = [k.encode("utf-8") for k in settings.api_key_list()]
        self.public_paths = settings.public_path_set()
        self.executor = ThreadPoolExecutor(settings.thread_count(), thread_name_prefix="turnscore-score")
        self.started_at = time.time()
        self._presets: bytes | None = None
        self.samples = SampleRing(settings.inspect_sample, settings.inspect_sample_bytes)
        self._on_close: list[Callable[[], None]] = []
        self.core = native.active()  # the core that runs (chosen from settings.core by start())

    # -- lifecycle -----------------------------------------------------------------------------------
    async def start(self) -> None:
        self.core = select_core(self.settings.core)
        await self.cache.start()
        warm_up()
        if self.settings.gc_freeze:
            freeze_heap()
        tune_gc(self.settings.gc_threshold)

    async def close(self) -> None:
        await self.cache.close()
        self.executor.shutdown(wait=False, cancel_futures=True)
        metrics.mark_process_dead(os.getpid())  # multiprocess mode: drop this worker's live gauges
        for fn in self._on_close:
            fn()

    def on_close(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` at the end of :meth:`close`."""
        self._on_close.append(fn)

    def begin_shutdown(self) -> None:
        """The process got its shutdown signal: answers say ``Connection: close`` from now on."""
        if self.shutdown_started is None:
            self.shutdown_started = time.monotonic()

    @property
    def draining(self) -> bool:
        return self.shutdown_started is not None

    def busy_threads(self) -> int:
        """Scoring pool calls still running (after shutdown: work whose answer nobody waits for)."""
        return self._busy.count

    # -- admission -----------------------------------------------------------------------------------
    def has_room(self) -> bool:
        """Whether a scoring slot is free now (no slot is taken: bodies are read before :meth:`try_admit`);
        False counts an ``overloaded`` rejection."""
        if self.inflight >= self.max_inflight:
            metrics.REJECTED.labels("overloaded").inc()
            return False
        return True

    def try_admit(self) -> bool:
        """Take one in-flight scoring slot; False when ``max_inflight`` are taken (answer
        :meth:`overloaded`)."""
        if self.inflight >= self.max_inflight:
            metrics.REJECTED.labels("overloaded").inc()
            return False
        self.inflight += 1
        return True

    def release(self) -> None:
        self.inflight = max(0, self.inflight - 1)

    def overloaded(self) -> ServiceError:
        """The answer to a scoring request :meth:`try_admit` refused (with ``retry_after``)."""
        return overloaded(self.max_inflight, self.settings.retry_after)

    # -- auth ----------------------------------------------------------------------------------------
    @property
    def auth_enabled(self) -> bool:
        return bool(self._keys)

    def check_key(self, presented: str | bytes | None) -> bool:
        """Constant-time comparison of ``presented`` against every configured key (no early exit)."""
        if not self._keys:
            return True
        if presented is None:
            return False
        got = presented.encode("utf-8", "surrogateescape") if isinstance(presented, str) else presented
        ok = False
        for key in self._keys:
            ok |= hmac.compare_digest(got, key)
        return ok

    # -- work ----------------------------------------------------------------------------------------
    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run CPU-bound ``fn(*args, **kwargs)`` in the scoring pool (never on the event loop)."""
        call = functools.partial(fn, *args, **kwargs) if kwargs else functools.partial(fn, *args)
        return await asyncio.get_running_loop().run_in_executor(self.executor, self._busy.call, call)

    async def decode(self, data: bytes | bytearray) -> dict[str, Any]:
        """A JSON request body as a document, within ``max_json_depth`` (large bodies off the loop)."""
        if len(data) > OFFLOOP_DECODE_BYTES:
            return await self.run(decode_json, data, self.settings.max_json_depth)
        return decode_json(data, self.settings.max_json_depth)

    async def resolve_golds(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Resolve the ``gold_ref``-only groups of ``doc`` from the cache tiers (missing refs absent)."""
        try:
            refs = engine.gold_refs_in(doc, self.limits)
        except Exception:  # malformed request: engine.score reports the precise error
            return {}
        if not refs:
            return {}
        return await self.cache.get_many(refs)

    def deadline(self, remaining: float | None = None) -> float | None:
        """The ``time.monotonic()`` deadline of a request starting now: ``request_timeout`` from now, or
        ``remaining`` seconds (the caller's own deadline, e.g. gRPC's) if sooner; ``None``: no limit."""
        timeout = self.settings.request_timeout or None
        if remaining is not None:
            timeout = remaining if timeout is None else min(timeout, remaining)
        return None if timeout is None else time.monotonic() + timeout

    async def score(
        self, doc: dict[str, Any], encode: Encode = True, deadline: float | None = None, sample: bool = True
    ) -> tuple[Any, Any]:
        """``engine.score`` off-loop with cached golds; new golds are cached. Returns (ScoreResult, the
        orjson-encoded body); ``encode=False`` skips the encoding (bytes ``b""``), a function encodes the
        body its way in the same pool call (what it returns comes back instead of bytes).
        ``deadline`` (``time.monotonic()``; default :meth:`deadline`): past it the core stops.
        With ``--inspect-sample`` on, the request and its response go to :attr:`samples` (unless ``sample``
        is False: the inspect page's own requests)."""
        if deadline is None:
            deadline = self.deadline()
        golds = await self.resolve_golds(doc)
        return await self._score_with(doc, golds, encode, deadline, sample)

    async def _score_with(
        self, doc: dict[str, Any], golds: dict[str, Any], encode: Encode, deadline: float | None, sample: bool
    ) -> tuple[Any, Any]:
        """:meth:`score` once the cached golds are resolved."""
        result, data, enc = await self.run(
            _timed_call, engine.score, encode, doc, golds=golds, limits=self.limits, deadline=deadline
        )
        return await self._scored(doc, result, data, enc, encode, sample)

    async def score_json(
        self, data: bytes | bytearray, on_decoded: Callable[[float], None], sample: bool = True
    ) -> tuple[Any, bytes]:
        """:meth:`decode` then :meth:`score` (encoded): one call in the scoring pool when no group sends only
        a ``gold_ref`` (the usual request; refs are resolved from the cache on the loop, as :meth:`score`
        does, then scored in a second call). ``on_decoded(t)`` is called with the ``time.perf_counter()``
        at which the document was decoded, on the loop, before any error of scoring is raised (an error of
        decoding is raised without it)."""
        deadline = self.deadline()  # from before the pool's queue and the decoding, as a timeout reads
        doc, decoded, scored = await self.run(self._decode_and_score, data, deadline)
        on_decoded(decoded)
        if isinstance(scored, list):  # the refs of gold_ref-only groups, read once in the pool thread
            golds = await self.cache.get_many(scored)
            return await self._score_with(doc, golds, True, deadline, sample)
        if isinstance(scored, Exception):
            raise scored
        result, body, enc = scored
        return await self._scored(doc, result, body, enc, True, sample)

    def _decode_and_score(
        self, data: bytes | bytearray, deadline: float | None
    ) -> tuple[dict[str, Any], float, Any]:
        """In a pool thread: (document, perf_counter when decoded, ``_timed_call``'s answer or the exception
        scoring raised; a list: the refs of groups that send only a ``gold_ref``, resolved on the loop)."""
        doc = decode_json(data, self.settings.max_json_depth)
        decoded = time.perf_counter()
        try:
            refs = engine.gold_refs_in(doc, self.limits)
        except Exception:  # malformed request: engine.score reports the precise error (as resolve_golds)
            refs = []
        if refs:
            return doc, decoded, refs
        try:
            scored = _timed_call(engine.score, True, doc, golds={}, limits=self.limits, deadline=deadline)
        except Exception as exc:
            return doc, decoded, exc
        return doc, decoded, scored

    async def _scored(
        self, doc: dict[str, Any], result: Any, data: Any, enc: float, encode: Encode, sample: bool
    ) -> tuple[Any, Any]:
        """What follows a scoring call: the encode stage, new golds cached, the request's metrics, the
        sample ring."""
        if encode is not False:
            metrics.STAGE_DURATION.labels("encode").observe(enc)
        if result.golds:
            await self.cache.put_many(result.golds)
        metrics.observe_stats(result.stats)
        if sample and self.samples.enabled:
            await self.run(self._keep_sample, doc, result, data if isinstance(data, bytes) else b"")
        return result, data

    def _keep_sample(self, doc: dict[str, Any], result: Any, data: bytes) -> None:
        """Encode a scored request (and its response unless already encoded) into the sample ring."""
        response = data or orjson.dumps(result.body, option=_DUMPS_OPTS)
        if self.samples.refuse(len(response)):
            return
        request = orjson.dumps(doc, option=_DUMPS_OPTS)
        preset = str(result.body.get("preset", ""))
        self.samples.add(request, response, preset, result.stats.groups, result.stats.rollouts)

    async def advantages(self, doc: dict[str, Any], encode: Encode = True) -> tuple[Any, Any]:
        """``engine.advantages`` off-loop; same return and ``encode`` as :meth:`score`."""
        result, data, enc = await self.run(_timed_call, engine.advantages, encode, doc, limits=self.limits)
        if encode is not False:
            metrics.STAGE_DURATION.labels("encode").observe(enc)
        metrics.observe_stats(result.stats)
        return result, data

    def presets_bytes(self) -> bytes:
        if self._presets is None:
            self._presets = orjson.dumps(engine.presets(), option=_DUMPS_OPTS)
        return self._presets

    def status(self) -> dict[str, Any]:
        return {
            "inflight": self.inflight,
            "max_inflight": self.max_inflight,
            "receiving": self.receiving,
            "uptime_seconds": round(time.time() - self.started_at, 3),
            "core": self.core,
            "gc_frozen_objects": gc.get_freeze_count(),
            "gc_threshold": list(gc.get_threshold()),
            "cache": self.cache.status(),
            "inspect": self.samples.status(),
            "limits": {
                **dataclasses.asdict(self.limits),
                "max_body_bytes": self.settings.max_body_bytes,
                "max_json_depth": self.settings.max_json_depth,
                "request_timeout": self.settings.request_timeout,
            },
        }
