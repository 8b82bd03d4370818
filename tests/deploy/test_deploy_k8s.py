"""k8s/: rendering (kustomize_lite, cross-checked with `kubectl kustomize` where installed), schema
validation of every rendered object for a pinned Kubernetes version, and cross-checks against the code."""

from __future__ import annotations

import copy
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.support.deploy import K8S, KUBERNETES_VERSION, REPO, Stage, settings_from_env, stage_args
from tests.support.kustomize_lite import KustomizeError, build, key

Obj = dict[str, Any]
ENTRY_POINTS = {"k8s": K8S, "prometheus-operator": K8S / "overlays" / "prometheus-operator"}
SECRET_EXAMPLE = K8S / "examples" / "secret-api-keys.yaml"
#: kinds with no schema in kubernetes-validate (CRDs): checked by hand below
CRD_KINDS = {"ServiceMonitor"}


def one(objs: list[Obj], kind: str, name: str) -> Obj:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} objects"
    return found[0]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def pod_labels(deploy: Obj) -> dict[str, str]:
    return dict(deploy["spec"]["template"]["metadata"]["labels"])


def container(deploy: Obj, name: str) -> Obj:
    (c,) = [c for c in deploy["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    return c


@pytest.fixture(scope="module")
def objs(rendered: dict[str, list[Obj]]) -> list[Obj]:
    return rendered["k8s"]


@pytest.fixture(scope="module")
def config_env(objs: list[Obj]) -> dict[str, str]:
    return dict(one(objs, "ConfigMap", "turnscore-config")["data"])


# -- rendering ---------------------------------------------------------------------------------------


def _kustomize_binary() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        probe = subprocess.run(["kubectl", "kustomize", "--help"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["kubectl", "kustomize"]
    return None


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_renderer_matches_real_kustomize(entry: str, rendered: dict[str, list[Obj]]) -> None:
    binary = _kustomize_binary()
    if binary is None:
        pytest.skip("no kustomize/kubectl binary installed: kustomize_lite alone renders k8s/")
    out = subprocess.run([*binary, str(ENTRY_POINTS[entry])], capture_output=True, text=True, check=True)
    theirs = {key(o): o for o in yaml.safe_load_all(out.stdout) if o}
    mine = {key(o): o for o in rendered[entry]}
    assert mine.keys() == theirs.keys()
    for k, obj in theirs.items():
        assert mine[k] == obj, k


def test_renderer_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    (tmp_path / "kustomization.yaml").write_text("resources: [cm.yaml]\npatches:\n  - path: p.yaml\n")
    with pytest.raises(KustomizeError, match="patches"):
        build(tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        "resources: [cm.yaml]\nlabels:\n  - pairs: {a: b}\n    includeSelectors: true\n"
    )
    with pytest.raises(KustomizeError, match="labels"):
        build(tmp_path)


def test_entry_points_contain_everything(rendered: dict[str, list[Obj]]) -> None:
    kinds = {(o["kind"], o["metadata"]["name"]) for o in rendered["k8s"]}
    for want in [
        ("Namespace", "turnscore"),
        ("Deployment", "turnscore"),
        ("Service", "turnscore"),
        ("HorizontalPodAutoscaler", "turnscore"),
        ("PodDisruptionBudget", "turnscore"),
        ("ConfigMap", "turnscore-config"),
        ("Deployment", "turnscore-redis"),
        ("Service", "turnscore-redis"),
        ("NetworkPolicy", "turnscore-redis"),
    ]:
        assert want in kinds, want
    assert not [o for o in rendered["k8s"] if o["kind"] in CRD_KINDS], "the CRD stays optional"
    extra = {key(o) for o in rendered["prometheus-operator"]} - {key(o) for o in rendered["k8s"]}
    assert [k[1] for k in extra] == ["ServiceMonitor"]
    for entry in rendered.values():
        for o in entry:
            if o["kind"] != "Namespace":
                assert o["metadata"]["namespace"] == "turnscore", key(o)
            assert o["metadata"]["labels"]["app.kubernetes.io/part-of"] == "turnscore"


# -- schema validation -------------------------------------------------------------------------------


def _all_objects(rendered: dict[str, list[Obj]]) -> list[Obj]:
    seen: dict[tuple[str, str, str, str], Obj] = {}
    for entry in rendered.values():
        for o in entry:
            seen[key(o)] = o
    for o in yaml.safe_load_all(SECRET_EXAMPLE.read_text()):
        seen[key(o)] = o
    return list(seen.values())


def test_every_object_validates_against_the_pinned_kubernetes_schema(rendered: dict[str, list[Obj]]) -> None:
    checked = 0
    for o in _all_objects(rendered):
        if o["kind"] in CRD_KINDS:
            continue
        # strict: unknown fields (typos) are errors, not silently dropped by the API server
        kubernetes_validate.validate(o, KUBERNETES_VERSION, strict=True)
        checked += 1
    assert checked >= 12


def test_schema_validation_rejects_mistakes(objs: list[Obj]) -> None:
    deploy = copy.deepcopy(one(objs, "Deployment", "turnscore"))
    c = deploy["spec"]["template"]["spec"]["containers"][0]
    c["readinessProbe"]["httpGett"] = c["readinessProbe"].pop("httpGet")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deploy, KUBERNETES_VERSION, strict=True)
    hpa = copy.deepcopy(one(objs, "HorizontalPodAutoscaler", "turnscore"))
    hpa["spec"]["minReplicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(hpa, KUBERNETES_VERSION, strict=True)


def test_servicemonitor_selects_the_service_and_its_port(rendered: dict[str, list[Obj]]) -> None:
    objs = rendered["prometheus-operator"]
    sm = one(objs, "ServiceMonitor", "turnscore")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(sm["spec"]) <= {"selector", "endpoints", "namespaceSelector", "jobLabel"}
    services = [
        o
        for o in objs
        if o["kind"] == "Service" and selects(sm["spec"]["selector"]["matchLabels"], o["metadata"]["labels"])
    ]
    assert [s["metadata"]["name"] for s in services] == ["turnscore"], "one target per pod, not two"
    port_names = {p["name"] for p in services[0]["spec"]["ports"]}
    for ep in sm["spec"]["endpoints"]:
        assert set(ep) <= {"port", "path", "interval", "scrapeTimeout", "scheme"}
        assert ep["port"] in port_names and ep["path"] == "/metrics"


# -- cross-checks against the code -----------------------------------------------------------------


def test_probes_hit_real_endpoints(objs: list[Obj], get_routes: set[str]) -> None:
    c = container(one(objs, "Deployment", "turnscore"), "turnscore")
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["path"] in get_routes, probe
        assert c[probe]["httpGet"]["port"] in {p["name"] for p in c["ports"]}


def test_env_names_and_ports_match_the_settings(
    objs: list[Obj], config_env: dict[str, str], settings_fields: set[str]
) -> None:
    deploy = one(objs, "Deployment", "turnscore")
    c = container(deploy, "turnscore")
    names = set(config_env) | {e["name"] for e in c.get("env", [])}
    assert not names - settings_fields, f"not settings of the service: {names - settings_fields}"
    assert [r["configMapRef"]["name"] for r in c["envFrom"]] == ["turnscore-config"]
    settings = settings_from_env(config_env)  # the values parse as the service parses them
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": settings.port, "grpc": settings.grpc_port}
    assert settings.host == "0.0.0.0" and settings.workers == 1, "one worker per pod"
    for svc_name in ("turnscore", "turnscore-headless"):
        svc = one(objs, "Service", svc_name)
        assert selects(svc["spec"]["selector"], pod_labels(deploy))
        by_name = {p["name"]: p for p in svc["spec"]["ports"]}
        assert set(by_name) == {"http", "grpc"}
        assert {n: p["port"] for n, p in by_name.items()} == ports
        assert all(p["targetPort"] == n for n, p in by_name.items())
    cpu_limit = float(c["resources"]["limits"]["cpu"])
    assert settings.thread_count() <= cpu_limit


def test_drain_fits_in_the_termination_grace(objs: list[Obj], config_env: dict[str, str]) -> None:
    deploy = one(objs, "Deployment", "turnscore")
    spec = deploy["spec"]["template"]["spec"]
    settings = settings_from_env(config_env)
    argv = container(deploy, "turnscore")["lifecycle"]["preStop"]["exec"]["command"]
    assert argv[0] == "sleep"
    pre_stop = float(argv[1])
    assert pre_stop >= 2, "time for the endpoint removal to reach every proxy"
    # HTTP drains first (graceful_timeout), then gRPC: NOT_SERVING for grpc_drain_delay, then its own
    # graceful_timeout for in-flight RPCs (docs/grpc.md); all of it before the kubelet's SIGKILL.
    needed = pre_stop + settings.graceful_timeout + settings.grpc_drain_delay + settings.graceful_timeout
    assert needed < spec["terminationGracePeriodSeconds"], (needed, spec["terminationGracePeriodSeconds"])
    strategy = deploy["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate" and strategy["rollingUpdate"]["maxUnavailable"] == 0


def test_pod_hardening(objs: list[Obj], dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    """What the namespace's `restricted` Pod Security level enforces, and a read-only root filesystem."""
    _, stages = dockerfile
    ns = one(objs, "Namespace", "turnscore")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    image_uid = int(stage_args(stages[-1])["UID"])
    for name in ("turnscore", "turnscore-redis"):
        deploy = one(objs, "Deployment", name)
        spec = deploy["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]) and {"cpu", "memory"} <= set(
                c["resources"]["limits"]
            )
            writable = {m["mountPath"] for m in c.get("volumeMounts", [])}
            assert writable, f"{name}: a writable emptyDir for scratch files"
    spec = one(objs, "Deployment", "turnscore")["spec"]["template"]["spec"]
    assert spec["securityContext"]["runAsUser"] == image_uid, "the uid the image was built with"
    assert "/tmp" in {
        m["mountPath"] for m in container(one(objs, "Deployment", "turnscore"), "turnscore")["volumeMounts"]
    }


def test_topology_spread_hpa_and_pdb(objs: list[Obj]) -> None:
    deploy = one(objs, "Deployment", "turnscore")
    labels = pod_labels(deploy)
    assert selects(deploy["spec"]["selector"]["matchLabels"], labels)
    spread = deploy["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert {s["topologyKey"] for s in spread} == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    for s in spread:
        assert selects(s["labelSelector"]["matchLabels"], labels)
    hpa = one(objs, "HorizontalPodAutoscaler", "turnscore")
    ref = hpa["spec"]["scaleTargetRef"]
    assert (ref["kind"], ref["name"]) == ("Deployment", "turnscore")
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    pdb = one(objs, "PodDisruptionBudget", "turnscore")
    assert selects(pdb["spec"]["selector"]["matchLabels"], labels)
    assert pdb["spec"]["maxUnavailable"] < hpa["spec"]["minReplicas"], "a drain never takes every pod"


def test_redis_is_an_lru_cache_reachable_only_from_turnscore(
    objs: list[Obj], config_env: dict[str, str]
) -> None:
    settings = settings_from_env(config_env)
    assert settings.redis_url is not None
    from urllib.parse import urlparse

    url = urlparse(settings.redis_url)
    svc = one(objs, "Service", url.hostname or "")
    assert url.port in {p["port"] for p in svc["spec"]["ports"]}
    redis = one(objs, "Deployment", url.hostname or "")
    redis_labels = pod_labels(redis)
    assert selects(svc["spec"]["selector"], redis_labels)
    args = container(redis, "redis")["args"]
    pairs = dict(zip(args[::2], args[1::2], strict=True))
    assert (
        pairs["--maxmemory-policy"] == "allkeys-lru"
        and pairs["--save"] == ""
        and pairs["--appendonly"] == "no"
    )
    # the limit leaves Redis headroom above maxmemory
    assert pairs["--maxmemory"].endswith("mb")
    assert int(pairs["--maxmemory"][:-2]) < int(
        container(redis, "redis")["resources"]["limits"]["memory"][:-2]
    )

    netpol = one(objs, "NetworkPolicy", "turnscore-redis")
    assert selects(netpol["spec"]["podSelector"]["matchLabels"], redis_labels)
    assert netpol["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = netpol["spec"]["ingress"]
    (peer,) = rule["from"]
    assert set(peer) == {"podSelector"}, "pods of this namespace only"
    allowed = [
        o["metadata"]["name"]
        for o in objs
        if o["kind"] == "Deployment" and selects(peer["podSelector"]["matchLabels"], pod_labels(o))
    ]
    assert allowed == ["turnscore"]
    assert rule["ports"] == [{"protocol": "TCP", "port": url.port}]


def test_secret_example_feeds_the_api_keys(objs: list[Obj], settings_fields: set[str]) -> None:
    (secret,) = list(yaml.safe_load_all(SECRET_EXAMPLE.read_text()))
    c = container(one(objs, "Deployment", "turnscore"), "turnscore")
    (env,) = [e for e in c["env"] if "secretKeyRef" in e.get("valueFrom", {})]
    ref = env["valueFrom"]["secretKeyRef"]
    assert env["name"] == "TURNSCORE_API_KEYS" and env["name"] in settings_fields
    assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"]
    keys = settings_from_env({"TURNSCORE_API_KEYS": secret["stringData"][ref["key"]]}).api_key_list()
    assert len(keys) == 2
    for k in (K8S / "kustomization.yaml", K8S / "base" / "kustomization.yaml"):
        assert "secret" not in k.read_text().lower().split("resources:", 1)[1], "the example is never applied"


def test_image_tag_is_the_project_version(objs: list[Obj]) -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    c = container(one(objs, "Deployment", "turnscore"), "turnscore")
    assert c["image"].rsplit(":", 1)[1] == version
