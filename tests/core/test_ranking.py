"""Rewards that rank the way a person would (SCORING.md §4, §9): the ``turn_reward``, ``malformed_penalty``
settings, OT rewards that do not shrink with more predicted calls, and the ``turnscore-v1`` properties over
every real trace (tests.support.gold: the full set when present, else the vendored sample)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from turnscore.core import engine
from turnscore.core.assign import ot_assignment
from turnscore.core.config import PRESETS, resolve
from turnscore.core.errors import ConfigError
from turnscore.core.sinkhorn import ot_plans
from turnscore.workload import PERTURBATIONS, SPLITS, perturb, ranking_group, sites, split

from bench.properties import evaluate
from bench.properties import main as properties_main
from tests.support.gold import gold_records

GOLD = {
    "turns": [
        [{"name": "a", "arguments": {"x": 1}}, {"name": "b", "arguments": {"y": "two"}}],
        [{"name": "c", "arguments": {}}],
    ],
    "answer": "it is done",
}
CALLS = [c for t in GOLD["turns"] for c in t]
BROKEN = "<tool_call>\n{a: oops\n</tool_call>"


def _turns(turns: list[list[dict[str, Any]]], answer: str = "it is done") -> dict[str, Any]:
    return {"turns": [{"tool_calls": t} for t in turns] + [{"answer": answer}]}


def _score(preset: str, rollouts: list[dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
    body = engine.score({"preset": preset, "groups": [{"gold": GOLD, "rollouts": rollouts}], **kw}).body
    rows: list[dict[str, Any]] = body["groups"][0]["rollouts"]
    return rows


def test_new_settings_default_to_the_papers_and_turnscore_v1_sets_them() -> None:
    for name, cfg in PRESETS.items():
        if name != "turnscore-v1":
            assert (cfg.turn_reward, cfg.malformed_penalty) == ("mean", 0.0), name
    v1 = engine.presets()["turnscore-v1"]
    assert (v1["turn_reward"], v1["malformed_penalty"], v1["assignment"]) == (
        "gold_share",
        "unmatched",
        "hungarian",
    )


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"turn_reward": "sum"}, "turn_reward"),
        ({"malformed_penalty": "lambda"}, "malformed_penalty"),
        ({"malformed_penalty": -1}, "malformed_penalty"),
        ({"malformed_penalty": True}, "malformed_penalty"),
        ({"malformed_penalty": {"start": 0, "end": 1}}, "malformed_penalty.steps"),
    ],
)
def test_bad_settings_name_the_key(overrides: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        resolve("turnscore-v1", overrides)
    assert err.value.key == key


def test_gold_share_return_does_not_depend_on_the_turn_split() -> None:
    splits = [[CALLS], [[c] for c in CALLS], GOLD["turns"]]
    km = [r["return"] for r in _score("matchtir-km", [_turns(s) for s in splits])]
    v1 = [r["return"] for r in _score("turnscore-v1", [_turns(s) for s in splits])]
    assert km == [2.0, 4.0, 3.0]  # mean per turn: the return counts turns (the problem)
    assert v1 == [2.0, 2.0, 2.0]  # 3 calls of reward 1 over 3 gold calls, plus F1 = 1
    shared = _score("matchtir-km", [_turns(s) for s in splits], config={"turn_reward": "gold_share"})
    assert [r["turn_rewards"] for r in shared] == [
        [1.0, 0.0],
        [1 / 3, 1 / 3, 1 / 3, 0.0],
        [2 / 3, 1 / 3, 0.0],
    ]


def test_malformed_call_costs_like_an_unmatched_call() -> None:
    text = "<tool_call>\n" + '{"name": "a", "arguments": {"x": 1}}' + "\n</tool_call>\n" + BROKEN
    unmatched = _turns([[CALLS[0], {"name": "zzz", "arguments": {}}]])
    rows = _score("turnscore-v1", [{"text": text}, unmatched, _turns([[CALLS[0]]])])
    assert rows[0]["malformed_calls"] == 1
    assert rows[0]["turn_rewards"] == pytest.approx([(1 - 0.5) / 3])
    assert rows[0]["turn_rewards"] == pytest.approx(rows[1]["turn_rewards"][:1])
    assert rows[0]["return"] < rows[2]["return"]  # worse than not calling at all
    # matchtir-km keeps the paper's numbers (a malformed call is skipped); with the setting, it is a call
    # of reward -λ inside the turn's mean
    assert _score("matchtir-km", [{"text": text}])[0]["turn_rewards"] == [1.0]
    on = _score("matchtir-km", [{"text": text}], config={"malformed_penalty": "unmatched"})
    assert on[0]["turn_rewards"] == [pytest.approx((1 - 0.5) / 2)]


def test_malformed_penalty_follows_the_unmatched_schedule_or_its_own() -> None:
    text = BROKEN
    sched = {"unmatched_penalty": {"start": 0.0, "end": 1.0, "steps": 10}}
    assert _score("turnscore-v1", [{"text": text}], config=sched, step=5)[0]["turn_rewards"] == [-0.5 / 3]
    body = engine.score({"preset": "turnscore-v1", "config": sched, "step": 5, "groups": []}).body
    assert body["effective"] == {"step": 5, "unmatched_penalty": 0.5, "malformed_penalty": 0.5}
    assert "malformed_penalty" not in engine.score({"groups": []}).body["effective"]  # matchtir-km: unset
    own = {"malformed_penalty": 0.25}
    assert _score("turnscore-v1", [{"text": text}], config=own)[0]["turn_rewards"] == [-0.25 / 3]
    # answer turns' calls are never executed: their malformed calls cost nothing either
    answer_turn = {"text": BROKEN + "<answer>it is done</answer>"}
    assert _score("turnscore-v1", [answer_turn])[0]["turn_rewards"] == [0.0]


def _ot_rewards(s: np.ndarray, row_normalize: bool) -> np.ndarray:
    (plan,) = ot_plans([s], "exp", 0.1, 0.1, 1000, 1e-9)
    return ot_assignment(s, plan, row_normalize).rewards


def test_row_normalized_ot_rewards_do_not_shrink_as_predicted_calls_are_added() -> None:
    """With ``row_normalize`` a call's reward is its similarities averaged by its row of the plan (the row
    sums to 1): in [min_j S_ij, max_j S_ij] whatever the number m of predicted calls; predicting every call
    twice keeps every reward. Without it rewards scale as 1/m."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        m, n = rng.integers(1, 8, size=2)
        s = np.where(rng.random((m, n)) < 0.5, rng.random((m, n)), 0.0)
        r = _ot_rewards(s, True)
        assert (r >= s.min(axis=1) - 1e-12).all() and (r <= s.max(axis=1) + 1e-12).all()
        twice = np.vstack([s, s])
        assert np.allclose(_ot_rewards(twice, True), np.concatenate([r, r]), atol=1e-9)
        assert np.allclose(_ot_rewards(twice, False), np.concatenate([r, r]) / (2 * m), atol=1e-9)


def test_perturbations_change_what_they_say() -> None:
    rng = random.Random(0)
    turns, answer = GOLD["turns"], GOLD["answer"]
    assert [len(sites(turns, answer, k)) for k in PERTURBATIONS] == [3, 1, 3, 3, 2, 3, 1]
    flat = [c for t in split(turns, "one_per_turn") for c in t]
    assert flat == CALLS and split(turns, "one_turn") == [CALLS]
    dropped, _ = perturb(turns, answer, "dropped", (0, 1), rng)
    assert dropped == [[CALLS[0]], [CALLS[2]]]
    wrong, _ = perturb(turns, answer, "wrong_value", (0, 0), rng, {"x": [1, 2, 11, 0]})
    assert wrong[0][0]["arguments"] == {"x": "wrong value"}  # every plausible number was accepted
    assert perturb(turns, answer, "wrong_answer", (-1, -1), rng)[1] == "maybe"
    assert turns == GOLD["turns"]  # inputs untouched


def test_ranking_group_labels_every_rollout() -> None:
    record = {"id": "x", "gold": GOLD}
    group, labels = ranking_group(record, random.Random(0), combos=2)
    assert len(group["rollouts"]) == len(labels)
    assert labels[:3] == [f"gold@{s}" for s in SPLITS]
    assert sum(label.split("@")[0] in PERTURBATIONS for label in labels) == 16


def test_turnscore_v1_ranks_the_gold_first_on_every_real_trace() -> None:
    """The exact gold in every turn split has the same return, at least that of every perturbation (single or
    combined) and strictly more than each single perturbation (dropped, extra, duplicated, wrong-name,
    wrong-value, malformed call; wrong answer), on every trace of the gold records."""
    records = gold_records()
    results = evaluate(records, "turnscore-v1")
    failed = [
        r for r in results if not (r.all_hold and r.same_split_at_least_all and r.same_split_beats_singles)
    ]
    assert not failed, [(r.id, r.split_invariant, r.gold_at_least_all, r.beats, r.worst) for r in failed[:5]]
    kinds = {k for r in results for k in r.beats}
    assert kinds == set(PERTURBATIONS)  # every kind was tried somewhere


def test_scoring_md_documents_the_settings_and_the_property_table() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "SCORING.md").read_text(encoding="utf-8")
    settings = doc.split("### Settings", 1)[1].split("\n\n", 2)[1]
    for key in ("turn_reward", "malformed_penalty", "row_normalize"):
        assert f"`{key}`" in settings, key
    table = doc.split("## 9. Ranking properties", 1)[1]
    for name in engine.presets():
        assert f"| `{name}` |" in table, name


def test_bench_properties_prints_a_row_per_preset(capsys: pytest.CaptureFixture[str]) -> None:
    assert properties_main(["--sample", "--presets", "matchtir-km,turnscore-v1", "--combos", "1"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| `")]
    assert [r.split("|")[1].strip() for r in rows] == ["`matchtir-km`", "`turnscore-v1`"]
    assert set(rows[1].split("|")[2:-1]) == {" 100.0% "}
    assert " 100.0% " not in rows[0].split("|")[2:3]  # matchtir-km: R depends on the turn split


@pytest.mark.parametrize("form", ["turns", "messages"])
def test_turnscore_v1_ranking_holds_in_the_structured_forms(form: str) -> None:
    """The same properties with the rollouts as ``turns`` / ``messages`` (a malformed call: one without a
    name), on the vendored sample."""
    records = gold_records(sample=True)
    results = evaluate(records, "turnscore-v1", form=form)
    failed = [r for r in results if not (r.all_hold and r.same_split_beats_singles)]
    assert not failed, [(r.id, r.beats, r.worst) for r in failed[:5]]
