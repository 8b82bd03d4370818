"""Transport-independent pieces shared by the sync and async clients: JSON encoding, chunking,
the bounded gold memory (gold_ref protocol), URL rotation and response merging."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ._version import __version__

try:  # optional speed-up (the ``fast`` extra): responses decode ~7x cheaper
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised by tests that hide it
    _orjson = None  # type: ignore[assignment]

USER_AGENT = f"turnscore-client/{__version__}"
DEFAULT_URL = "http://127.0.0.1:8000"


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    tolist = getattr(obj, "tolist", None)  # torch tensors and similar
    if callable(tolist):
        return tolist()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON; numpy scalars/arrays and tensors become plain numbers/lists; NaN is refused.

    Always the standard library: orjson would write NaN as ``null`` without a word, and telling such a
    ``null`` from a real one costs a walk over the whole body, which is what encoding costs anyway.
    """
    text = json.dumps(obj, default=_default, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode()


def loads(data: bytes) -> Any:
    """JSON text to Python (orjson when installed; the service never sends NaN, so both agree)."""
    return _orjson.loads(data) if _orjson is not None else json.loads(data)


def fingerprint(gold: Any) -> str:
    """Client-side identity of a gold trace as sent (canonical JSON); maps to the server's ``gold_ref``."""
    text = json.dumps(gold, default=_default, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def encode_body(body: Any, gzip_min_bytes: int | None) -> tuple[bytes, dict[str, str]]:
    data = dumps(body)
    headers = {"Content-Type": "application/json"}
    if gzip_min_bytes is not None and len(data) >= gzip_min_bytes:
        data = gzip.compress(data, compresslevel=5)
        headers["Content-Encoding"] = "gzip"
    return data, headers


def parse_urls(base_url: str | Sequence[str] | None) -> list[str]:
    """One URL, a comma-separated string or a list; ``None`` reads ``TURNSCORE_URL`` (else localhost:8000)."""
    if base_url is None:
        base_url = os.environ.get("TURNSCORE_URL") or DEFAULT_URL
    parts = base_url.split(",") if isinstance(base_url, str) else list(base_url)
    urls = [p.strip().rstrip("/") for p in parts if p and p.strip()]
    if not urls:
        raise ValueError("at least one base URL is required")
    for u in urls:
        if not u.startswith(("http://", "https://")):
            raise ValueError(f"base URL must start with http:// or https://: {u!r}")
    return urls


class UrlRing:
    """Round-robin over base URLs (thread-safe); every attempt, retries included, takes the next one."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self._cycle = itertools.cycle(urls)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            return next(self._cycle)


class GoldMemory:
    """Bounded LRU: fingerprint of a gold trace as sent -> the ``gold_ref`` the service answered for it."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._refs: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._refs)

    def get(self, fp: str) -> str | None:
        with self._lock:
            ref = self._refs.get(fp)
            if ref is not None:
                self._refs.move_to_end(fp)
            return ref

    def put(self, fp: str, ref: str) -> None:
        if self.max_entries <= 0:
            return
        with self._lock:
            self._refs[fp] = ref
            self._refs.move_to_end(fp)
            while len(self._refs) > self.max_entries:
                self._refs.popitem(last=False)

    def forget_refs(self, refs: Iterable[str]) -> None:
        drop = set(refs)
        with self._lock:
            for fp in [fp for fp, ref in self._refs.items() if ref in drop]:
                del self._refs[fp]

    def clear(self) -> None:
        with self._lock:
            self._refs.clear()


def normalize_groups(groups: Iterable[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, g in enumerate(groups):
        if isinstance(g, Mapping):
            out.append(dict(g))
        elif hasattr(g, "to_dict"):
            out.append(dict(g.to_dict()))
        else:
            raise TypeError(f"groups[{i}] must be a mapping (API.md group), got {type(g).__name__}")
    return out


def split(items: list[Any], size: int) -> list[list[Any]]:
    if not items:
        return [[]]
    return [items[i : i + size] for i in range(0, len(items), size)]


def common_fields(
    preset: str | None, config: Mapping[str, Any] | None, step: int | None, explain: bool | None
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if preset is not None:
        body["preset"] = preset
    if config:
        body["config"] = dict(config)
    if step is not None:
        body["step"] = int(step)
    if explain:
        body["explain"] = True
    return body


class ScoreChunk:
    """One request's worth of groups and the gold_ref bookkeeping for it.

    Groups whose full gold was sent before (and answered with a ``gold_ref``) go out as ``gold_ref`` only;
    on 409 ``unknown_gold_ref`` :meth:`restore` puts the full traces back for the refs the service misses.
    """

    def __init__(self, groups: list[dict[str, Any]], memory: GoldMemory | None) -> None:
        self.groups = groups
        self.memory = memory
        self.fps: list[str | None] = []
        self.as_ref: dict[int, str] = {}
        for i, g in enumerate(groups):
            fp = None
            if memory is not None and isinstance(g.get("gold"), Mapping) and "gold_ref" not in g:
                fp = fingerprint(g["gold"])
                ref = memory.get(fp)
                if ref is not None:
                    self.as_ref[i] = ref
            self.fps.append(fp)

    def wire_groups(self) -> list[dict[str, Any]]:
        out = []
        for i, g in enumerate(self.groups):
            ref = self.as_ref.get(i)
            if ref is None:
                out.append(g)
            else:
                w = {k: v for k, v in g.items() if k != "gold"}
                w["gold_ref"] = ref
                out.append(w)
        return out

    @property
    def refs_sent(self) -> int:
        return len(self.as_ref)

    def restore(self, missing: list[str]) -> bool:
        """Send full golds for groups whose ref is in ``missing`` (all ref'd groups if the list is empty).
        Returns whether anything changed (if not, resending would not help)."""
        miss = set(missing)
        hit = [i for i, ref in self.as_ref.items() if not miss or ref in miss]
        if self.memory is not None:
            self.memory.forget_refs(self.as_ref[i] for i in hit)
        for i in hit:
            del self.as_ref[i]
        return bool(hit)

    def learn(self, response: Mapping[str, Any]) -> None:
        if self.memory is None:
            return
        rgroups = response.get("groups")
        if not isinstance(rgroups, list) or len(rgroups) != len(self.groups):
            return
        for i, rg in enumerate(rgroups):
            fp = self.fps[i]
            if fp is None or i in self.as_ref or not isinstance(rg, Mapping):
                continue
            ref = rg.get("gold_ref")
            if isinstance(ref, str) and ref:
                self.memory.put(fp, ref)


def merge(responses: list[dict[str, Any]]) -> dict[str, Any]:
    if len(responses) == 1:
        return responses[0]
    merged = dict(responses[0])
    merged["groups"] = [g for r in responses for g in (r.get("groups") or [])]
    return merged


def parse_presets(body: Any) -> dict[str, dict[str, Any]]:
    """``GET /v1/presets`` as ``{name: settings}`` (accepts a mapping, ``{"presets": ...}`` or a list)."""
    if isinstance(body, Mapping) and "presets" in body:
        body = body["presets"]
    if isinstance(body, Mapping):
        return {str(k): dict(v) if isinstance(v, Mapping) else {"value": v} for k, v in body.items()}
    if isinstance(body, list):
        out: dict[str, dict[str, Any]] = {}
        for item in body:
            if isinstance(item, Mapping) and "name" in item:
                rest = {k: v for k, v in item.items() if k != "name"}
                settings = item.get("settings", item.get("config", rest))
                name = str(item["name"])
                out[name] = dict(settings) if isinstance(settings, Mapping) else {"value": settings}
        return out
    raise ValueError("unexpected /v1/presets answer")
