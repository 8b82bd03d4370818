"""Gold labels as datasets carry them, to the gold part of an API.md group.

The service reads gold (API.md): a gold trace (``{"calls" | "turns", "answer", "accepted_values"}``) or a
whole gold-data record (tests/data/README.md: ``{"id", "source", ..., "gold": {"turns", "answer"},
"accepted_values"}``), with one set of rules for every endpoint and transport. So these helpers do not
rewrite gold: they decode JSON strings, check the outer shape and pass the object through; a mistyped key
is refused by the service with its path (422), never read as "no gold".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .errors import ClientUsageError

__all__ = ["gold_from_record", "group_fields"]

_REF_KEYS = ("references", "gold_ref", "gold_refs")


def _decoded(label: Any, what: str) -> Any:
    if isinstance(label, bytes | bytearray):
        label = label.decode()
    if isinstance(label, str):
        try:
            return json.loads(label)
        except ValueError:
            raise ClientUsageError.at(what, f"expected JSON of a gold object, got {label!r:.80}") from None
    return label


def gold_from_record(record: Mapping[str, Any] | str | bytes) -> dict[str, Any]:
    """The API.md ``gold`` for a gold-data record, a gold trace, or a JSON string of either: the object
    itself (the service reads records; the record and its ``gold`` have one ``gold_ref``)."""
    record = _decoded(record, "gold")
    if not isinstance(record, Mapping):
        raise ClientUsageError.at(
            "gold", f"expected a gold trace or gold-data record object, got {type(record).__name__}"
        )
    return dict(record)


def group_fields(label: Any) -> dict[str, Any]:
    """The gold part of an API.md group for a dataset label: ``{"gold": ...}`` for a trace or a record,
    the label itself when it holds ``references`` / ``gold_ref`` / ``gold_refs``, ``{"references": [...]}``
    for a list of traces."""
    label = _decoded(label, "label")
    if isinstance(label, list):
        return {"references": [gold_from_record(r) for r in label]}
    if not isinstance(label, Mapping):
        raise ClientUsageError.at(
            "label", f"expected a gold object or a JSON string of one, got {type(label).__name__}"
        )
    if any(k in label for k in _REF_KEYS):
        return dict(label)
    return {"gold": gold_from_record(label)}
