"""The service image (docker/Dockerfile), run under podman as an orchestrator runs it: ``make test-image``.

Two containers of the image, each checked the same way:

- ``default``: the image's own settings (one worker), only the ports chosen;
- ``hardened``: what docker/compose.yaml and k8s/ ask for: read-only root filesystem with a tmpfs on /tmp
  only (no podman-provided tmpfs on /run or /var/tmp), all capabilities dropped, no-new-privileges, and
  ``TURNSCORE_WORKERS=2`` (the Prometheus multiprocess directory must go to the tmpfs).

Checks: every process runs as a non-root user without capabilities; /healthz, /readyz (which says the
compiled core runs) and the image's HEALTHCHECK answer; a score over HTTP and over gRPC (the client package
against the container's ports), for every preset, equals the core's answer computed in this process; the
root filesystem is read-only and the service does not need it writable; SIGTERM during a request answers it
and exits 0 within the graceful timeout. Not collected by ``make test`` (outside tests/).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from turnscore_client import TurnScoreClient
from turnscore_client.grpc import GrpcTurnScoreClient

from tests.support.gold import gold_records
from tests.support.probes import parse_metrics
from tests.support.workloads import heavy_request, real_requests, weather_gold, weather_rollouts
from tests_image.podman import Container, image_config

#: TURNSCORE_GRACEFUL_TIMEOUT of the containers under test (the SIGTERM test's request takes ~1 s)
GRACEFUL = 10.0
#: SIGTERM: exit within the graceful timeout plus one second (HTTP and gRPC drains, drain delay included)
EXIT_WITHIN = GRACEFUL + 1.0

HARDENED = (
    "--read-only",
    "--read-only-tmpfs=false",
    "--tmpfs",
    "/tmp:rw,mode=1777,size=64m",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
)
CONFIGS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "default": ((), {}),
    "hardened": (HARDENED, {"TURNSCORE_WORKERS": "2"}),
}


@pytest.fixture(scope="module", params=list(CONFIGS))
def container(request: pytest.FixtureRequest) -> Iterator[Container]:
    flags, env = CONFIGS[request.param]
    c = Container(*flags, env={"TURNSCORE_GRACEFUL_TIMEOUT": str(GRACEFUL), **env})
    try:
        yield c.start()
    finally:
        c.remove()


@pytest.fixture(scope="module")
def groups() -> list[dict[str, Any]]:
    """Real gold traces with rollouts of mixed quality in the three input forms, and the weather group."""
    request = real_requests(gold_records(per_source=2, sample=True), 1, seed=7)[0]
    weather = {"id": "weather", "gold": weather_gold(), "rollouts": weather_rollouts()}
    return [*request["groups"], weather]


def test_image_metadata() -> None:
    config = image_config()["Config"]
    user = str(config.get("User", ""))
    assert user and user.split(":")[0] not in ("", "0", "root"), f"image USER is {user!r}: must be non-root"
    assert user.split(":")[0].isdigit(), f"image USER {user!r}: numeric, so runAsNonRoot can verify it"
    assert config.get("Entrypoint") == ["turnscore", "serve"], config.get("Entrypoint")
    assert config.get("StopSignal") == "SIGTERM", config.get("StopSignal")


def test_processes_are_non_root_without_capabilities(container: Container) -> None:
    out = container.python(
        "import glob\n"
        "for path in glob.glob('/proc/[0-9]*/status'):\n"
        "    try: fields = dict(l.split(':', 1) for l in open(path) if ':' in l)\n"
        "    except OSError: continue\n"
        "    print(fields['Name'].strip(), fields['Uid'].split()[1], fields['CapEff'].strip())\n"
    ).stdout
    rows = [line.split() for line in out.splitlines()]
    assert any(name == "turnscore" for name, _, _ in rows), f"no turnscore process in the container:\n{out}"
    root = [r for r in rows if r[1] == "0"]
    assert not root, f"processes running as root: {root}"
    capable = [r for r in rows if int(r[2], 16) != 0]
    assert not capable, f"processes with effective capabilities: {capable}"


def test_probes_answer(container: Container) -> None:
    r = httpx.get(container.url + "/healthz", timeout=5.0)
    assert r.status_code == 200, r.text
    r = httpx.get(container.url + "/readyz", timeout=5.0)
    assert r.status_code == 200, f"/readyz: {r.status_code} {r.text}"
    assert r.json()["core"] == "native", "the image ships the compiled core (turnscore_native) and runs it"
    health = TurnScoreClient(container.url).health(ready=True)
    assert health is not None
    # the image's HEALTHCHECK command, run inside the container as the orchestrator would
    image = image_config()
    check = image.get("Healthcheck") or image["Config"].get("Healthcheck")
    assert check, "the image has no HEALTHCHECK (podman keeps it only with `podman build --format docker`)"
    cmd = check["Test"][1:] if check["Test"][0] == "CMD" else ["sh", "-c", check["Test"][1]]
    done = container.exec(*cmd, check=False)
    assert done.returncode == 0, f"HEALTHCHECK {cmd} failed: {done.stderr[-2000:]}"


def test_score_over_http_and_grpc_equals_the_core(container: Container, groups: list[dict[str, Any]]) -> None:
    with TurnScoreClient.local_mode() as local:
        presets = sorted(local.presets())
        expected = {p: local.score(groups, preset=p, explain=True) for p in presets}
    assert len(presets) >= 2, presets
    returns = [r for g in expected[presets[0]].returns for r in g]
    assert len(set(returns)) > 1, f"the workload should give different rewards, got {returns}"
    with TurnScoreClient(container.url, timeout=60.0) as http, GrpcTurnScoreClient(container.target) as rpc:
        assert sorted(http.presets()) == presets
        for preset in presets:
            over_http = http.score(groups, preset=preset, explain=True)
            assert over_http == expected[preset], f"HTTP answer for {preset} differs from the core's"
            over_grpc = rpc.score(groups, preset=preset, explain=True)
            assert over_grpc == expected[preset], f"gRPC answer for {preset} differs from the core's"


def test_root_filesystem(container: Container) -> None:
    """The hardened container's root is read-only and /tmp writable; the service needs nothing else."""
    probe = container.python(
        "import os, tempfile\n"
        "for d in ('/', '/usr/local/lib', '/tmp'):\n"
        "    try: tempfile.TemporaryFile(dir=d).close(); print(d, 'writable')\n"
        "    except OSError as e: print(d, 'read-only' if e.errno == 30 else e)\n"
    ).stdout
    state = dict(line.split(" ", 1) for line in probe.splitlines())
    assert state["/tmp"] == "writable", probe
    if "--read-only" in container.flags:
        assert state["/"] == "read-only" and state["/usr/local/lib"] == "read-only", probe
    # metrics are written (to the multiprocess directory on the tmpfs with several workers) and read back
    group = {"id": "w", "gold": weather_gold(), "rollouts": weather_rollouts()}
    with TurnScoreClient(container.url, timeout=30.0) as http:
        for _ in range(4):
            http.score([group])
    metrics = parse_metrics(httpx.get(container.url + "/metrics", timeout=10.0).text)
    assert metrics.value("turnscore_groups_scored_total") >= 4, "/metrics does not count the scored groups"
    if container.env.get("TURNSCORE_WORKERS", "1") != "1":
        dirs = container.exec("ls", "/tmp").stdout.split()
        found = any(d.startswith("turnscore-prometheus-") for d in dirs)
        assert found, f"no Prometheus multiprocess directory in /tmp: {dirs}"


def test_sigterm_drains_and_exits_zero_in_time(container: Container) -> None:
    """Last test of each container (it stops it): SIGTERM while a ~1-2 s request is being scored (48 x 16
    OT rollouts of many Sinkhorn iterations, ~1 s of CPU on the compiled core); the request is answered,
    then the container exits 0 within the graceful timeout (plus 1 s)."""

    def in_flight() -> float:
        text = httpx.get(container.url + "/metrics", timeout=5.0).text
        return parse_metrics(text).value("turnscore_requests_in_flight")

    idle = in_flight()
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(
            httpx.post, container.url + "/v1/score", json=heavy_request(groups=48, rollouts=16), timeout=60.0
        )
        deadline = time.monotonic() + 10.0
        while in_flight() <= idle and not answer.done():
            assert time.monotonic() < deadline, "the request was not in flight within 10 s"
            time.sleep(0.02)
        assert not answer.done(), f"the request finished before SIGTERM: {answer.result().status_code}"
        code, elapsed = container.terminate(timeout=EXIT_WITHIN + 10)
        response = answer.result(timeout=10.0)
    logs = container.logs()
    assert response.status_code == 200, f"in-flight request got {response.status_code} {response.text[:300]}"
    assert code == 0, f"exit code {code} after SIGTERM:\n{logs}"
    assert elapsed <= EXIT_WITHIN, f"took {elapsed:.1f} s after SIGTERM (limit {EXIT_WITHIN:g} s):\n{logs}"
