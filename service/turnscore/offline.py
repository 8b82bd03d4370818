"""Offline scoring of a JSONL file of requests (``turnscore score IN.jsonl -o OUT.jsonl``).

Each input line is one ``/v1/score`` request; each output line is ``{"line": n, "response": body}`` or
``{"line": n, "error": {...}}`` for the input line ``n`` (1-based), in input order, so nothing is lost
when a line is bad. Blank lines are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

from .core import engine
from .core.errors import InvalidRequest, TurnScoreError


@dataclass(slots=True)
class OfflineSummary:
    lines: int = 0
    ok: int = 0
    failed: int = 0
    rollouts: int = 0
    malformed_calls: int = 0


def score_line(
    raw: bytes, preset: str | None, config: dict[str, Any] | None, step: int | None, explain: bool
) -> tuple[dict[str, Any], engine.ScoreResult | None]:
    """One input line to its output record; a bad line gives an ``error`` record, never an exception."""
    try:
        try:
            req = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest("", f"line is not valid JSON: {exc}") from None
        if isinstance(req, dict):
            if preset is not None and req.get("preset") is None:
                req["preset"] = preset
            if config is not None:
                req["config"] = {**config, **(req.get("config") or {})}
            if step is not None and req.get("step") is None:
                req["step"] = step
            if explain:
                req["explain"] = True
        result = engine.score(req)
    except TurnScoreError as exc:
        return exc.to_dict(), None
    return {"response": result.body}, result


def iter_lines(fh: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    for n, line in enumerate(fh, start=1):
        if line.strip():
            yield n, line


def score_file(
    src: IO[bytes],
    dst: IO[bytes],
    *,
    preset: str | None = None,
    config: dict[str, Any] | None = None,
    step: int | None = None,
    explain: bool = False,
    on_line: Callable[[int, dict[str, Any]], None] | None = None,
) -> OfflineSummary:
    """Score every line of ``src`` into ``dst``; ``on_line(n, record)`` is called after each line."""
    summary = OfflineSummary()
    for n, raw in iter_lines(src):
        record, result = score_line(raw, preset, config, step, explain)
        summary.lines += 1
        if result is None:
            summary.failed += 1
        else:
            summary.ok += 1
            summary.rollouts += result.stats.rollouts
            summary.malformed_calls += result.stats.malformed_calls
        dst.write(orjson.dumps({"line": n, **record}) + b"\n")
        if on_line is not None:
            on_line(n, record)
    return summary


def run(
    input_path: str,
    output_path: str,
    *,
    preset: str | None,
    config_json: str | None,
    step: int | None,
    explain: bool,
    progress: bool,
) -> int:
    """The ``turnscore score`` command: returns the exit code (1 when any line failed)."""
    import os
    import sys

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    err = Console(stderr=True)
    config = None
    if config_json is not None:
        try:
            config = orjson.loads(config_json)
        except orjson.JSONDecodeError as exc:
            err.print(f"[red]--config is not valid JSON: {exc}[/red]")
            return 2
        if not isinstance(config, dict):
            err.print("[red]--config must be a JSON object[/red]")
            return 2
    src = sys.stdin.buffer if input_path == "-" else open(input_path, "rb")  # noqa: SIM115
    dst = sys.stdout.buffer if output_path == "-" else open(output_path, "wb")  # noqa: SIM115
    total = os.path.getsize(input_path) if input_path != "-" else None
    bar = Progress(
        TextColumn("scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not progress,
    )

    def on_line(n: int, record: dict[str, Any]) -> None:
        if "error" in record:
            e = record["error"]
            path = (e.get("details") or {}).get("path") if isinstance(e.get("details"), dict) else None
            where = f" at {path}" if path else ""
            err.print(
                f"line {n}: {e['code']}{where}: {e['message']}", markup=False, highlight=False, soft_wrap=True
            )
        bar.update(task, completed=src.tell() if total is not None else n)

    try:
        with bar:
            task = bar.add_task("score", total=total)
            summary = score_file(
                src, dst, preset=preset, config=config, step=step, explain=explain, on_line=on_line
            )
    finally:
        if src is not sys.stdin.buffer:
            src.close()
        if dst is not sys.stdout.buffer:
            dst.close()
    err.print(
        f"{summary.lines} lines: {summary.ok} scored ({summary.rollouts} rollouts, "
        f"{summary.malformed_calls} malformed calls), {summary.failed} failed",
        highlight=False,
    )
    return 1 if summary.failed else 0
