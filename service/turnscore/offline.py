"""Offline scoring of JSONL files of requests (``turnscore score IN.jsonl [MORE.jsonl ...] -o OUT.jsonl``).

Each input line is one ``/v1/score`` request; each output line is ``{"line": n, "response": body}`` or
``{"line": n, "error": {...}}`` for the input line ``n`` (1-based), in input order, so nothing is lost
when a line is bad: a bad line is an error record, never the end of the run. With several input files each
record also carries ``"file"`` (the path as given). Blank lines are skipped.

The run keeps a gold cache, as the service does: every gold trace of a line that scored is kept (bounded
LRU, by count and bytes) under its ``gold_ref``, so a later line of the same file, or of a later file of the
same run, may send ``gold_ref`` instead of the trace. A ref no earlier line sent is an ``unknown_gold_ref``
error record.

``--summary``: mean and standard deviation (population) of the return R_i per preset and per source, where
the source of a group is its ``id`` up to the first ``:`` (``"bfcl:multi_turn_base_0"`` -> ``bfcl``); groups
whose id has no ``:`` count under ``-``; a row ``*`` per preset covers all its sources. It goes to stdout, or
to stderr when the records do (``-o -``).

On a terminal (only), a progress bar shows the rollouts scored, their rate, and an ETA estimated from the
share of the input bytes read so far (the number of rollouts ahead is not known without reading ahead).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from .cache import MemoryLRU
from .core import engine
from .core.errors import InvalidRequest, TurnScoreError
from .settings import Settings

#: The gold cache of a run: the service's tier-1 defaults (``cache_max_entries``, ``cache_max_bytes``).
GOLD_CACHE_ENTRIES: int = Settings.model_fields["cache_max_entries"].default
GOLD_CACHE_BYTES: int = Settings.model_fields["cache_max_bytes"].default
NO_SOURCE = "-"


@dataclass(slots=True)
class Defaults:
    """What the command line sets for lines that do not say: ``preset``/``step`` when the line has none,
    ``config`` overrides under the line's own, ``explain`` on every line."""

    preset: str | None = None
    config: dict[str, Any] | None = None
    step: int | None = None
    explain: bool = False

    def apply(self, req: dict[str, Any]) -> None:
        if self.preset is not None and req.get("preset") is None:
            req["preset"] = self.preset
        if self.config is not None:
            own = req.get("config")
            if own is None:
                req["config"] = dict(self.config)
            elif isinstance(own, Mapping):
                req["config"] = {**self.config, **own}
            # anything else stays as it is: the core reports it as an error at `config`
        if self.step is not None and req.get("step") is None:
            req["step"] = self.step
        if self.explain:
            req["explain"] = True


@dataclass(slots=True)
class Moments:
    """Running count, mean and sum of squared deviations (Welford) of the returns of one key."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, x: float) -> None:
        self.n += 1
        delta = x - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (x - self.mean)

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / self.n) if self.n else 0.0


def source_of(group_id: Any) -> str:
    """A group's source for ``--summary``: its string id up to the first ``:``, else ``-``."""
    if isinstance(group_id, str) and ":" in group_id:
        return group_id.split(":", 1)[0] or NO_SOURCE
    return NO_SOURCE


@dataclass(slots=True)
class OfflineSummary:
    lines: int = 0
    ok: int = 0
    failed: int = 0
    rollouts: int = 0
    malformed_calls: int = 0
    returns: dict[tuple[str, str], Moments] = field(default_factory=dict)  # (preset, source) -> moments

    def add_response(self, body: Mapping[str, Any]) -> None:
        preset = str(body.get("preset"))
        for group in body.get("groups") or []:
            returns = [float(r["return"]) for r in group.get("rollouts") or []]
            if not returns:
                continue
            for key in ((preset, source_of(group.get("id"))), (preset, "")):  # "": every source of the preset
                moments = self.returns.setdefault(key, Moments())
                for x in returns:
                    moments.add(x)

    def table(self) -> str:
        """The ``--summary`` table: one row per preset and source, then the preset's row (source ``*``)."""
        rows = [("preset", "source", "rollouts", "mean_return", "std_return")]
        for (preset, source), m in sorted(
            self.returns.items(), key=lambda kv: (kv[0][0], kv[0][1] == "", kv[0][1])
        ):
            rows.append((preset, source or "*", str(m.n), f"{m.mean:.6g}", f"{m.std:.6g}"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
            for r in rows
        ]
        return "\n".join(line.rstrip() for line in lines) + "\n"


class OfflineScorer:
    """Scores lines one at a time, with the run's gold cache and the counts of :class:`OfflineSummary`."""

    def __init__(
        self,
        defaults: Defaults | None = None,
        *,
        cache_entries: int = GOLD_CACHE_ENTRIES,
        cache_bytes: int = GOLD_CACHE_BYTES,
    ) -> None:
        self.defaults = defaults or Defaults()
        self.golds = MemoryLRU(cache_entries, cache_bytes)
        self.summary = OfflineSummary()

    def score_line(self, raw: bytes) -> dict[str, Any]:
        """One input line to its output record (``response`` or ``error``); never raises for a bad line."""
        self.summary.lines += 1
        try:
            result = self._score(raw)
        except TurnScoreError as exc:
            self.summary.failed += 1
            return exc.to_dict()
        except Exception as exc:  # a core bug must not end a long run: the line is an error record
            self.summary.failed += 1
            return {"error": {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"}}
        self.summary.ok += 1
        self.summary.rollouts += result.stats.rollouts
        self.summary.malformed_calls += result.stats.malformed_calls
        self.summary.add_response(result.body)
        return {"response": result.body}

    def _score(self, raw: bytes) -> engine.ScoreResult:
        try:
            req = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest("", f"line is not valid JSON: {exc}") from None
        if isinstance(req, dict):
            self.defaults.apply(req)
        known = {}
        for ref in engine.gold_refs_in(req):
            gold = self.golds.get(ref)
            if gold is not None:
                known[ref] = gold
        result = engine.score(req, golds=known)
        for gold in result.golds.values():
            self.golds.put(gold)
        return result


def iter_lines(fh: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    for n, line in enumerate(fh, start=1):
        if line.strip():
            yield n, line


def score_file(
    src: IO[bytes],
    dst: IO[bytes],
    scorer: OfflineScorer,
    *,
    name: str | None = None,
    on_line: Callable[[int, dict[str, Any]], None] | None = None,
) -> None:
    """Score every line of ``src`` into ``dst`` (records carry ``"file": name`` when ``name`` is given);
    ``on_line(n, record)`` is called after each line."""
    head = {} if name is None else {"file": name}
    for n, raw in iter_lines(src):
        record = scorer.score_line(raw)
        dst.write(orjson.dumps({**head, "line": n, **record}) + b"\n")
        if on_line is not None:
            on_line(n, record)


def _progress(console: Any, enabled: bool) -> Any:
    """The progress bar: rollouts scored, their rate, and an ETA from the share of the input bytes read."""
    from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
    from rich.text import Text

    class Rollouts(ProgressColumn):
        def render(self, task: Task) -> Text:
            n = int(task.fields.get("rollouts", 0))
            elapsed = task.elapsed or 0.0
            rate = f"{n / elapsed:,.0f}/s" if elapsed > 0 else "-/s"
            return Text(f"{n:,} rollouts  {rate}", style="progress.data.speed")

    return Progress(
        TextColumn("scoring"),
        BarColumn(),
        Rollouts(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
    )


def _parse_config(config_json: str | None) -> dict[str, Any] | None:
    if config_json is None:
        return None
    try:
        config = orjson.loads(config_json)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"--config is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ValueError(f"--config must be a JSON object, got {type(config).__name__}")
    return config


def run(
    input_paths: list[str],
    output_path: str,
    *,
    preset: str | None,
    config_json: str | None,
    step: int | None,
    explain: bool,
    progress: bool,
    summary: bool = False,
    cache_entries: int = GOLD_CACHE_ENTRIES,
) -> int:
    """The ``turnscore score`` command: returns the exit code (1 when any line failed, 2 on bad options)."""
    import os
    import sys

    from rich.console import Console

    err = Console(stderr=True)
    try:
        config = _parse_config(config_json)
        if input_paths.count("-") > 1:
            raise ValueError("stdin ('-') can be read once")
        for path in input_paths:
            if path != "-" and not os.path.isfile(path):
                raise ValueError(f"no such file: {path}")
    except ValueError as exc:
        err.print(f"turnscore score: {exc}", markup=False, highlight=False, style="red")
        return 2
    scorer = OfflineScorer(Defaults(preset, config, step, explain), cache_entries=cache_entries)
    sizes = [os.path.getsize(p) if p != "-" else None for p in input_paths]
    total = None if None in sizes else sum(s or 0 for s in sizes)
    bar = _progress(err, progress and err.is_terminal)
    several = len(input_paths) > 1
    dst = sys.stdout.buffer if output_path == "-" else open(output_path, "wb")  # noqa: SIM115
    try:
        with bar:
            task = bar.add_task("score", total=total, rollouts=0)
            done_bytes = 0
            for path, size in zip(input_paths, sizes, strict=True):
                src = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
                prefix = f"{path}:" if several else "line "

                def on_line(
                    n: int,
                    record: dict[str, Any],
                    src: IO[bytes] = src,
                    prefix: str = prefix,
                    base: int = done_bytes,
                ) -> None:
                    if "error" in record:
                        _print_error(err, f"{prefix}{n}", record["error"])
                    read = base + src.tell() if total is not None else None
                    bar.update(task, completed=read, rollouts=scorer.summary.rollouts)

                try:
                    score_file(src, dst, scorer, name=path if several else None, on_line=on_line)
                finally:
                    if src is not sys.stdin.buffer:
                        src.close()
                done_bytes += size or 0
    finally:
        if dst is not sys.stdout.buffer:
            dst.close()
        else:
            dst.flush()
    s = scorer.summary
    err.print(
        f"{s.lines} lines: {s.ok} scored ({s.rollouts} rollouts, {s.malformed_calls} malformed calls), "
        f"{s.failed} failed",
        highlight=False,
    )
    if summary:
        out = sys.stderr if output_path == "-" else sys.stdout
        out.write(s.table())
        out.flush()
    return 1 if s.failed else 0


def _print_error(console: Any, where: str, error: Mapping[str, Any]) -> None:
    details = error.get("details")
    path = details.get("path") if isinstance(details, dict) else None
    message = str(error.get("message"))
    at = f" at {path}" if path and not message.startswith(f"{path}:") else ""
    hint = ""
    if error.get("code") == "unknown_gold_ref":
        hint = " (no earlier line of this run sent these traces)"
    console.print(
        f"{where}: {error.get('code')}{at}: {message}{hint}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
