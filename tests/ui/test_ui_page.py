"""The inspect page (``/ui``) in a real headless Chromium against a real ``turnscore serve``: load, paste,
score, compare presets, the heatmap against the API's matrix, errors, API keys, opening a kept request.

Screenshots are kept in ``test-artifacts/`` (tests/support/browser.py ``artifact_dir``); the one of the
example page is docs/img/inspect.png.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest

from tests.support.browser import artifact_dir
from tests.support.serve import ServeProcess
from tests.ui.conftest import KEY, example

pytestmark = pytest.mark.timeout(240)
DONE = "body[data-state=scored], body[data-state=failed]"
KM, GREEDY = "matchtir-km", "matchtir-reference-km"


def js_fixed(x: float, digits: int) -> str:
    """JavaScript's ``x.toFixed(digits)``: the exact binary value, halves rounded away from zero."""
    return str(Decimal(x).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def api_score(svc: ServeProcess, doc: dict[str, Any], preset: str, key: str | None = None) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    r = svc.post("/v1/score", json={**doc, "preset": preset, "explain": "matrix"}, headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def score(page: Any) -> str:
    """Click Score and wait until the page has the answers; the page's state (scored or failed)."""
    page.get_by_test_id("score-button").click()
    page.wait_for_selector(DONE, state="attached")
    return str(page.locator("body").get_attribute("data-state"))


def column(page: Any, group: int, preset: str) -> Any:
    group_card = page.get_by_test_id("group").nth(group)
    return group_card.locator(f"[data-testid=preset-column][data-preset='{preset}']")


def shot(page: Any, name: str, upto: Any = None) -> None:
    """A full-page screenshot in the artifact directory (down to the bottom of ``upto`` if given)."""
    path = artifact_dir() / name
    clip = None
    if upto is not None:
        box = upto.bounding_box()
        clip = {"x": 0, "y": 0, "width": page.viewport_size["width"], "height": box["y"] + box["height"] + 12}
    page.screenshot(path=str(path), full_page=True, clip=clip)
    print(f"screenshot: {path}")


def check_heatmap(col: Any, rollout: dict[str, Any]) -> set[tuple[int, int]]:
    """The heatmap of ``col`` shows ``rollout``'s matrix: one cell per pair, its value, the assignment marked.
    Returns the assigned (predicted, gold) cells."""
    matrix = rollout["matrix"]
    sim = matrix["similarity"]
    m, n = len(matrix["predicted"]), len(matrix["gold"])
    heat = col.get_by_test_id("heatmap")
    assert (heat.get_attribute("data-rows"), heat.get_attribute("data-cols")) == (str(m), str(n))
    cells = heat.get_by_test_id("cell")
    assert cells.count() == m * n
    shown = cells.evaluate_all(
        "cs => cs.map(c => [+c.dataset.row, +c.dataset.col, c.dataset.value, c.textContent, "
        "c.dataset.assigned])"
    )
    gold_of = {(x["turn"], x["call"]): x["gold"] for x in rollout["matches"]}
    expected_assigned = {
        (i, gold_of[(p["turn"], p["call"])])
        for i, p in enumerate(matrix["predicted"])
        if gold_of.get((p["turn"], p["call"])) is not None
    }
    assigned = set()
    for i, j, value, text, is_assigned in shown:
        assert float(value) == sim[i][j], (i, j)
        assert text == js_fixed(sim[i][j], 2), (i, j, text)
        if is_assigned == "true":
            assigned.add((i, j))
    assert assigned == expected_assigned and assigned
    return assigned


def test_paste_score_compare_two_presets(page: Any, open_service: ServeProcess) -> None:
    doc = example()
    page.goto(open_service.url + "/ui")
    assert page.title() == "turnscore inspect"
    page.get_by_test_id("request-input").fill(json.dumps(doc))
    page.get_by_test_id("preset-select-0").select_option(KM)
    page.get_by_test_id("preset-select-1").select_option(GREEDY)
    assert score(page) == "scored"
    assert page.get_by_test_id("error").is_hidden()

    answers = {p: api_score(open_service, doc, p) for p in (KM, GREEDY)}
    rollouts = sum(len(g["rollouts"]) for g in doc["groups"])
    assert page.get_by_test_id("rollout-row").count() == 2 * rollouts
    assert page.get_by_test_id("group").count() == len(doc["groups"])
    for g, group in enumerate(doc["groups"]):
        for preset in (KM, GREEDY):
            rows = column(page, g, preset).get_by_test_id("rollout-row")
            assert rows.count() == len(group["rollouts"])
            # the rollout table shows the API's numbers
            first = answers[preset]["groups"][g]["rollouts"][0]
            assert rows.nth(0).locator("td").nth(3).text_content() == js_fixed(first["return"], 3)

    # group summaries, per preset, as the API computed them
    summary_row = page.get_by_test_id("group").nth(0).locator("table.summary tr[data-preset='matchtir-km']")
    for field in ("calls", "matched_calls", "call_precision", "return_mean"):
        value = answers[KM]["groups"][0]["summary"][field]
        digits = 0 if isinstance(value, int) else 3
        text = str(value) if digits == 0 else js_fixed(value, digits)
        assert summary_row.locator(f"td[data-field={field}]").text_content() == text, field

    # choose rollout 1 of group 0: Hungarian and greedy matching assign its calls differently
    column(page, 0, KM).get_by_test_id("rollout-row").nth(1).click()
    for preset in (KM, GREEDY):
        row = column(page, 0, preset).get_by_test_id("rollout-row").nth(1)
        assert row.get_attribute("data-selected") == "true"
    optimal = check_heatmap(column(page, 0, KM), answers[KM]["groups"][0]["rollouts"][1])
    greedy = check_heatmap(column(page, 0, GREEDY), answers[GREEDY]["groups"][0]["rollouts"][1])
    assert optimal != greedy, "the example shows where greedy and optimal matching differ"

    # bars: one reward and one advantage per turn, the API's values
    rollout = answers[KM]["groups"][0]["rollouts"][1]
    bars = column(page, 0, KM).get_by_test_id("turn-bars")
    values = "bs => bs.map(b => +b.dataset.value)"
    rewards = bars.locator("[data-testid=reward-bar]").evaluate_all(values)
    advantages = bars.locator("[data-testid=advantage-bar]").evaluate_all(values)
    assert rewards == rollout["turn_rewards"] and advantages == rollout["advantages"]

    # the page's own requests are not sampled (and sampling is off here anyway)
    shot(page, "inspect-compare.png")


def test_example_url(page: Any, open_service: ServeProcess) -> None:
    page.goto(open_service.url + "/ui?example=1")
    page.wait_for_selector(DONE, state="attached")
    assert page.locator("body").get_attribute("data-state") == "scored"
    doc = example()
    assert json.loads(page.get_by_test_id("request-input").input_value()) == doc
    presets = [page.get_by_test_id(f"preset-select-{i}").input_value() for i in range(3)]
    assert presets == [KM, GREEDY, ""]
    rollouts = sum(len(g["rollouts"]) for g in doc["groups"])
    assert page.get_by_test_id("rollout-row").count() == 2 * rollouts
    # it opens on the rollout where the matchings differ
    assert column(page, 0, KM).get_by_test_id("rollout-detail").get_attribute("data-rollout") == "1"
    summary = page.get_by_test_id("request-summary")
    assert summary.locator("tr[data-preset]").count() == 2
    shot(page, "inspect.png", upto=page.get_by_test_id("group").nth(0))  # docs/img/inspect.png


def test_three_presets_with_ot(page: Any, open_service: ServeProcess) -> None:
    doc = example()
    page.goto(open_service.url + "/ui")
    page.get_by_test_id("request-input").fill(json.dumps(doc))
    for i, preset in enumerate((KM, GREEDY, "matchtir-ot")):
        page.get_by_test_id(f"preset-select-{i}").select_option(preset)
    assert score(page) == "scored"
    assert page.get_by_test_id("group").nth(1).get_by_test_id("preset-column").count() == 3
    ot = api_score(open_service, doc, "matchtir-ot")["groups"][1]["rollouts"][0]
    assert "plan" in ot["matrix"]
    check_heatmap(column(page, 1, "matchtir-ot"), ot)


def test_errors_are_readable(page: Any, open_service: ServeProcess) -> None:
    page.goto(open_service.url + "/ui")
    error = page.get_by_test_id("error")
    page.get_by_test_id("request-input").fill("{not json")
    assert score(page) == "failed"
    assert "not JSON" in error.text_content()
    bad = {"groups": [{"id": "x", "gold": {"calls": []}, "rollouts": [{"turns": [{"tool_call": []}]}]}]}
    page.get_by_test_id("request-input").fill(json.dumps(bad))
    assert score(page) == "failed"
    text = error.text_content()
    path = "groups[0].rollouts[0].turns[0].tool_call"
    assert "422" in text and "invalid_request" in text and path in text and "did you mean" in text, text
    assert page.get_by_test_id("rollout-row").count() == 0
    shot(page, "inspect-error.png")


def test_api_key(page: Any, keyed_service: ServeProcess) -> None:
    page.goto(keyed_service.url + "/ui")
    page.get_by_test_id("request-input").fill(json.dumps(example()))
    assert score(page) == "failed"
    text = page.get_by_test_id("error").text_content()
    assert "401" in text and "API key" in text, text
    key = page.get_by_test_id("api-key")
    key.fill(KEY)
    key.press("Tab")  # change: the key is kept for the tab and the presets are read with it
    page.get_by_test_id("preset-select-0").select_option(GREEDY)
    assert score(page) == "scored"
    assert page.get_by_test_id("rollout-row").count() == sum(len(g["rollouts"]) for g in example()["groups"])


def test_open_a_kept_request(page: Any, keyed_service: ServeProcess) -> None:
    """A trainer's request kept by --inspect-sample opens in the page, which scores it without being kept."""
    auth = {"authorization": f"Bearer {KEY}"}
    doc = example()
    doc["groups"] = doc["groups"][1:]
    doc["preset"] = "matchtir-ot"
    r = httpx.post(keyed_service.url + "/v1/score", json=doc, headers=auth, timeout=30)
    assert r.status_code == 200, r.text
    listing = httpx.get(keyed_service.url + "/v1/inspect/samples", headers=auth, timeout=10).json()
    newest = listing["samples"][0]["id"]

    page.goto(keyed_service.url + "/ui")
    # the presets read without a key fail (401) and the page says so until the key is entered
    page.wait_for_selector("body[data-state=failed]", state="attached")
    page.get_by_test_id("api-key").fill(KEY)
    page.get_by_test_id("api-key").press("Tab")
    assert page.locator("body").get_attribute("data-state") == "idle", "entering the key clears the failure"
    page.get_by_test_id("samples-button").click()
    items = page.get_by_test_id("samples-list").get_by_test_id("sample-item")
    items.first.wait_for()
    assert items.count() == listing["entries"]
    assert items.first.get_attribute("data-id") == newest
    items.first.click()
    page.wait_for_selector(DONE, state="attached")
    assert page.locator("body").get_attribute("data-state") == "scored"
    assert json.loads(page.get_by_test_id("request-input").input_value()) == doc
    assert page.get_by_test_id("preset-select-0").input_value() == "matchtir-ot"
    assert page.get_by_test_id("rollout-row").count() == len(doc["groups"][0]["rollouts"])
    after = httpx.get(keyed_service.url + "/v1/inspect/samples", headers=auth, timeout=10).json()
    assert after["samples"][0]["id"] == newest, "the page's own scoring is not kept"

    # a link to it: /ui?sample=<id> (the key is still in the tab's session storage)
    page.goto(f"{keyed_service.url}/ui?sample={newest}")
    page.wait_for_selector(DONE, state="attached")
    assert page.locator("body").get_attribute("data-state") == "scored"
    assert page.get_by_test_id("rollout-row").count() == len(doc["groups"][0]["rollouts"])


def test_upload(page: Any, open_service: ServeProcess, tmp_path: Any) -> None:
    doc = {**example(), "preset": "matchtir-ot"}
    path = tmp_path / "request.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    page.goto(open_service.url + "/ui")
    page.get_by_test_id("request-file").set_input_files(str(path))
    # the page reads the file asynchronously (File.text()): wait until it is in the request box
    page.wait_for_function("() => document.querySelector('[data-testid=request-input]').value !== ''")
    assert json.loads(page.get_by_test_id("request-input").input_value()) == doc
    assert page.get_by_test_id("preset-select-0").input_value() == "matchtir-ot"
    assert score(page) == "scored"
    assert page.get_by_test_id("rollout-row").count() == sum(len(g["rollouts"]) for g in doc["groups"])
