"""The Grafana dashboard queries only metrics (and labels) that the real service exports.

A real ``turnscore serve`` (with Redis) gets some traffic (scores, a gold_ref hit, an unknown gold_ref, a bad
body, advantages), then every PromQL expression of the dashboard is parsed (promql-parser) and each metric
selector, label matcher and grouping label is looked up in the service's own ``/metrics``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import promql_parser
import pytest

from tests.support.deploy import DASHBOARD
from tests.support.probes import Samples
from tests.support.serve import ContainerProcess, free_port

pytestmark = pytest.mark.redis

#: Grafana's macros and this dashboard's variables → something PromQL parses
GRAFANA_SUBSTITUTIONS = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "$endpoint": ".*",
    "$preset": ".*",
}


def dashboard_exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) of every query target, rows' nested panels included."""
    out: list[tuple[str, str]] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for p in panels:
            for t in p.get("targets", []):
                out.append((p.get("title", ""), t["expr"]))
            walk(p.get("panels", []))

    walk(dashboard["panels"])
    return out


def to_promql(expr: str) -> str:
    for k, v in GRAFANA_SUBSTITUTIONS.items():
        expr = expr.replace(k, v)
    assert "$" not in expr, f"unknown Grafana variable in {expr!r}"
    return expr


Matcher = tuple[str, str, str]  # (label, op, value) with op one of = != =~ !~
_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}


def references(expr: str) -> list[tuple[str, list[Matcher], set[str]]]:
    """(metric name, label matchers, grouping labels of the aggregations around it) of every selector."""
    found: list[tuple[str, list[Matcher], set[str]]] = []

    def visit(node: Any, grouping: set[str]) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = [(m.name, _OPS[str(m.op).rsplit(".", 1)[-1]], m.value) for m in node.matchers.matchers]
            found.append((node.name or "", matchers, grouping))
            return
        if isinstance(node, promql_parser.AggregateExpr):
            labels = set(node.modifier.labels) if node.modifier is not None else set()
            visit(node.expr, grouping | labels)
            return
        if isinstance(node, promql_parser.MatrixSelector):
            visit(node.vector_selector, grouping)
        elif isinstance(node, promql_parser.Call):
            for a in node.args:
                visit(a, grouping)
        elif isinstance(node, promql_parser.BinaryExpr):
            visit(node.lhs, grouping)
            visit(node.rhs, grouping)
        elif isinstance(node, (promql_parser.ParenExpr, promql_parser.UnaryExpr, promql_parser.SubqueryExpr)):
            visit(node.expr, grouping)
        elif not isinstance(node, (promql_parser.NumberLiteral, promql_parser.StringLiteral)):
            raise TypeError(f"unhandled PromQL node {type(node).__name__}")

    visit(promql_parser.parse(to_promql(expr)), set())
    return found


def problems(exprs: list[tuple[str, str]], samples: Samples) -> list[str]:
    """Every metric name or label a dashboard query asks for that the exposition does not have."""
    out: list[str] = []
    # labels Prometheus adds at scrape time
    scrape_labels = {"instance", "job", "__name__"}
    for title, expr in exprs:
        for name, matchers, grouping in references(expr):
            if name not in samples.names():
                out.append(f"{title}: metric {name} is not exported")
                continue
            have = samples.label_names(name) | scrape_labels
            for label in ({m[0] for m in matchers} | grouping) - have:
                out.append(f"{title}: {name} has no label {label!r}")
    return out


def unseen_values(exprs: list[tuple[str, str]], samples: Samples) -> set[tuple[str, str, str, str]]:
    """Positive matchers (= and =~) that no exported sample satisfies: (metric, label, op, value)."""
    out: set[tuple[str, str, str, str]] = set()
    for _, expr in exprs:
        for name, matchers, _grouping in references(expr):
            for label, op, value in matchers:
                values = {labels.get(label) for labels, _ in samples.data.get(name, [])}
                if op == "=":
                    seen = value in values
                elif op == "=~":
                    seen = any(v is not None and re.fullmatch(value, v) for v in values)
                else:
                    continue
                if not seen:
                    out.add((name, label, op, value))
    return out


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


@pytest.fixture(scope="module")
def live_samples(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Samples:
    import uuid

    log = tmp_path_factory.mktemp("dashboard") / "service.log"
    grpc_port = free_port()
    server = ContainerProcess(
        log,
        env={
            "TURNSCORE_REDIS_URL": redis_url,
            "TURNSCORE_REDIS_KEY_PREFIX": f"turnscore-test:{uuid.uuid4().hex}:",
            "TURNSCORE_MAX_BODY_BYTES": str(64 * 1024),
            "TURNSCORE_GRPC_PORT": str(grpc_port),
        },
    ).start()
    try:
        gold = {"calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}], "answer": "sunny"}
        rollouts = [
            {
                "turns": [
                    {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
                    {"answer": "sunny"},
                ]
            },
            {"text": "<tool_call>{broken</tool_call>"},
        ]
        with httpx.Client(base_url=server.url, timeout=30) as c:
            r = c.post("/v1/score", json={"groups": [{"id": "g", "gold": gold, "rollouts": rollouts}]})
            assert r.status_code == 200, r.text
            ref = r.json()["groups"][0]["gold_ref"]
            r = c.post("/v1/score", json={"groups": [{"id": "g", "gold_ref": ref, "rollouts": rollouts}]})
            assert r.status_code == 200, r.text
            missing = "sha256:" + "0" * 64
            r = c.post("/v1/score", json={"groups": [{"id": "g", "gold_ref": missing, "rollouts": rollouts}]})
            assert r.status_code == 409, r.text
            r = c.post("/v1/score", content=b"{not json", headers={"content-type": "application/json"})
            assert r.status_code == 400, r.text
            r = c.post("/v1/score", content=b" " * (128 * 1024), headers={"content-type": "application/json"})
            assert r.status_code == 413, r.text
            adv = {"groups": [{"id": "a", "rollouts": [{"turn_rewards": [1.0], "outcome_reward": 1.0}] * 2}]}
            r = c.post("/v1/advantages", json=adv)
            assert r.status_code == 200, r.text
            assert c.get("/readyz").json()["cache"], "readiness reports the cache tiers"
        # the same process over gRPC: one OK call, one failing with a non-OK status
        from turnscore_client.errors import UnknownGoldRefError
        from turnscore_client.grpc import GrpcTurnScoreClient

        with GrpcTurnScoreClient(f"127.0.0.1:{grpc_port}") as g:
            assert g.presets()
            with pytest.raises(UnknownGoldRefError):
                g.score([{"id": "g", "gold_ref": missing, "rollouts": rollouts}])
        return server.metrics()
    finally:
        server.stop()


def test_dashboard_queries_only_exported_metrics(dashboard: dict[str, Any], live_samples: Samples) -> None:
    exprs = dashboard_exprs(dashboard)
    assert len(exprs) >= 20
    assert problems(exprs, live_samples) == []


#: positive matchers the test traffic cannot produce: a Redis lookup error, a 5xx (never sent on purpose)
UNREACHABLE_IN_TEST = {
    ("turnscore_cache_lookups_total", "result", "=", "error"),
    ("turnscore_request_duration_seconds_count", "status", "=~", "5.."),
}


def test_dashboard_label_values_exist(dashboard: dict[str, Any], live_samples: Samples) -> None:
    """`result="hit"`, `tier="redis"`, `status=~"4.."`, the gRPC endpoint regex: each matches real samples."""
    assert unseen_values(dashboard_exprs(dashboard), live_samples) == UNREACHABLE_IN_TEST


def test_template_variables_use_exported_labels(dashboard: dict[str, Any], live_samples: Samples) -> None:
    for var in dashboard["templating"]["list"]:
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query)
        assert m, query
        assert m.group(1) in live_samples.names() and m.group(2) in live_samples.label_names(m.group(1))


def test_the_check_catches_unknown_names(live_samples: Samples) -> None:
    bad = [
        ("typo", "sum(rate(turnscore_request_duration_second_count[5m]))"),
        (
            "label",
            'sum by (route) (rate(turnscore_request_duration_seconds_count{endpoint="/v1/score"}[5m]))',
        ),
        ("matcher", 'turnscore_cache_lookups_total{tier="redis", outcome="hit"}'),
    ]
    found = problems(bad, live_samples)
    assert len(found) == 3, found
    typos = [("value", 'turnscore_cache_lookups_total{tier="mem", result="hit"}')]
    assert unseen_values(typos, live_samples) == {("turnscore_cache_lookups_total", "tier", "=", "mem")}


def test_dashboard_has_the_required_views(dashboard: dict[str, Any]) -> None:
    exprs = [e for _, e in dashboard_exprs(dashboard)]
    joined = "\n".join(exprs)
    for q in ("0.5", "0.95", "0.99"):
        assert any(
            f"histogram_quantile({q}," in e
            and "turnscore_request_duration_seconds_bucket" in e
            and "endpoint" in e
            for e in exprs
        ), f"latency quantile {q} per endpoint"
    assert "rate(turnscore_request_duration_seconds_count" in joined  # request rate
    assert "turnscore_stage_duration_seconds" in joined and "by (stage)" in joined.replace(
        "by (le, stage)", "by (stage)"
    )
    assert 'turnscore_cache_lookups_total{result="hit"}' in joined and "by (tier)" in joined
    assert "turnscore_redis_healthy" in joined
    assert "turnscore_requests_in_flight" in joined
    assert 'status=~"4.."' in joined and 'status=~"5.."' in joined
    datasources = {
        json.dumps(p.get("datasource"), sort_keys=True) for p in dashboard["panels"] if p.get("type") != "row"
    }
    assert len(datasources) == 1, datasources


def _row_panels(dashboard: dict[str, Any], title: str) -> list[dict[str, Any]]:
    """The panels under the (expanded) row ``title``: those after it, up to the next row."""
    panels = dashboard["panels"]
    start = next(i for i, p in enumerate(panels) if p.get("type") == "row" and p.get("title") == title)
    out = []
    for p in panels[start + 1 :]:
        if p.get("type") == "row":
            break
        out.append(p)
    return out


def test_rewards_row(dashboard: dict[str, Any], live_samples: Samples) -> None:
    """The "Rewards" row (issue 15): precision, recall, redundant and malformed ratios as rate ratios, the
    return distribution; its metrics are in the live /metrics with a `preset` label."""
    panels = _row_panels(dashboard, "Rewards")
    exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
    ratios = set()
    for e in exprs:
        node = promql_parser.parse(to_promql(e))
        if isinstance(node, promql_parser.BinaryExpr) and str(node.op) == "/":
            (num, num_m, _), (den, den_m, _) = references(e)
            assert "rate(" in e and num == den, e
            ratios.add(
                (num, dict((m[0], m[2]) for m in num_m)["kind"], dict((m[0], m[2]) for m in den_m)["kind"])
            )
    assert ratios >= {
        ("turnscore_calls_total", "matched", "predicted"),  # precision
        ("turnscore_gold_calls_total", "covered", "total"),  # recall
        ("turnscore_calls_total", "redundant", "predicted"),
        ("turnscore_calls_total", "malformed", "predicted|malformed"),
    }, ratios
    joined = "\n".join(exprs)
    assert "histogram_quantile(0.5, sum by (le, preset) (rate(turnscore_rollout_return_bucket" in joined
    assert any(
        p["type"] == "heatmap" and "turnscore_rollout_return_bucket" in p["targets"][0]["expr"]
        for p in panels
    )
    names = {name for e in exprs for name, _, _ in references(e)}
    assert names == {
        "turnscore_calls_total",
        "turnscore_gold_calls_total",
        "turnscore_rollout_return_bucket",
        "turnscore_rollout_call_precision_bucket",
    }
    for name in names:
        assert live_samples.label_names(name) >= {"preset"}, name
        assert {labels["preset"] for labels, _ in live_samples.data[name]} == {"matchtir-km"}, name


def test_dashboard_file_is_where_grafana_loads_it() -> None:
    import yaml

    root = DASHBOARD.parents[1]
    (provider,) = yaml.safe_load((root / "provisioning/dashboards/turnscore.yaml").read_text())["providers"]
    (ds,) = yaml.safe_load((root / "provisioning/datasources/prometheus.yaml").read_text())["datasources"]
    dash = json.loads(DASHBOARD.read_text())
    assert dash["panels"][1]["datasource"]["uid"] == ds["uid"]
    compose = yaml.safe_load((root.parent / "compose.yaml").read_text())
    mounts = {
        m.split(":")[1]: (root.parent / m.split(":")[0]).resolve()
        for m in compose["services"]["grafana"]["volumes"]
    }
    assert mounts[provider["options"]["path"]] == DASHBOARD.parent.resolve()
    assert mounts["/etc/grafana/provisioning"] == (root / "provisioning").resolve()
    assert Path(mounts[provider["options"]["path"]] / DASHBOARD.name).is_file()
    home = compose["services"]["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/{DASHBOARD.name}"
