"""diagnostics.collect against a plain reference of it (every rollout's notes, the gold/settings notes
computed for each one afresh): the same warnings, per-rollout counts and totals on real gold traces, under
presets that add notes (outcome, ToolRL) and one that adds none, with repeated rollouts and groups whose
references have no answer."""

from __future__ import annotations

import random
from typing import Any

import pytest
from turnscore import workload
from turnscore.core import diagnostics, engine, toolrl
from turnscore.core.config import ScoringConfig, resolve
from turnscore.core.limits import DEFAULT_LIMITS
from turnscore.core.request import read_request
from turnscore.core.rewards import Rollout, final_answer
from turnscore.core.turns import Note

from tests.support.gold import gold_records


def reference(rollouts: list[Rollout], cfg: ScoringConfig) -> tuple[list[dict[str, Any]], list[int]]:
    entries: dict[str, list[Any]] = {}
    per_rollout = []
    index: dict[int, int] = {}
    for r in rollouts:
        ri = index.get(r.group, 0)
        index[r.group] = ri + 1
        notes = list(r.parsed.notes)
        wants = cfg.reward == "toolrl" or cfg.outcome != "none"
        if wants and any(g.answer is not None for g in r.golds) and final_answer(r.parsed) is None:
            notes.append(Note("answer_missing", ""))
        if cfg.reward == "toolrl":
            missing = toolrl.turns_missing_think(r.parsed, cfg.format.turn_end)
            if missing:
                notes.append(Note("toolrl_format_missing_think", f".{r.parsed.form}", missing))
        for note in notes:
            entries.setdefault(note.code, [f"groups[{r.group}].rollouts[{ri}]{note.path}", 0])[1] += (
                note.count
            )
        per_rollout.append(sum(n.count for n in notes))
    return [{"code": c, "path": p, "count": n} for c, (p, n) in entries.items()], per_rollout


def request() -> dict[str, Any]:
    rng = random.Random(5)
    groups = []
    for k, rec in enumerate(gold_records(sample=True)[:60]):
        group = workload.make_group(rec, 4, rng)
        group["rollouts"].append(group["rollouts"][0])  # a repeated rollout (parsed once)
        group["rollouts"] += [{"text": f"no think, no answer {k % 2}"}, {"turns": [{"tool_calls": []}]}]
        group["gold"]["answer"] = None if k % 3 == 0 else "42"  # no reference answer: no answer_missing
        groups.append(group)
    return {"groups": groups}


@pytest.mark.parametrize("preset", ["matchtir-km", "toolrl", "grpo-outcome"])
@pytest.mark.parametrize("outcome", [None, "none"])
def test_collect_equals_the_reference(preset: str, outcome: str | None) -> None:
    body = {**request(), "preset": preset}
    if outcome is not None:
        body["config"] = {"outcome": outcome}
    req = read_request(body, DEFAULT_LIMITS)
    _, unique, order = engine._parse_groups(req, DEFAULT_LIMITS, {}, {}, None)
    rollouts = [unique[k] for k in order]
    cfg = resolve(preset, body.get("config"))
    found = diagnostics.collect(rollouts, cfg)
    warnings, per_rollout = reference(rollouts, cfg)
    assert [{k: w[k] for k in ("code", "path", "count")} for w in found.warnings] == warnings
    assert found.per_rollout == per_rollout
    assert found.totals == {w["code"]: w["count"] for w in warnings}
    answers = cfg.outcome != "none" or cfg.reward == "toolrl"
    wanted = {"malformed_calls"} | ({"answer_missing"} if answers else set())
    assert set(found.totals) == wanted | (
        {"toolrl_format_missing_think"} if cfg.reward == "toolrl" else set()
    )
