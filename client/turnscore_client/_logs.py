"""The request ``summary`` as trainer logs: ``{"turnscore/<field>": value}``, the same keys in every adapter.

The field list is :class:`~turnscore_client.types.Summary`'s (the one place on the client); the adapters
(TRL, verl, slime) log what :func:`summary_logs` gives. OpenRLHF's logs are built by the service
(``/v1/openrlhf``) from the same summary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any

from ._chunks import merge_summaries
from .types import Summary

__all__ = ["LOG_PREFIX", "SUMMARY_FIELDS", "merged_logs", "summary_logs"]

LOG_PREFIX = "turnscore/"
#: The fields of a ``/v1/score`` summary, in wire order (``turnscore/<field>`` in the trainers' logs).
SUMMARY_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Summary))


def summary_logs(summary: Summary | Mapping[str, Any] | None) -> dict[str, float]:
    """``{"turnscore/<field>": float}`` for every field the summary has (none without a summary: an older
    service)."""
    if summary is None:
        return {}
    values = summary.to_dict() if isinstance(summary, Summary) else summary
    return {LOG_PREFIX + name: float(values[name]) for name in SUMMARY_FIELDS if values.get(name) is not None}


def merged_logs(summaries: Iterable[Summary | Mapping[str, Any]]) -> dict[str, float]:
    """The logs of several requests' summaries taken together (as if their rollouts were one request:
    counts added, ratios recomputed, means weighted, the returns' std pooled)."""
    parts: list[Mapping[str, Any]] = [s.to_dict() if isinstance(s, Summary) else dict(s) for s in summaries]
    return summary_logs(merge_summaries(parts)) if parts else {}
