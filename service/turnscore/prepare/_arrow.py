"""pyarrow, the one optional dependency of ``turnscore prepare`` (verl and TRL write Parquet)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["json_array", "messages_type", "pyarrow", "write_parquet"]


def pyarrow() -> Any:
    """The ``pyarrow`` module, or a clear error naming the extra that installs it."""
    try:
        import pyarrow as pa
    except ImportError:
        raise RuntimeError(
            "writing Parquet needs pyarrow: pip install 'turnscore[prepare]' (or pip install pyarrow)"
        ) from None
    return pa


def json_array(values: list[Any]) -> Any:
    """An Arrow ``json`` extension array: ``datasets`` reads it back as Python objects (its ``Json``
    feature), so per-row objects of any shape need no common struct type."""
    pa = pyarrow()
    storage = pa.array([json.dumps(v, ensure_ascii=False) for v in values], type=pa.string())
    return pa.ExtensionArray.from_storage(pa.json_(), storage)


def messages_type() -> Any:
    """The Arrow type of a chat prompt: a list of ``{role, content}``."""
    pa = pyarrow()
    return pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


def write_parquet(columns: dict[str, Any], path: Path) -> None:
    pa = pyarrow()
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)
