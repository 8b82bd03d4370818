"""What a client call becomes on the wire, whatever the transport: groups split into chunks, the bounded
gold memory of the gold_ref protocol, request bodies, and the chunks' answers merged back."""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from ._args import config_arg, explain_arg, groups_arg, preset_arg, step_arg
from ._json import fingerprint


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
    """The ``groups`` argument as plain dicts (:class:`~turnscore_client.ClientUsageError` if it is not a
    list of group dicts)."""
    return groups_arg(groups)


def split(items: list[Any], size: int) -> list[list[Any]]:
    if not items:
        return [[]]
    return [items[i : i + size] for i in range(0, len(items), size)]


def common_fields(preset: Any, config: Any, step: Any, explain: Any) -> dict[str, Any]:
    """The request fields every chunk shares, from the method's arguments (checked: a wrong type raises
    :class:`~turnscore_client.ClientUsageError`; ``config`` may be a string holding a JSON object)."""
    body: dict[str, Any] = {}
    preset, config, step = preset_arg(preset), config_arg(config), step_arg(step)
    if preset is not None:
        body["preset"] = preset
    if config:
        body["config"] = config
    if step is not None:
        body["step"] = step
    explain = explain_arg(explain)
    if explain:
        body["explain"] = explain
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


_GROUP_PATH = re.compile(r"^groups\[(\d+)\]")


def merge_warnings(responses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chunks' ``warnings`` as one request's: one entry per code (counts added, the first path kept),
    paths renumbered from chunk-local group indices to the merged list's."""
    merged: dict[str, dict[str, Any]] = {}
    offset = 0
    for r in responses:
        for w in r.get("warnings") or ():
            if not isinstance(w, Mapping):
                continue
            path = str(w.get("path") or "")
            m = _GROUP_PATH.match(path)
            if m is not None:
                path = f"groups[{int(m.group(1)) + offset}]{path[m.end() :]}"
            code = str(w.get("code") or "")
            seen = merged.get(code)
            if seen is None:
                merged[code] = {**w, "path": path}
            else:
                seen["count"] = int(seen.get("count") or 0) + int(w.get("count") or 0)
        offset += len(r.get("groups") or ())
    return list(merged.values())


_SUMMARY_COUNTS = (
    "calls",
    "malformed_calls",
    "gold_calls",
    "matched_calls",
    "exact_calls",
    "redundant_calls",
    "covered_gold",
    "missed_gold",
)


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def merge_summaries(parts: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``summary`` of several chunks' rollouts together, from each chunk's: counts added, ratios
    recomputed from the counts, means weighted by rollouts (``advantage_abs_mean`` by turns: one advantage
    per turn), the population std of the returns from each part's mean and std."""
    n = sum(int(p.get("rollouts") or 0) for p in parts)
    turns = [round(float(p.get("turns_mean") or 0.0) * int(p.get("rollouts") or 0)) for p in parts]

    def weighted(key: str, weights: list[int] | list[float]) -> float:
        return _ratio(
            sum(float(p.get(key) or 0.0) * w for p, w in zip(parts, weights, strict=True)), sum(weights)
        )

    sizes = [int(p.get("rollouts") or 0) for p in parts]
    out: dict[str, Any] = {"rollouts": n, "turns_mean": _ratio(sum(turns), n)}
    if all("calls" in p for p in parts):
        for key in _SUMMARY_COUNTS:
            out[key] = sum(int(p.get(key) or 0) for p in parts)
        precision = _ratio(out["matched_calls"], out["calls"])
        recall = _ratio(out["covered_gold"], out["gold_calls"])
        answered = sum(
            round(float(p.get("answer_rate") or 0.0) * k) for p, k in zip(parts, sizes, strict=True)
        )
        out.update(
            call_precision=precision,
            call_recall=recall,
            call_f1=_ratio(2 * precision * recall, precision + recall),
            redundant_ratio=_ratio(out["redundant_calls"], out["calls"]),
            answer_rate=_ratio(answered, n),
        )
    out["outcome_mean"] = weighted("outcome_mean", sizes)
    mean = weighted("return_mean", sizes)
    second = _ratio(
        sum(
            k * (float(p.get("return_std") or 0.0) ** 2 + float(p.get("return_mean") or 0.0) ** 2)
            for p, k in zip(parts, sizes, strict=True)
        ),
        n,
    )
    out["return_mean"] = mean
    out["return_std"] = math.sqrt(max(second - mean * mean, 0.0))
    out["advantage_abs_mean"] = weighted("advantage_abs_mean", turns)
    return out


def merge(responses: list[dict[str, Any]]) -> dict[str, Any]:
    if len(responses) == 1:
        return responses[0]
    merged = dict(responses[0])
    merged["groups"] = [g for r in responses for g in (r.get("groups") or [])]
    if any("warnings" in r for r in responses):
        merged["warnings"] = merge_warnings(responses)
    summaries = [r.get("summary") for r in responses]
    if all(isinstance(s, Mapping) for s in summaries):
        merged["summary"] = merge_summaries([s for s in summaries if isinstance(s, Mapping)])
    else:
        merged.pop("summary", None)  # an older service: no summary rather than one of the first chunk
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
