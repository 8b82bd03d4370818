"""Gold-data records (tests/data/README.md) read into :class:`Example` s, every bad one reported by file:line.

The gold itself is read by the core (:func:`turnscore.core.gold.compile_gold`, the one reading of records
every endpoint uses): a record ``turnscore prepare`` accepts is one the service scores. The label each
trainer gets is the record without its prompt material (``{"id", "source", "gold", "accepted_values"}``,
compact JSON): the same ``gold_ref`` as the whole record, a fraction of its size.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from turnscore.core.errors import TurnScoreError
from turnscore.core.gold import compile_gold

from .tools import Catalogs, record_tools

__all__ = ["BadRecord", "Example", "read_examples"]

LABEL_KEYS = ("id", "source", "gold", "accepted_values")


@dataclass(frozen=True)
class BadRecord:
    """A record that cannot be prepared: where (``file:line``) and why."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass
class Example:
    """One gold record, ready for every trainer's writer."""

    id: str
    source: str
    question: str
    tools: list[dict[str, Any]]  # OpenAI function tools (prepare.tools)
    label: str  # compact JSON of the record's gold fields (LABEL_KEYS)
    gold_ref: str
    file: str
    line: int
    split: str = field(default="train")

    @property
    def tool_names(self) -> list[str]:
        return [t["function"]["name"] for t in self.tools]


def _lines(path: Path) -> Iterator[tuple[int, str, int]]:
    """(line number, text, its size in bytes) of each line."""
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, 1):
            yield n, raw.decode("utf-8", errors="replace"), len(raw)


def _example(obj: Any, path: Path, n: int, catalogs: Catalogs) -> Example:
    if not isinstance(obj, dict):
        raise ValueError(f"expected a gold-data record object, got {type(obj).__name__}")
    if "gold" not in obj:
        raise ValueError("not a gold-data record: no `gold` (the trace) key")
    try:
        compiled = compile_gold(obj, path="record", max_calls=None)
    except TurnScoreError as exc:
        raise ValueError(exc.message) from None
    rid, source, question = obj.get("id"), obj.get("source"), obj.get("question")
    if not isinstance(rid, str) or not rid:
        raise ValueError("id: expected a non-empty string")
    if not isinstance(source, str) or not source:
        raise ValueError("source: expected a non-empty string")
    if not isinstance(question, str) or not question.strip():
        raise ValueError("question: expected the prompt text (a non-empty string)")
    tools = record_tools(obj, path, catalogs)
    label = json.dumps({k: obj.get(k) for k in LABEL_KEYS}, ensure_ascii=False, separators=(",", ":"))
    return Example(rid, source, question, tools, label, compiled.ref, str(path), n)


def read_examples(
    paths: list[Path],
    catalogs: Catalogs,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[list[Example], list[BadRecord]]:
    """Every record of ``paths`` (in order) as an :class:`Example`, and every bad one (a duplicate ``id``
    too: the split is keyed by it). ``on_progress(nbytes)`` after each line, with the line's size."""
    examples: list[Example] = []
    bad: list[BadRecord] = []
    first_seen: dict[str, tuple[str, int]] = {}
    for path in paths:
        for n, text, size in _lines(path):
            if on_progress is not None:
                on_progress(size)
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except ValueError as exc:
                bad.append(BadRecord(str(path), n, f"not JSON ({exc})"))
            else:
                try:
                    ex = _example(obj, path, n, catalogs)
                except ValueError as exc:
                    bad.append(BadRecord(str(path), n, str(exc)))
                else:
                    if ex.id in first_seen:
                        f, ln = first_seen[ex.id]
                        bad.append(BadRecord(str(path), n, f"id {ex.id!r} repeats the record at {f}:{ln}"))
                    else:
                        first_seen[ex.id] = (str(path), n)
                        examples.append(ex)
    return examples, bad
