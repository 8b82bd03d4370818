"""What a client call becomes on the wire, whatever the transport: groups split into chunks, the bounded
gold memory of the gold_ref protocol, request bodies, and the chunks' answers merged back."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from numbers import Integral
from typing import Any

from ._json import fingerprint
from .errors import InvalidArgumentError


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
    """The groups as dicts; :class:`InvalidArgumentError` for one group given alone or a non-group."""
    if isinstance(groups, Mapping):
        raise InvalidArgumentError(
            "groups", "expected a list of group dicts, got one dict (wrap a single group in a list: [group])"
        )
    if isinstance(groups, str | bytes) or not isinstance(groups, Iterable):
        raise InvalidArgumentError("groups", f"expected a list of group dicts, got {type(groups).__name__}")
    out: list[dict[str, Any]] = []
    for i, g in enumerate(groups):
        if isinstance(g, Mapping):
            out.append(dict(g))
        elif hasattr(g, "to_dict"):
            out.append(dict(g.to_dict()))
        else:
            raise InvalidArgumentError(
                f"groups[{i}]", f"expected a group dict (API.md group), got {type(g).__name__}"
            )
    return out


def split(items: list[Any], size: int) -> list[list[Any]]:
    if not items:
        return [[]]
    return [items[i : i + size] for i in range(0, len(items), size)]


def config_object(config: Any) -> dict[str, Any] | None:
    """``config`` as a dict (a mapping, or a JSON string of an object); else :class:`InvalidArgumentError`."""
    if config is None or isinstance(config, Mapping):
        return None if config is None else dict(config)
    if isinstance(config, str | bytes):
        try:
            value = json.loads(config)
        except ValueError:
            raise InvalidArgumentError(
                "config", f"expected a JSON object, got the string {config!r:.80}"
            ) from None
        if isinstance(value, dict):
            return value
        raise InvalidArgumentError("config", f"expected a JSON object, got JSON {type(value).__name__}")
    raise InvalidArgumentError("config", f"expected a dict of settings, got {type(config).__name__}")


def common_fields(
    preset: str | None, config: Mapping[str, Any] | str | None, step: int | None, explain: bool | None
) -> dict[str, Any]:
    """The top-level fields of a body, type-checked (:class:`InvalidArgumentError`)."""
    body: dict[str, Any] = {}
    if preset is not None:
        if not isinstance(preset, str):
            raise InvalidArgumentError("preset", f"expected a preset name (str), got {type(preset).__name__}")
        body["preset"] = preset
    settings = config_object(config)
    if settings:
        body["config"] = settings
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, Integral) or step < 0:
            raise InvalidArgumentError("step", f"expected an integer >= 0, got {step!r:.40}")
        body["step"] = int(step)
    if explain is not None and not isinstance(explain, bool):
        raise InvalidArgumentError("explain", f"expected True or False, got {type(explain).__name__}")
    if explain:
        body["explain"] = True
    return body


class ScoreChunk:
    """One request's worth of groups and the gold_ref bookkeeping for it.

    Groups whose full gold was sent before (and answered with a ``gold_ref``) go out as ``gold_ref`` only;
    on ``unknown_gold_ref`` (any transport) :meth:`restore` puts the full traces back for the refs missed.
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
