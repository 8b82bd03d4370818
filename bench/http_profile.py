"""Server-side cost of issue 18's ``/v1/score`` request, without a client or sockets.

The app (``create_app``, ``--core native`` unless told) is driven as ASGI in this process: one ``receive``
giving the whole body, a ``send`` that keeps the bytes. Reports, per request (median of ``repeats``, CPU of
the process, a single scoring thread so the pool is measured too): the whole ASGI call, and the same pieces
timed alone: ``orjson.loads`` of the body, the depth check, ``engine.score`` (golds supplied as the server
has them cached), ``orjson.dumps`` of the response, ``metrics.observe_stats``. ``http shell`` = ASGI - the
scoring core (``engine.score``). ``python -m bench.http_profile [--core native] [--rollouts 512]
[--repeats 20] [--cprofile]``.
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--core", default="native")
    ap.add_argument("--rollouts", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--cprofile", action="store_true", help="profile the ASGI calls (main thread only)")
    args = ap.parse_args()

    from turnscore import metrics
    from turnscore.core import engine
    from turnscore.http.app import create_app
    from turnscore.runtime import Runtime
    from turnscore.runtime.decode import value_depth
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
        "depth check": lambda: value_depth(doc),
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
