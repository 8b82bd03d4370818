"""Server-side cost of issue 18's ``/v1/score`` request, without a client or sockets.

The app (``create_app``, ``--core native`` unless told) is driven as ASGI in this process: one ``receive``
giving the whole body, a ``send`` that keeps the bytes. Reports, per request (median of ``repeats``, CPU of
the process, a single scoring thread so the pool is measured too): the whole ASGI call, and the same pieces
timed alone: ``orjson.loads`` of the body, the depth check (the active core's), ``engine.score`` (golds
supplied as the server has them cached), ``orjson.dumps`` of the response, ``metrics.observe_stats``.
``http shell`` = ASGI - the scoring core (``engine.score``). ``python -m bench.http_profile [--core native]
[--rollouts 512] [--repeats 20] [--cprofile]``.

``--servers ROOT [ROOT ...]``: real ``turnscore serve --core native`` processes instead, one per source
tree ``ROOT`` (its ``service/`` first on ``PYTHONPATH``: e.g. the main checkout against this worktree, for a
before/after side by side), the request sent ``--requests`` times per repeat to each, alternated (who goes
first too); per server: p50 wall latency, server CPU per request (``/proc``), and both over the in-process
``engine.score`` CPU and a bare ``orjson.loads`` of the body measured between repeats; then each later
server against the first, repeat by repeat (the ratio of their medians in the same repeat: min / median /
max over repeats).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import time
from collections.abc import Callable
from typing import Any

import orjson

from .native import issue_request


async def _asgi_call(app: Any, body: bytes) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/score",
        "raw_path": b"/v1/score",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }
    sent = False
    status = 0
    out = bytearray()

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            out.extend(message.get("body", b""))

    await app(scope, receive, send)
    return status, bytes(out)


def _cpu(fn: Callable[[], Any], repeats: int) -> list[float]:
    xs = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        xs.append(time.process_time() - t0)
    return xs


def _servers(roots: list[str], body: bytes, repeats: int, requests: int, rollouts: int) -> None:
    import contextlib
    import os

    import httpx
    from turnscore.core import engine

    from .common import Server, percentiles
    from .http import HEADERS

    doc = orjson.loads(body)
    lat: dict[str, list[float]] = {r: [] for r in roots}
    cpu: dict[str, list[float]] = {r: [] for r in roots}
    rep_lat: dict[str, list[float]] = {r: [] for r in roots}  # median latency of each repeat
    core_cpu: list[float] = []
    core_wall: list[float] = []
    client_cpu: list[float] = []
    loads_cpu: list[float] = []
    with contextlib.ExitStack() as stack:
        procs = {}
        for root in roots:
            srv = Server("--core", "native")
            path = os.pathsep.join([f"{root}/service", f"{root}/client", os.environ.get("PYTHONPATH", "")])
            srv.env["PYTHONPATH"] = path
            stack.callback(srv.stop)
            procs[root] = srv.start()
        client = stack.enter_context(httpx.Client(timeout=300.0))
        for srv in procs.values():  # warm-up
            for _ in range(2):
                client.post(srv.url + "/v1/score", content=body, headers=HEADERS).raise_for_status()
        engine.score(orjson.loads(body))
        for rep in range(repeats):
            for root in roots if rep % 2 == 0 else roots[::-1]:  # who goes first alternates
                srv = procs[root]
                c0, k0 = srv.cpu_seconds(), time.process_time()
                here = []
                for _ in range(requests):
                    t0 = time.perf_counter()
                    r = client.post(srv.url + "/v1/score", content=body, headers=HEADERS)
                    r.raise_for_status()
                    here.append(time.perf_counter() - t0)
                lat[root] += here
                rep_lat[root].append(statistics.median(here))
                cpu[root].append((srv.cpu_seconds() - c0) / requests)
                client_cpu.append((time.process_time() - k0) / requests)
            w0, c0 = time.perf_counter(), time.process_time()
            engine.score(orjson.loads(body))
            core_wall.append(time.perf_counter() - w0)
            core_cpu.append(time.process_time() - c0)
            loads_cpu += _cpu(lambda: orjson.loads(body), 3)
    del doc
    core, floor = statistics.median(core_cpu), statistics.median(loads_cpu)
    wall = statistics.median(core_wall)
    print(
        f"in-process engine.score (native, + loads): {core * 1e3:.2f} ms CPU, {wall * 1e3:.2f} ms wall; "
        f"orjson.loads {floor * 1e3:.3f} ms CPU; "
        f"client CPU {statistics.median(client_cpu) * 1e3:.1f} ms/request"
    )
    for root in roots:
        p50 = percentiles(lat[root])["p50"]
        c = statistics.median(cpu[root])
        print(
            f"{root}: p50 {p50 * 1e3:.1f} ms, server CPU {c * 1e3:.1f} ms/request "
            f"({c * 1e6 / rollouts:.1f} us/rollout); p50/in-process CPU {p50 / core:.2f}x, "
            f"p50/in-process wall {p50 / wall:.2f}x, "
            f"server CPU/in-process {c / core:.2f}x, p50/orjson {p50 / floor:.1f}x, "
            f"shell CPU {(c - core) * 1e6 / rollouts:.1f} us/rollout"
        )
    first = roots[0]
    for root in roots[1:]:
        for what, series in (("p50 latency", rep_lat), ("server CPU", cpu)):
            ratios = sorted(b / a for a, b in zip(series[first], series[root], strict=True))
            print(
                f"{root} / {first}, {what} per repeat: min {ratios[0]:.3f}, "
                f"median {statistics.median(ratios):.3f}, max {ratios[-1]:.3f} ({len(ratios)} repeats)"
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--core", default="native")
    ap.add_argument("--rollouts", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--cprofile", action="store_true", help="profile the ASGI calls (main thread only)")
    ap.add_argument("--servers", nargs="+", metavar="ROOT", help="real servers from these source trees")
    ap.add_argument("--requests", type=int, default=5, help="--servers: requests per repeat per server")
    args = ap.parse_args()
    if args.servers:
        body = orjson.dumps(issue_request(args.rollouts))
        _servers(args.servers, body, args.repeats, args.requests, args.rollouts)
        return

    from turnscore import metrics
    from turnscore.core import engine
    from turnscore.http.app import create_app
    from turnscore.runtime import Runtime
    from turnscore.runtime.decode import document_depth
    from turnscore.settings import Settings

    settings = Settings(core=args.core, scoring_threads=1)
    runtime = Runtime(settings)
    app = create_app(settings, runtime)
    body = orjson.dumps(issue_request(args.rollouts))
    n = args.rollouts
    loop = asyncio.new_event_loop()
    loop.run_until_complete(runtime.start())
    status, resp = loop.run_until_complete(_asgi_call(app, body))
    assert status == 200, resp[:500]
    doc = orjson.loads(body)
    golds = loop.run_until_complete(runtime.resolve_golds(doc))
    result = engine.score(doc, golds=golds, limits=runtime.limits)

    def asgi() -> None:
        loop.run_until_complete(_asgi_call(app, body))

    pieces: dict[str, Callable[[], Any]] = {
        "asgi (whole request)": asgi,
        "orjson.loads": lambda: orjson.loads(body),
        "depth check": lambda: document_depth(doc),
        "gold_refs_in": lambda: engine.gold_refs_in(doc, runtime.limits),
        "engine.score": lambda: engine.score(orjson.loads(body), golds=golds, limits=runtime.limits),
        "orjson.dumps": lambda: orjson.dumps(result.body, option=orjson.OPT_SERIALIZE_NUMPY),
        "observe_stats": lambda: metrics.observe_stats(result.stats),
    }
    times: dict[str, list[float]] = {k: [] for k in pieces}
    for _ in range(args.repeats):  # interleaved, so the load is shared
        for k, fn in pieces.items():
            times[k] += _cpu(fn, 1)
    med = {k: statistics.median(v) for k, v in times.items()}
    med["engine.score"] -= med["orjson.loads"]
    for k, v in med.items():
        print(f"{k:24s} {v * 1e3:8.3f} ms  {v * 1e6 / n:7.2f} us/rollout")
    shell = med["asgi (whole request)"] - med["engine.score"]
    print(f"{'http shell':24s} {shell * 1e3:8.3f} ms  {shell * 1e6 / n:7.2f} us/rollout")
    print(
        f"asgi / engine.score {med['asgi (whole request)'] / med['engine.score']:.2f}x; "
        f"asgi / orjson.loads {med['asgi (whole request)'] / med['orjson.loads']:.1f}x"
    )
    if args.cprofile:
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(args.repeats):
            asgi()
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)
    loop.run_until_complete(runtime.close())


if __name__ == "__main__":
    main()
