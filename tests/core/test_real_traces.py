"""Every preset over the real gold traces (tests.support.gold), perturbed into rollouts in all three forms."""

from __future__ import annotations

import math
import random

import pytest
from turnscore import workload
from turnscore.core import engine

from tests.support.gold import gold_records

PRESETS = list(engine.presets())


@pytest.fixture(scope="module")
def records():
    recs = gold_records()
    assert len(recs) >= 175
    return recs


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_scores_every_trace(records, preset):
    rng = random.Random(3)
    req = {"preset": preset, "groups": [workload.make_group(r, 2, rng) for r in records]}
    body = engine.score(req).body
    assert len(body["groups"]) == len(records)
    forms = set()
    for g, grp in zip(body["groups"], req["groups"], strict=True):
        assert g["gold_ref"].startswith("sha256:")
        for row, ro in zip(g["rollouts"], grp["rollouts"], strict=True):
            forms.update(ro)
            assert len(row["advantages"]) == row["num_turns"] == len(row["turn_rewards"])
            for v in row["advantages"] + row["turn_rewards"] + [row["return"], row["trajectory_advantage"]]:
                assert math.isfinite(v)
    assert forms == set(workload.FORMS)


def test_gold_traces_match_themselves_perfectly(records):
    """A rollout that repeats the gold calls turn by turn earns S = 1 for every call under hungarian."""
    groups = []
    for rec in records:
        gold = workload.gold_of(rec)
        turns = [{"tool_calls": t} for t in gold["turns"]]
        groups.append({"gold": gold, "rollouts": [{"turns": turns}]})
    body = engine.score({"explain": True, "groups": groups}).body
    for g in body["groups"]:
        for m in g["rollouts"][0]["matches"]:
            assert m["reward"] == 1.0, m
