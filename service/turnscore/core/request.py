"""Reading a request (API.md): the top-level fields, groups, gold sources and refs, reward rows.

Every function validates what it reads: a structural error is an :class:`InvalidRequest` naming the JSON
path (``groups[0].gold_refs``), a size over a :class:`Limits` field a :class:`LimitExceeded`. Rollouts
themselves are read by :mod:`parse`.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from . import keys
from .advantages import RewardRow
from .config import ScoringConfig, resolve
from .errors import InvalidRequest, LimitExceeded
from .gold import CompiledGold, compile_gold
from .limits import Limits
from .turns import canonical_json

DEFAULT_PRESET = "matchtir-km"
EXPLAIN_MATRIX = "matrix"  # the one string value of ``explain``
GOLD_KEYS = ("gold", "references", "gold_ref", "gold_refs")  # a group sends exactly one of them
MAX_ABS_REWARD = 1e9  # largest |reward| accepted by /v1/advantages


@dataclass(frozen=True, slots=True)
class Request:
    """The top-level fields of a ``/v1/score`` or ``/v1/advantages`` request, validated."""

    preset: str  # as echoed in the response (the default preset when the request names none)
    config: ScoringConfig  # the preset with the request's overrides
    step: int
    explain: bool
    groups: list[Any]  # still raw: each is read by :func:`read_group`
    matrix: bool = False  # ``explain: "matrix"``: also each rollout's similarity matrix (and OT plan)
    overrides: bool = False  # ``config`` overrides some setting of the preset (metrics label it "custom")


class GroupMeta(NamedTuple):
    """What the response says of a group besides its rollouts."""

    id: Any
    golds: list[CompiledGold]  # its references (missing refs left out: the request then fails)
    gold_key: str  # the one of GOLD_KEYS the group used


def read_request(request: Any, limits: Limits, known: tuple[str, ...] = keys.SCORE_REQUEST) -> Request:
    """The top-level fields (only ``known`` keys); ``groups``: a list of at most ``limits.max_groups``."""
    if not isinstance(request, Mapping):
        raise InvalidRequest("", "the request body must be a JSON object")
    keys.check(request, known, "")
    preset = request.get("preset")
    if preset is not None and not isinstance(preset, str):
        raise InvalidRequest("preset", "expected a string")
    cfg = resolve(preset, request.get("config"))
    step = request.get("step", 0)
    if step is None:
        step = 0
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise InvalidRequest("step", "expected an integer >= 0")
    explain = request.get("explain", False)
    if explain is None:
        explain = False
    matrix = explain == EXPLAIN_MATRIX
    if not isinstance(explain, bool) and not matrix:
        raise InvalidRequest("explain", f'expected true, false or "{EXPLAIN_MATRIX}"')
    groups = request.get("groups")
    if not isinstance(groups, list):
        raise InvalidRequest("groups", "expected a list of groups")
    if len(groups) > limits.max_groups:
        raise LimitExceeded("max_groups", limits.max_groups, "groups", len(groups))
    overrides = bool(request.get("config"))
    return Request(preset or DEFAULT_PRESET, cfg, step, bool(explain), groups, matrix, overrides)


def read_group(
    group: Any, index: int, limits: Limits, known: tuple[str, ...] = keys.GROUP
) -> tuple[dict[str, Any], list[Any]]:
    """Group ``index`` as an object (only ``known`` keys), with its (still raw) list of rollouts."""
    path = f"groups[{index}]"
    if not isinstance(group, dict):
        raise InvalidRequest(path, "expected a group object")
    keys.check(group, known, path)
    gid = group.get("id")
    if gid is not None and (isinstance(gid, bool) or not isinstance(gid, str | int | float)):
        raise InvalidRequest(f"{path}.id", "expected a string, a number or null")
    rollouts = group.get("rollouts")
    if not isinstance(rollouts, list):
        raise InvalidRequest(f"{path}.rollouts", "expected a list of rollouts")
    if len(rollouts) > limits.max_rollouts_per_group:
        raise LimitExceeded(
            "max_rollouts_per_group", limits.max_rollouts_per_group, f"{path}.rollouts", len(rollouts)
        )
    return group, rollouts


def gold_key(group: dict[str, Any], path: str) -> str:
    """Which of :data:`GOLD_KEYS` the group uses (exactly one must be set)."""
    given = [k for k in GOLD_KEYS if group.get(k) is not None]
    if len(given) != 1:
        raise InvalidRequest(
            path,
            "expected exactly one of gold, references, gold_ref"
            + (f" (got {', '.join(given)})" if given else ""),
        )
    return given[0]


def ref_list(group: dict[str, Any], key: str, path: str, limits: Limits) -> list[str]:
    """The refs under ``key`` (``gold_ref``: one string, ``gold_refs``: a list of them)."""
    value = group[key]
    refs = [value] if key == "gold_ref" else value
    if not isinstance(refs, list) or not refs or not all(isinstance(r, str) and r for r in refs):
        raise InvalidRequest(
            f"{path}.{key}",
            "expected a gold_ref string" if key == "gold_ref" else "expected a list of gold_ref strings",
        )
    if len(refs) > limits.max_references:
        raise LimitExceeded("max_references", limits.max_references, f"{path}.{key}", len(refs))
    return refs


def group_golds(
    group: dict[str, Any],
    path: str,
    limits: Limits,
    lookup: Mapping[str, CompiledGold],
    compiled: dict[str, CompiledGold],
    missing: list[str],
) -> GroupMeta:
    """The group's id and references: full traces are compiled into ``compiled`` (by ref, one object per
    distinct trace); refs are looked up in ``lookup`` (the transport's cache) or ``compiled``, and those
    found in neither are appended to ``missing``."""
    key = gold_key(group, path)
    if key == "gold":
        gold = compile_gold(group["gold"], f"{path}.gold", limits.max_gold_calls)
        compiled.setdefault(gold.ref, gold)
        return GroupMeta(group.get("id"), [compiled[gold.ref]], key)
    if key == "references":
        traces = group["references"]
        if not isinstance(traces, list) or not traces:
            raise InvalidRequest(f"{path}.references", "expected a non-empty list of gold traces")
        if len(traces) > limits.max_references:
            raise LimitExceeded("max_references", limits.max_references, f"{path}.references", len(traces))
        golds = []
        for k, trace in enumerate(traces):
            gold = compile_gold(trace, f"{path}.references[{k}]", limits.max_gold_calls)
            compiled.setdefault(gold.ref, gold)
            golds.append(compiled[gold.ref])
        return GroupMeta(group.get("id"), golds, key)
    golds = []
    for ref in ref_list(group, key, path, limits):
        found = lookup.get(ref) or compiled.get(ref)
        if found is None:
            if ref not in missing:
                missing.append(ref)
        elif len(found.calls) > limits.max_gold_calls:
            raise LimitExceeded("max_gold_calls", limits.max_gold_calls, f"{path}.{key}", len(found.calls))
        else:
            golds.append(found)
    return GroupMeta(group.get("id"), golds, key)


def dedupe_key(rollout: Any) -> str | bytes | None:
    """A key equal for identical rollout objects (GRPO groups often repeat outputs), or ``None``.

    A text-only rollout is keyed by its text; any other object by its JSON encoding (dict order kept,
    so only byte-identical objects share a key). Rollouts with the same key get the same scores, so
    the first one's parse and match are reused. Objects orjson cannot encode are never deduplicated.
    """
    if type(rollout) is not dict:
        return None
    if len(rollout) == 1:
        text = rollout.get("text")
        if type(text) is str:
            return text
    try:
        return orjson.dumps(rollout)
    except (TypeError, orjson.JSONEncodeError):
        return None


def _reward_value(x: Any, path: str) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise InvalidRequest(path, "expected a number")
    value = float(x)
    if not math.isfinite(value) or abs(value) > MAX_ABS_REWARD:
        raise InvalidRequest(path, f"expected a finite number with |x| <= {MAX_ABS_REWARD:g}")
    return value


def _states(value: Any, n: int, path: str, where: tuple[int, int]) -> list[Hashable]:
    """Per turn the anchor-state key of ``states`` (GiGPO): a value as canonical JSON; null (or no
    ``states``) is the group's prompt on the first turn and a state of its own on later turns."""
    if value is not None and (not isinstance(value, list) or len(value) != n):
        raise InvalidRequest(path, f"expected a list of {n} JSON values (one per turn reward) or null")
    given = value if value is not None else [None] * n
    return [
        ("state", canonical_json(v)) if v is not None else ("prefix", ()) if t == 0 else ("own", *where, t)
        for t, v in enumerate(given)
    ]


def reward_rows(request: Request, limits: Limits) -> tuple[list[RewardRow], list[list[Hashable]]]:
    """The rollouts of a ``/v1/advantages`` request: ``{turn_rewards, outcome_reward}`` objects, with a
    ``trajectory_reward`` when the reward scheme uses one; and each rollout's anchor-state keys."""
    cfg = request.config
    needs_trajectory = cfg.reward_scheme.startswith("trajectory")
    rows: list[RewardRow] = []
    states: list[list[Hashable]] = []
    for gi, group in enumerate(request.groups):
        _, raw = read_group(group, gi, limits, keys.ADVANTAGES_GROUP)
        for ri, rollout in enumerate(raw):
            path = f"groups[{gi}].rollouts[{ri}]"
            if not isinstance(rollout, dict):
                raise InvalidRequest(path, "expected an object {turn_rewards, outcome_reward}")
            keys.check(rollout, keys.REWARD_ROW, path)
            given = rollout.get("turn_rewards")
            if not isinstance(given, list):
                raise InvalidRequest(f"{path}.turn_rewards", "expected a list of numbers")
            if len(given) > limits.max_turns_per_rollout:
                raise LimitExceeded(
                    "max_turns_per_rollout", limits.max_turns_per_rollout, f"{path}.turn_rewards", len(given)
                )
            turn_rewards = [_reward_value(x, f"{path}.turn_rewards[{t}]") for t, x in enumerate(given)]
            outcome_in = rollout.get("outcome_reward", 0.0)
            outcome = 0.0 if outcome_in is None else _reward_value(outcome_in, f"{path}.outcome_reward")
            trajectory = None
            if needs_trajectory:
                if rollout.get("trajectory_reward") is None:
                    raise InvalidRequest(
                        f"{path}.trajectory_reward", f"required with reward_scheme {cfg.reward_scheme}"
                    )
                trajectory = _reward_value(rollout["trajectory_reward"], f"{path}.trajectory_reward")
            rows.append((gi, turn_rewards, outcome, trajectory))
            states.append(_states(rollout.get("states"), len(turn_rewards), f"{path}.states", (gi, ri)))
    return rows, states
