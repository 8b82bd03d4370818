"""Operations: admission control (503), graceful SIGTERM, API keys, body timeout, several workers."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest

from tests.support.probes import raw_http_request, read_http_response, wait_until
from tests.support.serve import ServiceFactory
from tests.support.workloads import heavy_request, score_request

pytestmark = pytest.mark.timeout(120)


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return True
    return False


def test_heap_frozen_at_startup_unless_disabled(service_factory: ServiceFactory) -> None:
    """``gc.freeze()`` after start-up keeps the imported modules out of every full GC collection."""
    frozen = service_factory(name="frozen").readyz()["gc_frozen_objects"]
    assert frozen > 10_000  # numpy, scipy, POT, FastAPI, ... (hundreds of thousands of objects)
    assert service_factory("--no-gc-freeze", name="unfrozen").readyz()["gc_frozen_objects"] == 0
    assert (
        service_factory(env={"TURNSCORE_GC_FREEZE": "false"}, name="env").readyz()["gc_frozen_objects"] == 0
    )


def test_gc_threshold_set_at_startup(service_factory: ServiceFactory) -> None:
    """``--gc-threshold`` sets the young generation's threshold; the older ones keep Python's."""
    assert service_factory(name="gc-default").readyz()["gc_threshold"] == [50_000, 10, 10]
    custom = service_factory("--gc-threshold", "2000", name="gc-2000")
    assert custom.readyz()["gc_threshold"] == [2000, 10, 10]
    python_default = service_factory(env={"TURNSCORE_GC_THRESHOLD": "0"}, name="gc-python")
    assert python_default.readyz()["gc_threshold"] == [700, 10, 10]


def test_overload_answers_503_with_retry_after(service_factory: ServiceFactory) -> None:
    svc = service_factory("--max-inflight", "1", "--retry-after", "3")
    body = orjson.dumps(score_request())
    # a slow upload holds no slot (its body is not here yet): the other requests are scored
    slow = raw_http_request(svc.port, "/v1/score", body)
    slow.sendall(body[:10])
    assert wait_until(lambda: svc.readyz()["receiving"] == 1)
    assert svc.readyz()["inflight"] == 0
    assert svc.post("/v1/score", content=body).status_code == 200

    # a request being scored holds the only slot
    heavy: list[int] = []
    worker = threading.Thread(
        target=lambda: heavy.append(
            svc.post("/v1/score", json=heavy_request(groups=96, rollouts=16)).status_code
        )
    )
    worker.start()
    assert wait_until(lambda: svc.readyz()["inflight"] == 1)
    r = svc.post("/v1/score", content=body)
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "3"
    err = r.json()["error"]
    assert err["code"] == "overloaded" and err["details"]["limit"] == "max_inflight"
    assert svc.get("/healthz").status_code == 200  # probes are not subject to admission
    assert svc.metric("turnscore_rejected_requests_total", reason="overloaded") >= 1
    # a body completed while the slot is taken is refused too (admission happens once the body is read)
    slow.sendall(body[10:])
    status, _, data = read_http_response(slow)
    slow.close()
    assert status == 503, data
    worker.join(60)
    assert heavy == [200]
    assert wait_until(lambda: svc.readyz()["inflight"] == 0)
    assert svc.post("/v1/score", content=body).status_code == 200


def test_sigterm_finishes_in_flight_request_then_exits_0(service_factory: ServiceFactory) -> None:
    svc = service_factory("--graceful-timeout", "20")
    body = orjson.dumps(score_request())
    slow = raw_http_request(svc.port, "/v1/score", body)
    slow.sendall(body[:10])
    assert wait_until(lambda: svc.readyz()["receiving"] == 1)

    svc.signal(signal.SIGTERM)
    assert wait_until(lambda: _refused(svc.port), timeout=10), "still accepting connections after SIGTERM"
    assert svc.proc is not None and svc.proc.poll() is None, "exited before the in-flight request finished"

    slow.sendall(body[10:])
    status, headers, data = read_http_response(slow)
    slow.close()
    assert status == 200, data
    assert json.loads(data)["groups"][0]["rollouts"][0]["turn_rewards"] == [0.75, 0.0]
    assert headers.get("connection", "").lower() == "close"
    assert svc.wait(20) == 0
    assert "Finished server process" in svc.logs()


def test_api_keys(service_factory: ServiceFactory, tmp_path: pytest.TempPathFactory) -> None:
    key_file = tmp_path / "keys.txt"  # type: ignore[operator]
    key_file.write_text("# comment\n\nkey-from-file\n")
    svc = service_factory(
        "--api-key-file",
        str(key_file),
        "--body-timeout",
        "1",
        env={"TURNSCORE_API_KEYS": "key-one, key-two"},
    )
    req = score_request()
    r = svc.post("/v1/score", json=req)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert r.headers["www-authenticate"].startswith("Bearer")
    for bad in ("Bearer nope", "Bearer key-one2", "Basic a2V5LW9uZQ==", "key-one", "Bearer"):
        assert svc.post("/v1/score", json=req, headers={"Authorization": bad}).status_code == 401, bad
    for key in ("key-one", "key-two", "key-from-file"):
        ok = svc.post("/v1/score", json=req, headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200, (key, ok.text)
    assert svc.get("/v1/presets").status_code == 401
    for path in ("/healthz", "/readyz", "/metrics"):
        assert svc.get(path).status_code == 200, path
    assert svc.metric("turnscore_rejected_requests_total", reason="unauthorized") >= 1

    # a body that does not arrive within --body-timeout is answered 408 (slow clients cannot hold slots)
    body = orjson.dumps(req)
    slow = raw_http_request(svc.port, "/v1/score", body, {"Authorization": "Bearer key-one"})
    slow.sendall(body[:5])
    status, _, data = read_http_response(slow)
    slow.close()
    assert status == 408 and json.loads(data)["error"]["code"] == "request_timeout"


def test_probes_can_be_protected(service_factory: ServiceFactory) -> None:
    svc = service_factory(env={"TURNSCORE_API_KEYS": "k", "TURNSCORE_PUBLIC_PATHS": "/healthz"})
    assert svc.get("/healthz").status_code == 200
    assert svc.get("/metrics").status_code == 401
    assert svc.get("/metrics", headers={"Authorization": "Bearer k"}).status_code == 200


def test_two_workers_share_metrics(service_factory: ServiceFactory) -> None:
    svc = service_factory("--workers", "2")

    def serving_pids() -> set[int]:
        return {
            json.loads(line)["pid"]
            for line in svc.logs().splitlines()
            if line.startswith("{") and '"turnscore.access"' in line and '"/v1/score"' in line
        }

    # both workers up first; then requests four at a time, so that a busy worker leaves the next
    # connection to the other one (sequential requests may all land on one worker of a loaded machine)
    deadline = time.monotonic() + 60
    while svc.logs().count("Application startup complete") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    n = 0
    with ThreadPoolExecutor(4) as pool:
        while n < 200 and (n < 8 or len(serving_pids()) < 2):
            codes = list(
                pool.map(lambda _: svc.post("/v1/score", json=score_request()).status_code, range(4))
            )
            assert codes == [200] * 4
            n += 4
    assert len(serving_pids()) == 2, "the kernel never handed a request to the second worker"
    # each worker counted what it served; /metrics (whichever worker answers) sums all workers
    for _ in range(3):
        assert svc.metric("turnscore_rollouts_scored_total") == 4 * n
        assert svc.metric("turnscore_request_duration_seconds_count", endpoint="/v1/score", status="200") == n
    started = time.monotonic()
    assert svc.stop() == 0
    assert time.monotonic() - started < 30
