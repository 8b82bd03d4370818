"""Every endpoint over a real socket against a real ``turnscore serve`` (embedded default, tier 1 only)."""

from __future__ import annotations

import gzip
import json
import threading
from typing import Any

import httpx
import orjson
import pytest
from turnscore.core.diagnostics import CODES

from tests.support.serve import ServeProcess
from tests.support.workloads import heavy_request, score_request, weather_gold, weather_rollouts

pytestmark = pytest.mark.timeout(120)


def _error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return dict(body["error"])


# -- probes, presets, docs ------------------------------------------------------------------------------


def test_probes(service: ServeProcess) -> None:
    assert service.get("/healthz").json() == {"status": "ok"}
    ready = service.readyz()
    assert ready["status"] == "ok"
    assert ready["cache"]["redis"] == {"configured": False}
    assert ready["cache"]["memory"]["max_entries"] > 0


def test_presets(service: ServeProcess) -> None:
    r = service.get("/v1/presets")
    assert r.status_code == 200
    presets = r.json()
    for name in ("matchtir-km", "matchtir-ot", "matchtir-reference-km", "toolrl", "grpo-outcome"):
        assert name in presets, name
    assert presets["matchtir-km"]["assignment"] == "hungarian"
    assert presets["matchtir-km"]["unmatched_penalty"] == 0.5


def test_openapi_and_docs(service: ServeProcess) -> None:
    spec = service.get("/openapi.json").json()
    for path in (
        "/v1/score",
        "/v1/advantages",
        "/v1/openrlhf",
        "/v1/presets",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert path in spec["paths"], path
    body = spec["paths"]["/v1/score"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ScoreRequest"}
    assert "groups" in spec["components"]["schemas"]["ScoreRequest"]["properties"]
    assert "409" in spec["paths"]["/v1/score"]["post"]["responses"]
    docs = service.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


# -- /v1/score ------------------------------------------------------------------------------------------


def test_score_worked_example_and_forms(service: ServeProcess) -> None:
    r = service.post(
        "/v1/score", json={**score_request(), "explain": True}, headers={"X-Request-ID": "abc-123"}
    )
    assert r.status_code == 200, r.text
    assert r.headers["x-request-id"] == "abc-123"
    body = r.json()
    assert body["preset"] == "matchtir-km"
    assert body["config"]["assignment"] == "hungarian"
    (group,) = body["groups"]
    assert group["id"] == "p"
    assert group["gold_ref"].startswith("sha256:") and len(group["gold_ref"]) == 7 + 64
    turns, text, messages, broken = group["rollouts"]
    # SCORING.md §2 worked example: city right, date wrong -> S = 3/4
    assert turns["turn_rewards"] == [0.75, 0.0]
    assert turns["matches"][0]["similarity"] == pytest.approx(0.75)
    assert messages["turn_rewards"][0] == pytest.approx(0.75)
    assert text["turn_rewards"][0] == pytest.approx(1.0)
    assert text["outcome_reward"] == pytest.approx(1.0)
    assert broken["malformed_calls"] == 1 and broken["num_calls"] == 0
    for rollout in group["rollouts"]:
        assert len(rollout["advantages"]) == rollout["num_turns"] == len(rollout["turn_rewards"])
    # the best rollout has the highest trajectory advantage
    assert text["trajectory_advantage"] == max(x["trajectory_advantage"] for x in group["rollouts"])


def test_gold_ref_roundtrip_and_unknown_ref(service: ServeProcess) -> None:
    gold = weather_gold(city="Ulaanbaatar")
    first = service.post(
        "/v1/score", json={"groups": [{"gold": gold, "rollouts": weather_rollouts("Ulaanbaatar")}]}
    )
    assert first.status_code == 200, first.text
    ref = first.json()["groups"][0]["gold_ref"]
    again = service.post(
        "/v1/score", json={"groups": [{"gold_ref": ref, "rollouts": weather_rollouts("Ulaanbaatar")}]}
    )
    assert again.status_code == 200, again.text
    assert again.json()["groups"][0]["rollouts"] == first.json()["groups"][0]["rollouts"]

    missing = ["sha256:" + "0" * 64, "sha256:" + "1" * 64]
    r = service.post(
        "/v1/score",
        json={
            "groups": [{"gold_ref": ref, "rollouts": []}] + [{"gold_ref": m, "rollouts": []} for m in missing]
        },
    )
    err = _error(r, 409, "unknown_gold_ref")
    assert sorted(err["details"]["missing"]) == missing


def test_gzip_request(service: ServeProcess) -> None:
    data = gzip.compress(orjson.dumps(score_request()))
    r = service.post(
        "/v1/score", content=data, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["groups"][0]["rollouts"][0]["turn_rewards"] == [0.75, 0.0]


def test_advantages(service: ServeProcess) -> None:
    req = {
        "groups": [
            {
                "id": "g",
                "rollouts": [
                    {"turn_rewards": [1.0, 0.0], "outcome_reward": 1.0},
                    {"turn_rewards": [0.0], "outcome_reward": 0.0},
                ],
            }
        ]
    }
    r = service.post("/v1/advantages", json=req)
    assert r.status_code == 200, r.text
    a, b = r.json()["groups"][0]["rollouts"]
    assert a["return"] == pytest.approx(2.0) and b["return"] == pytest.approx(0.0)
    assert a["trajectory_advantage"] > 0 > b["trajectory_advantage"]
    assert len(a["advantages"]) == 2 and len(b["advantages"]) == 1
    # same math as /v1/score: feeding back the rewards /v1/score computed gives the same advantages
    scored = service.post("/v1/score", json=score_request()).json()["groups"][0]["rollouts"]
    back = service.post(
        "/v1/advantages",
        json={
            "groups": [
                {
                    "rollouts": [
                        {"turn_rewards": x["turn_rewards"], "outcome_reward": x["outcome_reward"]}
                        for x in scored
                    ]
                }
            ]
        },
    ).json()["groups"][0]["rollouts"]
    for s, b2 in zip(scored, back, strict=True):
        assert b2["advantages"] == pytest.approx(s["advantages"])


# -- /v1/openrlhf ---------------------------------------------------------------------------------------


def test_openrlhf_shape_and_values(service: ServeProcess) -> None:
    prompt = (
        "<|im_start|>system\nYou may call <tool_call>{...}</tool_call><|im_end|>\n<|im_start|>assistant\n"
    )
    texts = [r["text"] for r in weather_rollouts() if "text" in r]
    label_obj = weather_gold()
    queries = [prompt + t for t in texts] + [prompt + texts[0], 17, prompt + texts[0], prompt + texts[0]]
    labels: list[Any] = [label_obj, json.dumps(label_obj), json.dumps(label_obj), label_obj, "not json", None]
    r = service.post(
        "/v1/openrlhf", json={"query": queries, "prompts": [prompt] * len(queries), "labels": labels}
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert set(out) == {"rewards", "scores", "extra_logs"}
    n = len(queries)
    assert len(out["rewards"]) == len(out["scores"]) == n
    for key, values in out["extra_logs"].items():
        assert len(values) == n, key
        assert all(isinstance(v, int | float) for v in values)
    # rewards are the trajectory returns /v1/score computes for the same texts
    ref = service.post(
        "/v1/score", json={"groups": [{"gold": label_obj, "rollouts": [{"text": t} for t in texts]}]}
    ).json()["groups"][0]["rollouts"]
    assert out["rewards"][:2] == pytest.approx([x["return"] for x in ref])
    assert out["rewards"][2] == pytest.approx(ref[0]["return"])
    # a non-string query, an undecodable label and a missing label get 0 and an error count
    assert out["rewards"][3:] == [0.0, 0.0, 0.0]
    assert out["extra_logs"]["turnscore_errors"] == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    assert out["extra_logs"]["turnscore_malformed_calls"][1] == 1.0
    # every scored sample carries the summary of the request that scored it (its three samples: one label,
    # one group), the unscored ones 0 under the same keys
    summary = service.post(
        "/v1/score",
        json={"groups": [{"gold": label_obj, "rollouts": [{"text": t} for t in [*texts, texts[0]]]}]},
    ).json()["summary"]
    assert len(summary) == 19 and summary["rollouts"] == 3
    logs = {k[len("turnscore/") :]: v for k, v in out["extra_logs"].items() if k.startswith("turnscore/")}
    assert logs == {k: [pytest.approx(v)] * 3 + [0.0] * 3 for k, v in summary.items()}


def test_openrlhf_unscorable_never_http_error(service: ServeProcess) -> None:
    prompt = "P:"
    samples = [
        (
            'P:<tool_call>{"name": "get_weather", "arguments": {"city": "Beijing"}}</tool_call>',
            weather_gold(),
        ),
        ("P:anything", {"gold_ref": "sha256:" + "2" * 64}),  # unknown ref
        ("P:anything", {"calls": "not a list"}),  # invalid trace
        ("P:anything", {"gold": weather_gold(), "gold_ref": "sha256:x"}),  # ambiguous
    ]
    r = service.post(
        "/v1/openrlhf",
        json={"query": [q for q, _ in samples], "prompts": [prompt] * 4, "labels": [lb for _, lb in samples]},
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["rewards"][0] > 0
    assert out["rewards"][1:] == [0.0, 0.0, 0.0]
    assert out["extra_logs"]["turnscore_errors"] == [0.0, 1.0, 1.0, 1.0]
    # a sample over a core limit (65 turns > 64) gets 0 without costing the same-label samples theirs
    long_text = "P:" + "\n<|im_start|>assistant\n".join(["x"] * 65)
    r = service.post(
        "/v1/openrlhf",
        json={
            "query": [samples[0][0], long_text, samples[0][0]],
            "prompts": [prompt] * 3,
            "labels": [weather_gold()] * 3,
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["extra_logs"]["turnscore_errors"] == [0.0, 1.0, 0.0]
    assert r.json()["rewards"][0] == r.json()["rewards"][2] > 0
    empty = service.post("/v1/openrlhf", json={"query": [], "prompts": [], "labels": []})
    assert empty.status_code == 200 and empty.json()["rewards"] == []


def test_openrlhf_request_level_errors(service: ServeProcess) -> None:
    _error(
        service.post("/v1/openrlhf", json={"query": ["x"], "labels": [{}], "preset": "nope"}),
        422,
        "unknown_preset",
    )
    _error(
        service.post("/v1/openrlhf?preset=nope", json={"query": ["x"], "labels": [{}]}), 422, "unknown_preset"
    )
    _error(service.post("/v1/openrlhf", json={"prompts": []}), 422, "invalid_request")
    _error(service.post("/v1/openrlhf", content=b"{"), 400, "malformed_json")


def test_openrlhf_labels_are_read_by_the_core(service: ServeProcess) -> None:
    """Records, traces, JSON strings of either and lists give /v1/score's numbers; an unknown key in a label
    is a 422 naming it under labels[i] (a dataset typo must not zero every sample)."""
    gold = weather_gold()
    record = {"id": "w", "source": "demo/1", "license": "MIT", "gold": gold, "accepted_values": None}
    text = next(r["text"] for r in weather_rollouts() if "text" in r)
    labels: list[Any] = [record, json.dumps(record), gold, [gold], {"references": [record]}]
    r = service.post(
        "/v1/openrlhf",
        json={"query": ["P:" + text] * len(labels), "prompts": ["P:"] * len(labels), "labels": labels},
    )
    assert r.status_code == 200, r.text
    ref = service.post("/v1/score", json={"groups": [{"gold": gold, "rollouts": [{"text": text}]}]})
    expected = ref.json()["groups"][0]["rollouts"][0]["return"]
    assert r.json()["rewards"] == pytest.approx([expected] * len(labels))
    assert r.json()["extra_logs"]["turnscore_errors"] == [0.0] * len(labels)
    cases = [
        ({**gold, "call": []}, "labels[1].call", "calls"),
        ({**record, "gold": {**gold, "anwser": "x"}}, "labels[1].gold.anwser", "answer"),
        ([gold, {**gold, "accepted_value": None}], "labels[1][1].accepted_value", "accepted_values"),
        ({"gold_ref": "sha256:x", "gold_refs": None, "id": 3}, "labels[1].id", None),
    ]
    for label, path, suggestion in cases:
        body = {"query": ["P:" + text] * 2, "prompts": ["P:"] * 2, "labels": [gold, label]}
        err = _error(service.post("/v1/openrlhf", json=body), 422, "invalid_request")
        assert err["details"]["path"] == path and err["details"]["suggestion"] == suggestion, err
    err = _error(service.post("/v1/openrlhf", json={"query": [], "label": []}), 422, "invalid_request")
    assert err["details"] == {
        "path": "label",
        "unknown": "label",
        "suggestion": "labels",
        "known": err["details"]["known"],
    }


# -- errors ---------------------------------------------------------------------------------------------


def test_malformed_json_and_wrong_types(service: ServeProcess) -> None:
    _error(service.post("/v1/score", content=b'{"groups": [}'), 400, "malformed_json")
    _error(service.post("/v1/score", content=b"\xff\xfe\x00"), 400, "malformed_json")
    _error(service.post("/v1/score", content=b""), 400, "malformed_json")
    err = _error(service.post("/v1/score", json=[1, 2]), 422, "invalid_request")
    assert err["details"]["path"] == ""
    err = _error(service.post("/v1/score", json={"groups": "x"}), 422, "invalid_request")
    assert err["details"]["path"] == "groups"
    err = _error(
        service.post("/v1/score", json={"groups": [{"gold": weather_gold(), "rollouts": [{"turns": 3}]}]}),
        422,
        "invalid_request",
    )
    assert err["details"]["path"] == "groups[0].rollouts[0].turns"
    err = _error(
        service.post("/v1/advantages", json={"groups": [{"rollouts": [{"turn_rewards": ["a"]}]}]}),
        422,
        "invalid_request",
    )
    assert err["details"]["path"] == "groups[0].rollouts[0].turn_rewards[0]"


def test_unknown_preset_and_config(service: ServeProcess) -> None:
    err = _error(service.post("/v1/score", json={**score_request(), "preset": "nope"}), 422, "unknown_preset")
    assert "matchtir-km" in err["details"]["known"]
    err = _error(
        service.post("/v1/score", json={**score_request(), "config": {"bogus": 1}}), 422, "invalid_config"
    )
    assert err["details"]["key"] == "bogus"


def test_not_found_and_method(service: ServeProcess) -> None:
    _error(service.get("/v2/score"), 404, "not_found")
    _error(service.get("/v1/score"), 405, "method_not_allowed")


def test_unsupported_encoding_and_bad_gzip(service: ServeProcess) -> None:
    _error(
        service.post("/v1/score", content=b"{}", headers={"Content-Encoding": "br"}),
        415,
        "unsupported_media_type",
    )
    _error(
        service.post("/v1/score", content=b"not gzip", headers={"Content-Encoding": "gzip"}),
        400,
        "bad_encoding",
    )
    truncated = gzip.compress(orjson.dumps(score_request()))[:-12]
    _error(
        service.post("/v1/score", content=truncated, headers={"Content-Encoding": "gzip"}),
        400,
        "bad_encoding",
    )


def test_oversized_bodies(service: ServeProcess) -> None:
    limit = 256 * 1024
    big = orjson.dumps({"groups": [], "pad": "x" * (limit + 10)})
    err = _error(service.post("/v1/score", content=big), 413, "limit_exceeded")
    assert err["details"]["limit"] == "max_body_bytes" and err["details"]["max"] == limit

    def chunks() -> Any:  # no Content-Length: refused while streaming
        for i in range(0, len(big), 32 * 1024):
            yield big[i : i + 32 * 1024]

    err = _error(service.post("/v1/score", content=chunks()), 413, "limit_exceeded")
    assert err["details"]["limit"] == "max_body_bytes"
    assert service.get("/healthz").status_code == 200


def test_gzip_bomb(service: ServeProcess) -> None:
    # 64 MiB of zeros compress to ~64 KiB: under the wire limit, far over the decoded limit
    bomb = gzip.compress(b"0" * (64 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 256 * 1024
    err = _error(
        service.post("/v1/score", content=bomb, headers={"Content-Encoding": "gzip"}), 413, "limit_exceeded"
    )
    assert err["details"]["limit"] == "max_body_bytes" and err["details"]["encoding"] == "gzip"
    assert service.get("/healthz").status_code == 200


def test_deep_nesting(service: ServeProcess) -> None:
    for depth in (40, 5000):
        body = b'{"groups": [], "config": ' + b"[" * depth + b"]" * depth + b"}"
        err = _error(service.post("/v1/score", content=body), 413, "limit_exceeded")
        assert err["details"]["limit"] == "max_json_depth" and err["details"]["max"] == 32
    # brackets inside strings do not count
    ok = {**score_request(), "explain": False}
    ok["groups"][0]["rollouts"].append({"text": "[" * 5000 + "{" * 5000})
    assert service.post("/v1/score", json=ok).status_code == 200


def test_core_limits(service: ServeProcess) -> None:
    req = {"groups": [{"gold": weather_gold(), "rollouts": [{"text": ""}] * 65}]}
    err = _error(service.post("/v1/score", json=req), 413, "limit_exceeded")
    assert (
        err["details"]["limit"] == "max_rollouts_per_group" and err["details"]["path"] == "groups[0].rollouts"
    )


# -- metrics and logs -----------------------------------------------------------------------------------


def test_metrics(service: ServeProcess) -> None:
    before = service.metric("turnscore_rollouts_scored_total")
    assert service.post("/v1/score", json=score_request()).status_code == 200
    assert service.post("/v1/score", content=b"{").status_code == 400
    text = service.get("/metrics").text
    assert service.metric("turnscore_rollouts_scored_total") == before + 4
    for name in (
        "turnscore_request_duration_seconds_bucket",
        "turnscore_stage_duration_seconds_bucket",
        "turnscore_groups_scored_total",
        "turnscore_malformed_calls_total",
        "turnscore_cache_lookups_total",
        "turnscore_redis_healthy",
        "turnscore_requests_in_flight",
        "turnscore_request_body_bytes_bucket",
    ):
        assert name in text, name
    assert service.metric("turnscore_request_duration_seconds_count", endpoint="/v1/score", status="200") >= 1
    assert service.metric("turnscore_request_duration_seconds_count", endpoint="/v1/score", status="400") >= 1
    for stage in ("decode", "parse", "match", "advantage", "encode"):
        assert service.metric("turnscore_stage_duration_seconds_count", stage=stage) >= 1, stage
    assert service.metric("turnscore_malformed_calls_total") >= 1
    assert service.metric("turnscore_request_body_bytes_count", encoding="decoded") >= 1


def test_warnings_in_body_and_metrics(service: ServeProcess) -> None:
    """score_request() holds one malformed call; its answer says so, and the counter adds it by code."""
    before = service.metric("turnscore_warnings_total", code="malformed_calls")
    body = service.post("/v1/score", json=score_request()).json()
    (w,) = [w for w in body["warnings"] if w["code"] == "malformed_calls"]
    assert w["count"] == 1 and w["path"] == "groups[0].rollouts[3].text" and w["message"]
    assert service.metric("turnscore_warnings_total", code="malformed_calls") == before + 1
    labels = {
        line.split('code="', 1)[1].split('"', 1)[0]
        for line in service.get("/metrics").text.splitlines()
        if line.startswith("turnscore_warnings_total{")
    }
    assert labels and labels <= set(CODES) | {"other"}
    adv = {"groups": [{"rollouts": [{"turn_rewards": [1.0]}]}]}
    assert service.post("/v1/advantages", json=adv).json()["warnings"] == []
    # /v1/openrlhf: warning occurrences per sample
    texts = [r["text"] for r in weather_rollouts() if "text" in r]
    out = service.post("/v1/openrlhf", json={"query": texts, "labels": [weather_gold()] * len(texts)}).json()
    assert out["extra_logs"]["turnscore_warnings"] == [0.0, 2.0]  # a malformed call, and no answer


def test_access_log_is_json_without_bodies(service: ServeProcess) -> None:
    secret = "SECRET-ROLLOUT-TEXT-4f1c"
    req = score_request()
    req["groups"][0]["rollouts"].append({"text": secret})
    r = service.post("/v1/score", json=req, headers={"X-Request-ID": "log-test-1"})
    assert r.status_code == 200
    service.get("/healthz")  # the access line is written after the response; make sure it is flushed
    lines = [json.loads(x) for x in service.logs().splitlines() if x.startswith("{")]
    mine = [x for x in lines if x.get("request_id") == "log-test-1"]
    assert len(mine) == 1, mine
    entry = mine[0]
    assert entry["logger"] == "turnscore.access" and entry["status"] == 200 and entry["path"] == "/v1/score"
    assert entry["bytes_in"] > 0 and entry["bytes_out"] == len(r.content) and entry["duration_ms"] > 0
    assert entry["rollouts"] == 5 and set(entry["stages_ms"]) >= {"decode", "parse", "match", "advantage"}
    assert secret not in service.logs()


def test_healthz_not_starved_by_long_request(service: ServeProcess) -> None:
    """While a CPU-heavy scoring request runs (off the event loop), /healthz keeps answering."""
    data = gzip.compress(orjson.dumps(heavy_request(groups=12, rollouts=16)))  # 163 KB, ~0.4 s of CPU
    done = threading.Event()
    result: dict[str, int] = {}

    def run() -> None:
        try:
            result["status"] = service.post(
                "/v1/score", content=data, headers={"Content-Encoding": "gzip"}, timeout=120
            ).status_code
        finally:
            done.set()

    t = threading.Thread(target=run)
    t.start()
    answered_while_scoring = 0
    with httpx.Client(base_url=service.url, timeout=10) as client:
        while not done.is_set():
            # /readyz is answered by the event loop; inflight >= 1 means the heavy request is being scored
            if client.get("/readyz").json()["inflight"] >= 1 and not done.is_set():
                answered_while_scoring += 1
                assert client.get("/healthz").status_code == 200
    t.join()
    assert result["status"] == 200
    assert answered_while_scoring >= 3
