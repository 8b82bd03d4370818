"""Gold traces: from the shapes datasets carry to the API.md ``gold`` object.

Accepted inputs (an object or a JSON string of one):

- an API.md gold: ``{"calls": [...], "answer": ..., "accepted_values": ...}``;
- a per-turn gold: ``{"turns": [[call, ...], ...], "answer": ...}`` (calls flattened in turn order);
- a gold-data record (tests/data/README.md): ``{"gold": {"turns": ...}, "accepted_values":
  {"<turn>.<call>.<param>": [...]}}``;
- ``{"references": [gold, ...]}`` (several acceptable traces) or ``{"gold_ref": "sha256:..."}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["gold_from_record", "group_fields"]


def _calls_from_turns(turns: Any) -> tuple[list[Any], list[tuple[int, int]]]:
    calls: list[Any] = []
    where: list[tuple[int, int]] = []
    for t, turn in enumerate(turns or []):
        for c, call in enumerate(turn or []):
            calls.append(call)
            where.append((t, c))
    return calls, where


def gold_from_record(record: Mapping[str, Any] | str) -> dict[str, Any]:
    """The API.md ``gold`` object for a gold-data record, a per-turn gold or an API.md gold."""
    if isinstance(record, str):
        record = json.loads(record)
    if not isinstance(record, Mapping):
        raise TypeError(f"a gold trace must be an object, got {type(record).__name__}")
    if "calls" in record:
        return dict(record)
    inner = record.get("gold", record)
    if not isinstance(inner, Mapping):
        raise TypeError("record['gold'] must be an object")
    if "calls" in inner:
        gold = dict(inner)
        gold.setdefault("accepted_values", record.get("accepted_values") if record is not inner else None)
        return gold
    calls, where = _calls_from_turns(inner.get("turns"))
    gold = {"calls": calls, "answer": inner.get("answer")}
    av = record.get("accepted_values", inner.get("accepted_values"))
    if isinstance(av, Mapping) and av:
        per_call: list[dict[str, Any] | None] = [None] * len(calls)
        index = {tc: j for j, tc in enumerate(where)}
        for key, values in av.items():
            t, c, param = str(key).split(".", 2)
            j = index.get((int(t), int(c)))
            if j is None:
                continue
            slot = per_call[j] or {}
            slot[param] = values
            per_call[j] = slot
        gold["accepted_values"] = per_call
    elif isinstance(av, list):
        gold["accepted_values"] = av
    else:
        gold["accepted_values"] = None
    return gold


def group_fields(label: Any) -> dict[str, Any]:
    """The gold part of an API.md group (``gold``, ``references`` or ``gold_ref``) for a dataset label."""
    if isinstance(label, (bytes, bytearray)):
        label = label.decode()
    if isinstance(label, str):
        label = json.loads(label)
    if not isinstance(label, Mapping):
        raise TypeError(f"gold label must be an object or a JSON string of one, got {type(label).__name__}")
    if "gold_ref" in label and isinstance(label["gold_ref"], str):
        return {"gold_ref": label["gold_ref"]}
    if isinstance(label.get("references"), list):
        return {"references": [gold_from_record(r) for r in label["references"]]}
    return {"gold": gold_from_record(label)}
