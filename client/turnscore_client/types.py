"""Typed results (plain dataclasses) for the API.md responses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = [
    "GroupScore",
    "Health",
    "Match",
    "Matrix",
    "MatrixCall",
    "MatrixGold",
    "RolloutScore",
    "ScoreResponse",
    "ScoreWarning",
    "Summary",
    "ToolRLScore",
]


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
class MatrixCall:
    """A predicted call of a :class:`Matrix` row: its turn, its index in the turn and its tool name."""

    turn: int
    call: int
    name: str

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MatrixCall:
        return cls(turn=int(d.get("turn", 0)), call=int(d.get("call", 0)), name=str(d.get("name") or ""))


@dataclass(frozen=True)
class MatrixGold:
    """A gold call of a :class:`Matrix` column."""

    name: str

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MatrixGold:
        return cls(name=str(d.get("name") or ""))


@dataclass(frozen=True)
class Matrix:
    """``explain="matrix"``: a rollout's m predicted x n gold calls (of its chosen reference), the
    similarity S of each pair and, for OT presets, the transport plan (``None`` otherwise)."""

    predicted: list[MatrixCall]
    gold: list[MatrixGold]
    similarity: list[list[float]]
    plan: list[list[float]] | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Matrix:
        plan = d.get("plan")
        return cls(
            predicted=[MatrixCall.from_dict(p) for p in d.get("predicted") or []],
            gold=[MatrixGold.from_dict(g) for g in d.get("gold") or []],
            similarity=[_floats(row) for row in d.get("similarity") or []],
            plan=[_floats(row) for row in plan] if isinstance(plan, list) else None,
        )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Summary:
    """Tool-use statistics of a group or of a whole response (docs/API.md, Summary): counts are sums over
    rollouts, ratios 0 when their denominator is 0. The call fields are ``None`` in an ``advantages()``
    answer (it has no calls). :meth:`to_dict` gives the fields that are set, e.g. for a trainer's logs."""

    rollouts: int = 0
    turns_mean: float = 0.0
    calls: int | None = None
    malformed_calls: int | None = None
    gold_calls: int | None = None
    matched_calls: int | None = None
    exact_calls: int | None = None
    redundant_calls: int | None = None
    covered_gold: int | None = None
    missed_gold: int | None = None
    call_precision: float | None = None
    call_recall: float | None = None
    call_f1: float | None = None
    redundant_ratio: float | None = None
    answer_rate: float | None = None
    outcome_mean: float = 0.0
    return_mean: float = 0.0
    return_std: float = 0.0  # population standard deviation
    advantage_abs_mean: float = 0.0  # mean |advantage| over every turn

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Summary:
        values: dict[str, Any] = {}
        for f in fields(cls):
            v = d.get(f.name)
            if v is None:
                continue
            values[f.name] = _int(v) if str(f.type).startswith("int") else _float(v)
        return cls(**values)

    def to_dict(self) -> dict[str, float]:
        """The fields that are set (advantages answers have no call fields), by name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


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
    matrix: Matrix | None = None  # explain="matrix"
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RolloutScore:
        matches = d.get("matches")
        matrix = d.get("matrix")
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
            matrix=Matrix.from_dict(matrix) if isinstance(matrix, Mapping) else None,
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
    summary: Summary | None = None  # tool-use statistics of the group
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GroupScore:
        gid = d.get("id")
        ref = d.get("gold_ref")
        refs = d.get("gold_refs")
        summary = d.get("summary")
        return cls(
            id=gid if gid is None or isinstance(gid, (str, int, float)) else str(gid),
            gold_ref=ref if isinstance(ref, str) else None,
            rollouts=[RolloutScore.from_dict(r) for r in d.get("rollouts") or []],
            gold_refs=[str(r) for r in refs] if isinstance(refs, list) else None,
            summary=Summary.from_dict(summary) if isinstance(summary, Mapping) else None,
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
    summary: Summary | None = None  # tool-use statistics of the whole request (chunks merged)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScoreResponse:
        preset = d.get("preset")
        warnings = d.get("warnings")
        summary = d.get("summary")
        return cls(
            summary=Summary.from_dict(summary) if isinstance(summary, Mapping) else None,
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
