"""docker/compose.yaml and docker/prometheus: checked against the Dockerfile and the service's settings.

(No `docker compose` here: the file is read as YAML and its references are followed by hand.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.deploy import COMPOSE, REPO, Stage, settings_from_env


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for suffix in ("ms", "s", "m", "h"):
        if duration.endswith(suffix):
            return float(duration[: -len(suffix)]) * units[suffix]
    raise ValueError(duration)


def test_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"turnscore", "redis", "prometheus", "grafana"}
    for name, svc in compose["services"].items():
        image = svc.get("image", "")
        assert image and not image.endswith(":latest") and ":" in image, f"{name}: pinned image"


def test_turnscore_service_matches_the_image_and_settings(
    compose: dict[str, Any], settings_fields: set[str], dockerfile: tuple[dict[str, str], list[Stage]]
) -> None:
    svc = compose["services"]["turnscore"]
    assert (COMPOSE.parent / svc["build"]["context"] / svc["build"]["dockerfile"]).resolve() == (
        REPO / "docker" / "Dockerfile"
    )
    env = {k: str(v) for k, v in svc["environment"].items()}
    assert set(env) <= settings_fields, set(env) - settings_fields
    env["TURNSCORE_API_KEYS"] = ""  # ${TURNSCORE_API_KEYS:-} with nothing set
    settings = settings_from_env(env)
    published = {int(p.split(":")[1]) for p in svc["ports"]}
    assert published == {settings.port, settings.grpc_port}
    drain = 2 * settings.graceful_timeout + settings.grpc_drain_delay  # HTTP, then gRPC (docs/grpc.md)
    assert _seconds(svc["stop_grace_period"]) > drain, "the drain ends before SIGKILL"
    assert svc["read_only"] is True and "/tmp" in svc["tmpfs"]
    assert svc["depends_on"]["redis"]["condition"] == "service_healthy"
    # the Redis URL points at the compose service
    assert settings.redis_url == "redis://redis:6379/0"


def test_redis_is_an_lru_cache_without_persistence(compose: dict[str, Any]) -> None:
    cmd = compose["services"]["redis"]["command"]
    assert cmd[0] == "redis-server"
    pairs = dict(zip(cmd[1::2], cmd[2::2], strict=True))
    assert pairs["--maxmemory-policy"] == "allkeys-lru"
    assert pairs["--save"] == "" and pairs["--appendonly"] == "no"
    assert "healthcheck" in compose["services"]["redis"]


def test_prometheus_scrapes_turnscore(compose: dict[str, Any], get_routes: set[str]) -> None:
    prom = compose["services"]["prometheus"]
    (mount,) = prom["volumes"]
    src, dest, *_ = mount.split(":")
    assert f"--config.file={dest}" in prom["command"]
    config = yaml.safe_load((COMPOSE.parent / src).read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] in get_routes
    (static,) = job["static_configs"]
    port = compose["services"]["turnscore"]["environment"]["TURNSCORE_PORT"]
    assert static["targets"] == [f"turnscore:{port}"]


def test_grafana_datasource_points_at_prometheus(compose: dict[str, Any]) -> None:
    (ds,) = yaml.safe_load(
        (Path(COMPOSE.parent) / "grafana/provisioning/datasources/prometheus.yaml").read_text()
    )["datasources"]
    port = compose["services"]["prometheus"]["ports"][0].split(":")[1]
    assert ds["url"] == f"http://prometheus:{port}" and ds["type"] == "prometheus"
