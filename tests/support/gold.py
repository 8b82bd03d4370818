"""The gold-trace records every suite and benchmark reads: :func:`gold_records`.

Two sets, one record format (``id``, ``source``, ``license``, ``gold: {turns, answer}``,
``accepted_values``, see tests/data/README.md):

- the full set, 3,918 traces in one JSONL file per source, when it is present: ``$TURNSCORE_GOLD_DIR``, else
  ``data/gold`` of a ``shared`` folder beside the repository (a development checkout's layout);
- else the sample vendored in the repository, ``tests/data/gold_sample.jsonl`` (25 records of each file of the
  full set, 175 in all, with the entries of ``tools_catalog.json`` they name), so that a clone alone passes
  its tests.

Standard library only (the trainer environments read it too).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "tests" / "data" / "gold_sample.jsonl"


def full_set_dir() -> Path | None:
    """The directory of the full set (``$TURNSCORE_GOLD_DIR``, else ``../shared/data/gold``) if present."""
    path = Path(os.environ.get("TURNSCORE_GOLD_DIR") or REPO.parent / "shared" / "data" / "gold")
    return path if path.is_dir() and any(path.glob("*.jsonl")) else None


def gold_files(sample: bool = False) -> list[Path]:
    """The JSONL files :func:`gold_records` reads: the full set's, else (or with ``sample``) the sample."""
    full = None if sample else full_set_dir()
    return sorted(full.glob("*.jsonl")) if full is not None else [SAMPLE]


def tools_catalog(sample: bool = False) -> Path:
    """The tool catalog beside :func:`gold_files` (records whose ``tools`` is null name entries of it in
    ``meta.tools_ref``): the full set's ``tools_catalog.json``, else the sample's."""
    full = None if sample else full_set_dir()
    return (full if full is not None else SAMPLE.parent) / "tools_catalog.json"


def num_calls(record: dict[str, Any]) -> int:
    return sum(len(turn) for turn in record["gold"]["turns"])


def gold_records(
    per_source: int | None = None, *, source: str = "", min_calls: int = 0, sample: bool = False
) -> list[dict[str, Any]]:
    """The gold-trace records of :func:`gold_files`, in file order (read afresh on every call).

    - ``source``: only records whose ``source`` starts with it (``"bfcl_v4/multi_turn"``);
    - ``min_calls``: only records of at least that many gold calls;
    - ``per_source``: at most that many records of each source family (``source`` up to its ``/``) of each
      file, the first ones;
    - ``sample``: the vendored sample even when the full set is present (small, fixed inputs).
    """
    out: list[dict[str, Any]] = []
    for path in gold_files(sample):
        taken: Counter[str] = Counter()
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                record = json.loads(line)
                if not record.get("source", "").startswith(source) or num_calls(record) < min_calls:
                    continue
                if per_source is not None:
                    family = record.get("source", path.name).split("/")[0]
                    if taken[family] >= per_source:
                        continue
                    taken[family] += 1
                out.append(record)
    return out
