"""Shared helpers: machine description, timers, percentiles, tables, results JSON, a service subprocess."""

from __future__ import annotations

import contextlib
import gc
import os
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from tests.support.serve import ServeProcess

_LOAD_AT_IMPORT = os.getloadavg()  # the harness process started (other jobs share the machine)
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


# -- the machine ------------------------------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """What the numbers were measured on (and how busy it was: other jobs share the cores)."""
    mem = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) * 1024
    return {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "mem_bytes": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "packages": {
            p: _version(p) for p in ("numpy", "scipy", "pot", "orjson", "fastapi", "uvicorn", "httpx")
        },
        "loadavg_at_start": _LOAD_AT_IMPORT,
    }


# -- timing -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Timing:
    """Repeated measurements of one operation: CPU seconds of this thread and wall seconds."""

    cpu: list[float]
    wall: list[float]

    def summary(self) -> dict[str, float]:
        return {
            "cpu_best": min(self.cpu),
            "cpu_median": float(np.median(self.cpu)),
            "wall_best": min(self.wall),
            "wall_median": float(np.median(self.wall)),
            "repeats": len(self.cpu),
        }


def measure(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> Timing:
    """Time ``fn`` ``repeats`` times (after ``warmup`` calls), a full GC before each run.

    CPU time (``thread_time``) is what "per core" means and is less disturbed than wall time by other
    jobs on a shared machine; the GC before each run keeps one run's garbage out of the next.
    """
    for _ in range(warmup):
        fn()
    cpu, wall = [], []
    for _ in range(repeats):
        gc.collect()
        c0, w0 = time.thread_time(), time.perf_counter()
        fn()
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - w0)
    return Timing(cpu, wall)


def percentiles(xs: Sequence[float]) -> dict[str, float]:
    a = np.asarray(xs, dtype=float)
    if a.size == 0:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "mean": float("nan")}
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "mean": float(a.mean())}


# -- output -----------------------------------------------------------------------------------------


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if v != v:
            return "-"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.3g}"
    return str(v)


def table(rows: list[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A GitHub-markdown table (printed by every measurement, pasted into docs/PERFORMANCE.md)."""
    if not rows:
        return "(no rows)"
    cols = list(columns or rows[0].keys())
    cells = [[_cell(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[k]) for row in cells)) for k, c in enumerate(cols)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        lines.append("| " + " | ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(lines)


def write_result(name: str, payload: dict[str, Any], out_dir: Path | None = None) -> Path:
    """``bench/results/<name>.json`` with the machine description and the time of the run."""
    out_dir = out_dir or RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": name,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**machine(), "loadavg_at_end": os.getloadavg()},
        **payload,
    }
    path = out_dir / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    tmp.replace(path)
    return path


def report(
    name: str, title: str, rows: list[dict[str, Any]], extra: dict[str, Any], out_dir: Path | None
) -> None:
    print(f"\n## {title}\n")
    print(table(rows))
    path = write_result(name, {"title": title, "rows": rows, **extra}, out_dir)
    print(f"\n-> {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


# -- the service ------------------------------------------------------------------------------------


class Server(ServeProcess):
    """A ``turnscore serve`` subprocess on 127.0.0.1 (one worker process unless told otherwise): warnings
    only, no access log, ready when ``/readyz`` answers 200; output to ``log`` (else a temporary file)."""

    start_timeout = 60.0
    poll_interval = 0.2
    ready_path = "/readyz"

    def __init__(self, *args: str, log: Path | None = None) -> None:
        super().__init__(log, "--log-level", "warning", "--no-access-log", *args)

    def rss_bytes(self) -> int:
        """Resident memory of the server process (Linux)."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the server process has used so far (Linux)."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def servers(n: int, *args: str, log: Path | None = None) -> Iterator[list[Server]]:
    started: list[Server] = []
    try:
        for _ in range(n):
            started.append(Server(*args, log=log).start())
        yield started
    finally:
        for s in started:
            s.stop()
