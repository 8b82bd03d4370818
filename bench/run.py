"""Benchmark runner: ``python -m bench.run <measurement> [options]`` (``make bench`` runs ``all``).

Measurements: core, native (the compiled core vs the Python one, side by side), reference (turnscore vs
the public MatchTIR reward function, whose code is read from ``--matchtir-ref DIR`` outside the repository;
skipped without it), http, tokens, ot, goldcache, replicas, sustained, plot, all. Every one prints a
markdown table and writes ``bench/results/<name>.json`` (with the machine it ran on). ``--quick`` runs a
tiny version of each (the smoke test uses it); its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from . import core

ALL = ("core", "native", "reference", "ot", "tokens", "http", "goldcache", "replicas", "sustained", "plot")


def _run(name: str, args: argparse.Namespace) -> None:
    out = Path(args.out) if args.out else None
    quick = args.quick
    if name == "core":
        if quick:
            core.run(("matchtir-km", "matchtir-ot"), ("mixed", "long"), 1, 2, 4, 1, out)
        else:
            core.run(repeats=args.repeats or 5, out_dir=out)
    elif name == "native":
        from . import native

        native.run(quick=quick, repeats=args.repeats or 5, out_dir=out)
    elif name == "reference":
        from . import reference

        reference.run(args.matchtir_ref, quick=quick, repeats=args.repeats or 5, out_dir=out)
    elif name == "ot":
        from . import ot_batch

        ot_batch.run(groups=4 if quick else 64, repeats=1 if quick else (args.repeats or 3), out_dir=out)
    elif name == "tokens":
        from . import tokens

        if quick:
            tokens.run(rows=8, length=256, loop_rows=8, repeats=1, out_dir=out)
        else:
            tokens.run(repeats=args.repeats or 3, out_dir=out)
    elif name == "http":
        from . import http

        http.run(quick=quick, out_dir=out)
    elif name == "goldcache":
        from . import goldcache

        goldcache.run(quick=quick, out_dir=out)
    elif name == "replicas":
        from . import replicas

        replicas.run(quick=quick, out_dir=out)
    elif name == "sustained":
        from . import sustained

        sustained.run(seconds=5.0 if quick else args.seconds, out_dir=out, core=args.core)
    elif name == "plot":
        from . import plot

        plot.run(out_dir=out)
    else:
        raise SystemExit(f"unknown measurement {name!r}; one of {', '.join(ALL)} or all")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    p.add_argument("what", nargs="+", help=f"one or more of: {', '.join(ALL)}, all")
    p.add_argument(
        "--quick", action="store_true", help="tiny sizes (harness smoke test; numbers meaningless)"
    )
    p.add_argument("--repeats", type=int, default=None, help="repeats per in-process measurement")
    p.add_argument("--seconds", type=float, default=180.0, help="duration of the sustained run")
    p.add_argument(
        "--core",
        default="auto",
        choices=("auto", "python", "native"),
        help="scoring core of the sustained run",
    )
    p.add_argument(
        "--matchtir-ref",
        default=None,
        metavar="DIR",
        help="directory holding the public MatchTIR reward code (tool.py), for `reference` "
        "(default: $TURNSCORE_BENCH_MATCHTIR_REF)",
    )
    p.add_argument("--out", default=None, help="results directory (default bench/results)")
    args = p.parse_args(argv)
    names = list(ALL) if "all" in args.what else args.what
    for name in names:
        t0 = time.perf_counter()
        _run(name, args)
        print(f"[{name}: {time.perf_counter() - t0:.0f}s]", flush=True)


if __name__ == "__main__":
    main()
