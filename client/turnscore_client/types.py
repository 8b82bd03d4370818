"""Typed results (plain dataclasses) for the API.md responses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GroupScore", "Health", "Match", "RolloutScore", "ScoreResponse", "ScoreWarning", "ToolRLScore"]


def _floats(value: Any) -> list[float]:
    return list(map(float, value)) if isinstance(value, list) else []


@dataclass(frozen=True)
class Match:
    """One predicted call of a rollout and what it matched (``explain=True``)."""

    turn: int
    call: int
    gold: int | None
    similarity: float
    reward: float
    name: str | None = None  # the predicted call's tool name

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Match:
        gold = d.get("gold")
        name = d.get("name")
        return cls(
            turn=int(d.get("turn", 0)),
            call=int(d.get("call", 0)),
            gold=None if gold is None else int(gold),
            similarity=float(d.get("similarity") or 0.0),
            reward=float(d.get("reward") or 0.0),
            name=name if isinstance(name, str) else None,
        )


@dataclass(frozen=True)
class ToolRLScore:
    """The two terms of the ToolRL reward (``toolrl`` presets): R = format + correctness."""

    format: float
    correctness: float

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ToolRLScore:
        return cls(format=float(d.get("format") or 0.0), correctness=float(d.get("correctness") or 0.0))


@dataclass(frozen=True)
class RolloutScore:
    """Scores of one rollout. ``return_`` is the trajectory return R_i (``"return"`` on the wire);
    ``advantages[t]`` is the combined advantage for every token of assistant turn t."""

    turn_rewards: list[float]
    outcome_reward: float
    return_: float
    trajectory_advantage: float
    turn_advantages: list[float]
    advantages: list[float]
    num_turns: int = 0
    num_calls: int = 0
    malformed_calls: int = 0
    reference: int | None = None
    matches: list[Match] | None = None
    trajectory_reward: float | None = None  # the trajectory reward schemes
    toolrl: ToolRLScore | None = None  # toolrl presets
    step_group_sizes: list[int] | None = None  # advantage gigpo: each turn's step-group size
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RolloutScore:
        matches = d.get("matches")
        ref = d.get("reference")
        traj = d.get("trajectory_reward")
        toolrl = d.get("toolrl")
        sizes = d.get("step_group_sizes")
        turn_rewards = _floats(d.get("turn_rewards"))
        return cls(
            turn_rewards=turn_rewards,
            outcome_reward=float(d.get("outcome_reward") or 0.0),
            return_=float(d.get("return") or 0.0),
            trajectory_advantage=float(d.get("trajectory_advantage") or 0.0),
            turn_advantages=_floats(d.get("turn_advantages")),
            advantages=_floats(d.get("advantages")),
            num_turns=int(d.get("num_turns", len(turn_rewards)) or 0),
            num_calls=int(d.get("num_calls") or 0),
            malformed_calls=int(d.get("malformed_calls") or 0),
            reference=None if ref is None else int(ref),
            matches=[Match.from_dict(m) for m in matches] if isinstance(matches, list) else None,
            trajectory_reward=None if traj is None else float(traj),
            toolrl=ToolRLScore.from_dict(toolrl) if isinstance(toolrl, Mapping) else None,
            step_group_sizes=[int(x) for x in sizes] if isinstance(sizes, list) else None,
            raw=dict(d),
        )


@dataclass(frozen=True)
class GroupScore:
    """One group (prompt): its rollouts in request order; ``id`` as sent (a string, a number or None);
    ``gold_ref``: the id of its gold in the service (``gold_refs``: one per reference of a ``references``
    group)."""

    id: str | int | float | None
    gold_ref: str | None
    rollouts: list[RolloutScore]
    gold_refs: list[str] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GroupScore:
        gid = d.get("id")
        ref = d.get("gold_ref")
        refs = d.get("gold_refs")
        return cls(
            id=gid if gid is None or isinstance(gid, (str, int, float)) else str(gid),
            gold_ref=ref if isinstance(ref, str) else None,
            rollouts=[RolloutScore.from_dict(r) for r in d.get("rollouts") or []],
            gold_refs=[str(r) for r in refs] if isinstance(refs, list) else None,
            raw={k: v for k, v in d.items() if k != "rollouts"},
        )

    @property
    def returns(self) -> list[float]:
        return [r.return_ for r in self.rollouts]


@dataclass(frozen=True)
class ScoreWarning:
    """Model output the service read, but probably not as meant (one per ``code`` per response):
    ``path`` is the JSON path of the first occurrence, ``count`` the occurrences in the request."""

    code: str
    path: str
    count: int
    message: str

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScoreWarning:
        return cls(
            code=str(d.get("code") or ""),
            path=str(d.get("path") or ""),
            count=int(d.get("count") or 0),
            message=str(d.get("message") or ""),
        )


@dataclass(frozen=True)
class ScoreResponse:
    """The answer of ``score()`` / ``advantages()``: groups in request order (several chunks merged).
    ``effective``: the schedule values in effect at the request's step; ``warnings``: model output read,
    but probably not as meant (e.g. ``no_calls_parsed_from_text``: check the format settings)."""

    preset: str | None
    config: dict[str, Any]
    groups: list[GroupScore]
    effective: dict[str, Any] = field(default_factory=dict)
    warnings: list[ScoreWarning] = field(default_factory=list)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScoreResponse:
        preset = d.get("preset")
        warnings = d.get("warnings")
        return cls(
            preset=None if preset is None else str(preset),
            config=dict(d.get("config") or {}),
            groups=[GroupScore.from_dict(g) for g in d.get("groups") or []],
            effective=dict(d.get("effective") or {}),
            warnings=[ScoreWarning.from_dict(w) for w in warnings if isinstance(w, Mapping)]
            if isinstance(warnings, list)
            else [],
        )

    @property
    def returns(self) -> list[list[float]]:
        """R_i per rollout, grouped like the request."""
        return [g.returns for g in self.groups]

    @property
    def rollouts(self) -> list[RolloutScore]:
        """Every rollout, flattened in request order."""
        return [r for g in self.groups for r in g.rollouts]


@dataclass(frozen=True)
class Health:
    """``GET /healthz`` (or ``/readyz`` with ``ready=True``): ``ok`` when the answer was 2xx."""

    ok: bool
    status: int
    body: Any = None
