"""docs/deploy.md names only files, make targets and settings that exist, and the figures it quotes."""

from __future__ import annotations

import re

from tests.support.deploy import REPO

DOC = REPO / "docs" / "deploy.md"


def test_paths_exist() -> None:
    text = DOC.read_text()
    paths = set(re.findall(r"`((?:docker|k8s|tests|mk|docs)/[\w./-]+)`", text))
    paths |= set(re.findall(r"-[fk] ((?:docker|k8s)/[\w./-]*)", text))
    assert len(paths) >= 8
    missing = sorted(p for p in paths if not (REPO / p.rstrip("/")).exists())
    assert not missing, missing


def test_make_targets_exist() -> None:
    text = DOC.read_text()
    targets = set(re.findall(r"make ([a-z][\w-]*)", text))
    defined = set()
    for mk in [REPO / "Makefile", *sorted((REPO / "mk").glob("*.mk"))]:
        defined |= set(re.findall(r"^([a-z][\w-]*):", mk.read_text(), flags=re.M))
    assert targets and not targets - defined, targets - defined


def test_settings_named_exist(settings_fields: set[str]) -> None:
    named = set(re.findall(r"TURNSCORE_[A-Z_]+", DOC.read_text()))
    client_side = {"TURNSCORE_URL"}  # read by the client library, not the service
    assert not named - settings_fields - client_side, named - settings_fields - client_side


def test_drain_arithmetic_quoted_matches_the_manifests() -> None:
    """The numbers the doc quotes (preStop 5, graceful 20, delay 1, grace 60) are the manifests' numbers."""
    import yaml

    text = DOC.read_text()
    deploy = yaml.safe_load((REPO / "k8s/base/deployment.yaml").read_text())
    config = yaml.safe_load((REPO / "k8s/base/configmap.yaml").read_text())["data"]
    pod = deploy["spec"]["template"]["spec"]
    grace = pod["terminationGracePeriodSeconds"]
    pre_stop = pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][1]
    graceful = config["TURNSCORE_GRACEFUL_TIMEOUT"]
    delay = config["TURNSCORE_GRPC_DRAIN_DELAY"]
    quoted = f"terminationGracePeriodSeconds: {grace}` >\n  {pre_stop} + {graceful} + {delay} + {graceful}"
    assert quoted in text
