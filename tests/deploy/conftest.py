"""Fixtures of the deployment checks (Dockerfile, compose, k8s manifests, dashboard, scale-out)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.deploy import DOCKERFILE, K8S, Stage, parse_dockerfile


@pytest.fixture(scope="session")
def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def settings_fields() -> set[str]:
    """Every ``TURNSCORE_*`` variable the service reads (one per ``Settings`` field)."""
    from turnscore.settings import Settings

    return {f"TURNSCORE_{name.upper()}" for name in Settings.model_fields}


@pytest.fixture(scope="session")
def get_routes() -> set[str]:
    """Paths the real HTTP app answers to GET."""
    from turnscore.http.app import create_app
    from turnscore.settings import Settings

    app = create_app(Settings())
    out: set[str] = set()
    for route in app.routes:
        methods = getattr(route, "methods", None) or set()
        if "GET" in methods:
            out.add(route.path)  # type: ignore[attr-defined]
    return out


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """The objects of each entry point under k8s/ (rendered by tests/support/kustomize_lite.py)."""
    from tests.support.kustomize_lite import build

    entries = {"k8s": K8S, "prometheus-operator": K8S / "overlays" / "prometheus-operator"}
    return {name: build(path) for name, path in entries.items()}
