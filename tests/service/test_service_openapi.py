"""/openapi.json is complete and true: real answers validate against its response schemas (with no field left
undescribed), its examples are answered as shown, and its request schemas refuse what the service refuses."""

from __future__ import annotations

import copy
import re
from typing import Any

import jsonschema
import pytest

from tests.support.gold import gold_records
from tests.support.serve import ServeProcess
from tests.support.workloads import rollouts_for

pytestmark = pytest.mark.timeout(180)
JSON = "application/json"


@pytest.fixture(scope="module")
def openapi(service: ServeProcess) -> dict[str, Any]:
    r = service.get("/openapi.json")
    assert r.status_code == 200
    return dict(r.json())


def _closed(schema: Any) -> Any:
    """A copy where every object with properties allows no others: an undescribed response field fails."""
    if isinstance(schema, dict):
        out = {k: _closed(v) for k, v in schema.items()}
        if "properties" in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(x) for x in schema]
    return schema


def _validator(
    openapi: dict[str, Any], schema: dict[str, Any], closed: bool
) -> jsonschema.Draft202012Validator:
    components = _closed(openapi["components"]) if closed else openapi["components"]
    return jsonschema.Draft202012Validator({**schema, "components": components})


def _response_validator(openapi: dict[str, Any], path: str, status: str = "200") -> Any:
    content = openapi["paths"][path]["post"]["responses"][status]["content"][JSON]
    return _validator(openapi, content["schema"], closed=True)


def _request_validator(openapi: dict[str, Any], path: str) -> Any:
    return _validator(
        openapi, openapi["paths"][path]["post"]["requestBody"]["content"][JSON]["schema"], False
    )


def _groups(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": r["id"], "gold": r, "rollouts": rollouts_for(r)} for r in records]


@pytest.mark.parametrize(
    "top",
    [
        {"explain": True},
        {"preset": "toolrl", "explain": True},
        {"config": {"reward_scheme": "trajectory+outcome"}},
        {"preset": "matchtir-ot", "explain": True, "step": 3},
    ],
)
def test_real_answers_validate_against_the_response_schema(
    service: ServeProcess, openapi: dict[str, Any], top: dict[str, Any]
) -> None:
    records = gold_records(per_source=2, sample=True)
    request = {**top, "groups": _groups(records)}
    assert not list(_request_validator(openapi, "/v1/score").iter_errors(request))
    r = service.post("/v1/score", json=request)
    assert r.status_code == 200, r.text
    body = r.json()
    errors = [e.message for e in _response_validator(openapi, "/v1/score").iter_errors(body)]
    assert not errors, errors[:5]
    rows = [row for g in body["groups"] for row in g["rollouts"]]
    # the answers exercised the optional fields, so the check above covered their schemas
    if top.get("explain") and top.get("preset") != "toolrl":
        assert any(row.get("matches") for row in rows)
    if top.get("preset") == "toolrl":
        assert all("toolrl" in row for row in rows) and "toolrl_bounds" in body["effective"]
    # /v1/advantages: the same rewards back, the same response schema
    back = {
        **{k: v for k, v in top.items() if k != "explain"},
        "groups": [
            {
                "id": g["id"],
                "rollouts": [
                    {k: row[k] for k in ("turn_rewards", "outcome_reward", "trajectory_reward") if k in row}
                    for row in g["rollouts"]
                ],
            }
            for g in body["groups"]
        ],
    }
    assert not list(_request_validator(openapi, "/v1/advantages").iter_errors(back))
    adv = service.post("/v1/advantages", json=back)
    assert adv.status_code == 200, adv.text
    assert not [e.message for e in _response_validator(openapi, "/v1/advantages").iter_errors(adv.json())]


def test_a_response_field_the_schema_does_not_describe_fails_the_check(openapi: dict[str, Any]) -> None:
    validator = _response_validator(openapi, "/v1/score")
    body = openapi["paths"]["/v1/score"]["post"]["responses"]["200"]["content"][JSON]["example"]
    assert validator.is_valid(body)
    extra = copy.deepcopy(body)
    extra["groups"][0]["rollouts"][0]["undescribed"] = 1
    assert not validator.is_valid(extra)


def test_openrlhf_and_error_answers_validate(service: ServeProcess, openapi: dict[str, Any]) -> None:
    record = gold_records(1, sample=True)[0]
    texts = [r["text"] for r in rollouts_for(record) if "text" in r]
    body = {
        "query": ["P:" + t for t in texts],
        "prompts": ["P:"] * len(texts),
        "labels": [record] * len(texts),
    }
    assert not list(_request_validator(openapi, "/v1/openrlhf").iter_errors(body))
    r = service.post("/v1/openrlhf", json=body)
    assert r.status_code == 200 and r.json()["extra_logs"]["turnscore_errors"] == [0.0] * len(texts)
    assert not list(_response_validator(openapi, "/v1/openrlhf").iter_errors(r.json()))
    bad = service.post("/v1/score", json={"prest": "toolrl", "groups": []})
    assert bad.status_code == 422
    assert not list(_response_validator(openapi, "/v1/score", "422").iter_errors(bad.json()))


@pytest.mark.parametrize("path", ["/v1/score", "/v1/advantages", "/v1/openrlhf"])
def test_examples_are_answered_as_shown(service: ServeProcess, openapi: dict[str, Any], path: str) -> None:
    operation = openapi["paths"][path]["post"]
    examples = operation["requestBody"]["content"][JSON]["examples"]
    assert examples
    for name, example in examples.items():
        assert not list(_request_validator(openapi, path).iter_errors(example["value"])), name
        r = service.post(path, json=example["value"])
        assert r.status_code == 200, (name, r.text)
    first = next(iter(examples.values()))["value"]
    shown = operation["responses"]["200"]["content"][JSON]["example"]
    assert service.post(path, json=first).json() == shown  # the same core, the same numbers
    error = operation["responses"]["422"]["content"][JSON]["example"]
    assert error["error"]["details"]["suggestion"] == "preset"


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        ("/v1/score", {"groups": [], "prest": "toolrl"}, "prest"),
        ("/v1/score", {"groups": [{"gold": {"call": []}, "rollouts": []}]}, "groups[0].gold"),
        (
            "/v1/score",
            {"groups": [{"gold_ref": "x", "rollouts": [{"turns": [{"tool_call": []}]}]}]},
            "groups[0].rollouts[0].turns[0].tool_call",
        ),
        (
            "/v1/advantages",
            {"groups": [{"rollouts": [{"turn_rewards": [], "outcome": 1}]}]},
            "groups[0].rollouts[0].outcome",
        ),
        ("/v1/openrlhf", {"query": [], "labels": [], "prompt": []}, "prompt"),
    ],
)
def test_request_schemas_refuse_what_the_service_refuses(
    service: ServeProcess, openapi: dict[str, Any], path: str, body: dict[str, Any], where: str
) -> None:
    assert list(_request_validator(openapi, path).iter_errors(body))
    r = service.post(path, json=body)
    assert r.status_code == 422, r.text
    details = r.json()["error"]["details"]
    assert details["path"].startswith(where), details
    assert "unknown" in details and "suggestion" in details


# -- /docs and /redoc without internet ----------------------------------------------------------------------

_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\(\s*["']?([^"')]+)""")
_ABSOLUTE = re.compile(r"""["'`(]\s*((?:https?:)?//[^"'`)\s]+)""")


def _asset_urls(html: str) -> list[str]:
    return [a or b for a, b in _URL.findall(html)]


def _check_offline(svc: ServeProcess, page: str, headers: dict[str, str] | None = None) -> list[str]:
    """The page's assets are all on the service and answer 200; the page names no other host at all."""
    r = svc.get(page, headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), page
    assert not _ABSOLUTE.findall(r.text), (page, _ABSOLUTE.findall(r.text))
    urls = _asset_urls(r.text)
    assert urls, page
    for url in urls:
        assert url.startswith("/docs/assets/"), (page, url)
        asset = svc.get(url, headers=headers)
        assert asset.status_code == 200 and len(asset.content) > 100, (page, url, asset.status_code)
    return urls


def test_docs_and_redoc_serve_their_assets_from_the_service(service: ServeProcess) -> None:
    swagger = _check_offline(service, "/docs")
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"} <= set(swagger)
    redoc = _check_offline(service, "/redoc")
    assert "/docs/assets/redoc.standalone.js" in redoc
    page = service.get("/docs").text
    assert "/openapi.json" in page and '"validatorUrl": null' in page
    assert service.get("/docs/assets/nope.js").status_code == 404


def test_docs_assets_are_public_with_docs(service_factory: Any) -> None:
    svc = service_factory(env={"TURNSCORE_API_KEYS": "k"})
    _check_offline(svc, "/docs")
    _check_offline(svc, "/redoc")
    assert svc.get("/v1/presets").status_code == 401
    private = service_factory(
        env={"TURNSCORE_API_KEYS": "k", "TURNSCORE_PUBLIC_PATHS": "/healthz"}, name="private"
    )
    assert private.get("/docs").status_code == 401
    assert private.get("/docs/assets/swagger-ui.css").status_code == 401
    _check_offline(private, "/docs", headers={"Authorization": "Bearer k"})


def test_openapi_asset_files_come_from_the_package() -> None:
    from turnscore.http.docs import asset_dir

    folder = asset_dir()
    assert folder is not None, "fastapi-offline (a service dependency) is not installed"
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        assert (folder / name).stat().st_size > 10_000, name
