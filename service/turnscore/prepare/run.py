"""``turnscore prepare``: read every record, check it, split, then write the trainer's files.

Nothing is written unless every record is good (or ``skip_invalid``): the files go to a temporary folder
inside the output folder and are moved into place only once all are complete, so an interrupted run leaves
the earlier files (if any) as they were.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import openrlhf, slime, trl, verl
from .prompts import DEFAULT_SYSTEM_PROMPT
from .records import Example, read_examples
from .split import SPLITS, assign_splits
from .tools import Catalogs

__all__ = ["TRAINERS", "run"]

Writer = Callable[[list[Example], Path, "str | None"], tuple[list[str], list[str]]]
TRAINERS: dict[str, Writer] = {
    "verl": verl.write,
    "openrlhf": openrlhf.write,
    "trl": trl.write,
    "slime": slime.write,
}
MAX_ERRORS_SHOWN = 20


def _progress(console: Any, enabled: bool) -> Any:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("reading"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
    )


def _summary(examples: list[Example]) -> str:
    """Records per source and split, as an aligned table."""
    counts: Counter[tuple[str, str]] = Counter((ex.source, ex.split) for ex in examples)
    sources = sorted({ex.source for ex in examples})
    width = max([len("source"), *(len(s) for s in sources)])
    head = f"{'source':<{width}}  " + "  ".join(f"{s:>7}" for s in (*SPLITS, "total"))
    lines = [head]
    for src in [*sources, "all"]:
        row = [
            sum(c for (s, sp), c in counts.items() if sp == split and src in (s, "all")) for split in SPLITS
        ]
        lines.append(f"{src:<{width}}  " + "  ".join(f"{n:>7}" for n in (*row, sum(row))))
    return "\n".join(lines)


def _system_prompt(path: str | None) -> str:
    if path is None:
        return DEFAULT_SYSTEM_PROMPT
    return Path(path).read_text(encoding="utf-8").strip()


def _publish(tmp: Path, out: Path, files: list[str]) -> list[str]:
    """Move the files into ``out``; remove the file an earlier run wrote for a split now empty. Returns
    the empty splits."""
    for name in files:
        os.replace(tmp / name, out / name)
    written = {Path(f).stem: Path(f).suffix for f in files if Path(f).stem in SPLITS}
    ext = next(iter(written.values()))
    empty = [s for s in SPLITS if s not in written]
    for split in empty:
        (out / f"{split}{ext}").unlink(missing_ok=True)
    return empty


def run(
    trainer: str,
    inputs: list[str],
    output: str,
    *,
    split: float = 0.95,
    seed: int = 0,
    system_prompt: str | None = None,
    tools_catalog: str | None = None,
    skip_invalid: bool = False,
    progress: bool = True,
) -> int:
    """The command: returns the exit code (0 done, 1 bad records, 2 bad options)."""
    from rich.console import Console

    err = Console(stderr=True)

    def fail(message: str, code: int) -> int:
        err.print(f"turnscore prepare: {message}", markup=False, highlight=False, style="red")
        return code

    if trainer not in TRAINERS:
        return fail(f"--for must be one of {', '.join(TRAINERS)}, got {trainer!r}", 2)
    paths = [Path(p) for p in inputs]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        return fail(f"no such file: {', '.join(missing)}", 2)
    if not 0.0 <= split <= 1.0:
        return fail(f"--split must be within [0, 1], got {split}", 2)
    try:
        system = _system_prompt(system_prompt)
    except OSError as exc:
        return fail(f"--system-prompt: {exc}", 2)
    out = Path(output)
    if out.exists() and not out.is_dir():
        return fail(f"-o {out}: exists and is not a folder", 2)

    catalogs = Catalogs(Path(tools_catalog) if tools_catalog else None)
    bar = _progress(err, progress and err.is_terminal)
    with bar:
        task = bar.add_task("read", total=sum(p.stat().st_size for p in paths))
        examples, bad = read_examples(paths, catalogs, on_progress=lambda n: bar.advance(task, n))
    for b in bad[:MAX_ERRORS_SHOWN]:
        err.print(str(b), markup=False, highlight=False, soft_wrap=True)
    if len(bad) > MAX_ERRORS_SHOWN:
        err.print(f"... and {len(bad) - MAX_ERRORS_SHOWN} more bad records", highlight=False)
    if bad and not skip_invalid:
        return fail(f"{len(bad)} bad records, nothing written (--skip-invalid writes the others)", 1)
    if not examples:
        return fail("no records to write", 1)
    assign_splits(examples, split, seed)

    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".prepare-", dir=out))
    try:
        files, notes = TRAINERS[trainer](examples, tmp, system)
        empty = _publish(tmp, out, files)
    except RuntimeError as exc:  # pyarrow missing
        return fail(str(exc), 2)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(_summary(examples))
    if bad:
        print(f"skipped {len(bad)} bad records")
    for name in empty:
        print(f"note: no {name} records, no {name} file written")
    for note in notes:
        print(f"note: {note}")
    print(f"wrote {', '.join(str(out / f) for f in files)}")
    return 0
