"""``--inspect-sample N``: the bounded in-memory ring of scored requests and its API
(``GET /v1/inspect/samples``, ``GET /v1/inspect/samples/{id}``), over real ``turnscore serve`` processes,
and the ring itself (entries and bytes bounds)."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import orjson
import pytest
from turnscore.runtime.samples import SampleRing

from tests.support.serve import ServeProcess
from tests.ui.conftest import KEY, SAMPLE_BYTES, example

pytestmark = pytest.mark.timeout(180)
AUTH = {"authorization": f"Bearer {KEY}"}


def _request(step: int) -> dict[str, Any]:
    """A small real request (the example's first group) told apart by its ``step``."""
    doc = example()
    return {"preset": "matchtir-km", "step": step, "groups": doc["groups"][:1]}


def _listing(svc: ServeProcess) -> dict[str, Any]:
    r = svc.get("/v1/inspect/samples", headers=AUTH)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_off_by_default(open_service: ServeProcess) -> None:
    assert open_service.readyz()["inspect"]["max_entries"] == 0
    assert open_service.post("/v1/score", json=_request(1)).status_code == 200
    for path in ("/v1/inspect/samples", "/v1/inspect/samples/1-1"):
        r = open_service.get(path)
        assert r.status_code == 404, r.text
        error = r.json()["error"]
        assert error["code"] == "not_found" and "--inspect-sample" in error["message"], error
    assert open_service.readyz()["inspect"]["entries"] == 0


def test_needs_the_api_key(keyed_service: ServeProcess) -> None:
    for path in ("/v1/inspect/samples", "/v1/inspect/samples/1-1"):
        r = keyed_service.get(path)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", r.text
        wrong = keyed_service.get(path, headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
    assert keyed_service.get("/v1/inspect/samples", headers=AUTH).status_code == 200


def test_ring_keeps_the_last_n_with_their_responses(keyed_service: ServeProcess) -> None:
    sent: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
    before = {s["id"] for s in _listing(keyed_service)["samples"]}
    for step in range(100, 105):
        doc = _request(step)
        r = keyed_service.post("/v1/score", json=doc, headers=AUTH)
        assert r.status_code == 200, r.text
        sent[step] = (doc, r.json())
    listing = _listing(keyed_service)
    assert listing["max_entries"] == 3 and listing["entries"] == 3
    assert listing["bytes"] <= listing["max_bytes"] == SAMPLE_BYTES
    samples = listing["samples"]
    assert len(samples) == 3 and not before & {s["id"] for s in samples}
    # newest first: steps 104, 103, 102; each with the request as sent and the response as answered
    opened = [keyed_service.get(f"/v1/inspect/samples/{s['id']}", headers=AUTH).json() for s in samples]
    assert [o["request"]["step"] for o in opened] == [104, 103, 102]
    for info, o in zip(samples, opened, strict=True):
        doc, answer = sent[o["request"]["step"]]
        assert o["request"] == doc
        assert o["response"] == answer
        assert o["id"] == info["id"] and o["preset"] == "matchtir-km"
        assert (o["groups"], o["rollouts"]) == (1, len(doc["groups"][0]["rollouts"]))
        assert info["bytes"] == len(orjson.dumps(doc)) + len(orjson.dumps(answer))
    assert sum(s["bytes"] for s in samples) == listing["bytes"]
    # the oldest two were evicted
    old = keyed_service.get(f"/v1/inspect/samples/{samples[-1]['id'].split('-')[0]}-1", headers=AUTH)
    assert old.status_code == 404


def test_what_is_not_kept(keyed_service: ServeProcess) -> None:
    """Failed requests, requests marked by the page, and samples over the byte bound stay out."""
    first = _listing(keyed_service)
    bad = keyed_service.post("/v1/score", json={"groups": [{"id": "x"}]}, headers=AUTH)
    assert bad.status_code == 422
    marked = keyed_service.post("/v1/score", json=_request(7), headers={**AUTH, "x-turnscore-sample": "off"})
    assert marked.status_code == 200
    big = _request(8)
    big["groups"][0]["rollouts"].append({"text": "x" * (SAMPLE_BYTES + 1)})
    assert keyed_service.post("/v1/score", json=big, headers=AUTH).status_code == 200
    after = _listing(keyed_service)
    assert after["samples"] == first["samples"]
    assert after["skipped"] == first["skipped"] + 1


def test_page_files_are_public_and_the_api_is_not(keyed_service: ServeProcess) -> None:
    page = keyed_service.get("/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    files = {"ui.js": "text/javascript", "ui.css": "text/css", "example.json": "application/json"}
    for name, kind in files.items():
        r = keyed_service.get(f"/ui/{name}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind), name
    assert keyed_service.get("/ui/missing.js").status_code == 404
    assert keyed_service.get("/ui/../v1/presets").status_code in (401, 404)
    assert keyed_service.get("/v1/presets").status_code == 401
    slash = keyed_service.get("/ui/", follow_redirects=False)
    assert slash.status_code == 307 and slash.headers["location"] == "/ui"


def test_private_page(service_factory: Any) -> None:
    """Without /ui in the public paths the page and its files need the key too."""
    svc = service_factory(env={"TURNSCORE_API_KEYS": KEY, "TURNSCORE_PUBLIC_PATHS": "/healthz"})
    for path in ("/ui", "/ui/ui.js"):
        assert svc.get(path).status_code == 401, path
        assert svc.get(path, headers=AUTH).status_code == 200, path


@pytest.fixture
def service_factory(tmp_path: Any) -> Any:
    started: list[ServeProcess] = []

    def make(env: dict[str, str]) -> ServeProcess:
        svc = ServeProcess(tmp_path / f"svc-{len(started)}.log", "--no-access-log", env=env)
        started.append(svc)
        return svc.start(timeout=60)

    yield make
    for svc in started:
        svc.stop()


def test_grpc_score_is_kept_too(tmp_path: Any) -> None:
    """The ring is the runtime's: a gRPC Score is kept like an HTTP one, and listed over HTTP."""
    from turnscore_client.grpc import GrpcTurnScoreClient

    svc = ServeProcess(tmp_path / "grpc.log", "--no-access-log", "--inspect-sample", "2", grpc=True)
    svc.start(timeout=60)
    try:
        doc = _request(5)
        with GrpcTurnScoreClient(svc.target) as client:
            answer = client.score(doc["groups"], preset="matchtir-ot", step=5)
        listing = svc.get("/v1/inspect/samples").json()
        assert listing["entries"] == 1 and listing["samples"][0]["preset"] == "matchtir-ot"
        kept = svc.get(f"/v1/inspect/samples/{listing['samples'][0]['id']}").json()
        assert kept["request"]["step"] == 5
        assert [g["id"] for g in kept["request"]["groups"]] == [g["id"] for g in doc["groups"]]
        returns = [r["return"] for r in kept["response"]["groups"][0]["rollouts"]]
        assert returns == [r.raw["return"] for r in answer.groups[0].rollouts]
    finally:
        svc.stop()


# -- the ring itself ---------------------------------------------------------------------------------


def test_ring_bounds() -> None:
    ring = SampleRing(max_entries=4, max_bytes=100)
    assert ring.add(b"x" * 101, b"", "p", 1, 1) is None and ring.skipped == 1
    assert not ring.refuse(100) and ring.refuse(101) and ring.skipped == 2
    ids = [ring.add(b"a" * 30, b"b" * 10, "p", 1, 2) for _ in range(3)]  # 40 bytes each
    assert all(ids) and len(set(ids)) == 3
    status = ring.status()
    assert (status["entries"], status["bytes"]) == (2, 80)  # the first went to stay under 100 bytes
    assert ring.get(ids[0]) is None and ring.get(ids[2]) is not None
    for _ in range(6):
        ring.add(b"{}", b"{}", "p", 1, 1)
    assert ring.status()["entries"] == 4 and ring.status()["bytes"] == 16 and ring.skipped == 2
    assert ring.listing()["samples"][0]["id"].endswith("-9")


def test_ring_off_and_json() -> None:
    off = SampleRing(max_entries=0, max_bytes=100)
    assert not off.enabled and off.add(b"{}", b"{}", "p", 1, 1) is None and off.status()["entries"] == 0
    ring = SampleRing(max_entries=2, max_bytes=100_000)
    request = copy.deepcopy(_request(3))
    sid = ring.add(orjson.dumps(request), b'{"groups":[]}', "matchtir-km", 1, 4)
    assert sid is not None
    sample = ring.get(sid)
    assert sample is not None
    body = orjson.loads(sample.to_json())
    assert body["request"] == request and body["response"] == {"groups": []}
    assert body["id"] == sid and body["rollouts"] == 4


def test_readyz_reports_the_ring(keyed_service: ServeProcess) -> None:
    inspect = httpx.get(keyed_service.url + "/readyz", timeout=10).json()["inspect"]
    assert inspect["max_entries"] == 3 and inspect["max_bytes"] == SAMPLE_BYTES
    assert set(inspect) >= {"worker", "entries", "bytes", "skipped"}
