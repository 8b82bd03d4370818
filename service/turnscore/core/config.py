"""Scoring configuration: presets (SCORING.md §6), override validation and schedules."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .errors import ConfigError, UnknownPreset
from .keys import suggestion
from .tags import PatternError, RegexScanner, Scanner, scanner

QWEN_SEPARATOR = "\n<|im_start|>assistant\n"

TURN_END = "<|im_end|>"
ANSWER_MODES = ("tag", "last_text")

FORMAT_STYLES: dict[str, dict[str, Any]] = {
    # Qwen / Hermes chat template: one JSON object per <tool_call> block, answers in <answer>,
    # <think>...</think> dropped before calls and answers are read.
    "qwen": {
        "turn_separator": QWEN_SEPARATOR,
        "tool_call_pattern": r"<tool_call>(.*?)</tool_call>",
        "answer_pattern": r"<answer>(.*?)</answer>",
        "call_layout": "object",
        "strip_think": True,
    },
    # ToolRL: one <tool_call> block holding one JSON object per line, final text in <response>.
    "toolrl": {
        "turn_separator": QWEN_SEPARATOR,
        "tool_call_pattern": r"<tool_call>(.*?)</tool_call>",
        "answer_pattern": r"<response>(.*?)</response>",
        "call_layout": "lines",
        "strip_think": False,
    },
}

CHOICES: dict[str, tuple[str, ...]] = {
    "reward": ("matchtir", "toolrl"),
    "assignment": ("hungarian", "greedy", "ot", "none"),
    "value_match": ("exact", "normalized", "python"),
    "cost": ("neg", "linear", "normalized", "exp"),
    "outcome": ("f1", "em", "none"),
    "outcome_placement": ("discounted", "answer_turn"),
    "reward_scheme": ("turn+outcome", "turn", "outcome", "trajectory", "trajectory+outcome"),
    "advantage": ("dual", "trajectory", "turn", "mt-grpo", "gigpo"),
    "gigpo_mode": ("mean_norm", "mean_std_norm"),
    "mt_grpo_mode": ("aae", "cae"),
    "combine": ("sum", "mean"),
    "std": ("sample", "population", "none"),
    "singleton": ("zero", "raw"),
    "turn_normalization": ("position", "group", "trajectory", "loo"),
    "turn_reward": ("mean", "gold_share"),
}
# ``malformed_penalty`` may name this instead of a number: the unmatched penalty λ in force at the step.
FOLLOW_UNMATCHED = "unmatched"

# (minimum, maximum, minimum is exclusive) for numeric keys.
RANGES: dict[str, tuple[float, float, bool]] = {
    "gamma": (0.0, 1.0, False),
    "epsilon": (0.0, 1.0, True),
    "reg": (0.0, 1e6, True),
    "tau": (0.0, 1e6, True),
    "ot_stop_thr": (0.0, 1.0, True),
    "toolrl_correctness_max": (-1e6, 1e6, False),
    "toolrl_correctness_min": (-1e6, 1e6, False),
    "toolrl_format_max": (-1e6, 1e6, False),
    "toolrl_format_min": (-1e6, 1e6, False),
    "turn_advantage_coef": (0.0, 1e6, False),
    "step_advantage_w": (0.0, 1e6, False),
}
INT_RANGES: dict[str, tuple[int, int]] = {"ot_max_iter": (1, 10_000)}
BOOL_KEYS = ("name_case_sensitive", "row_normalize", "toolrl_schedule")
FORMAT_KEYS = (
    "style",
    "turn_separator",
    "tool_call_pattern",
    "answer_pattern",
    "call_layout",
    "strip_think",
    "answer",
    "turn_end",
)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A value linear in the training step from ``start`` to ``end`` over ``steps``, then clamped."""

    start: float
    end: float
    steps: int

    def at(self, step: int) -> float:
        frac = min(max(step, 0), self.steps) / self.steps
        return self.start + (self.end - self.start) * frac


@dataclass(frozen=True, slots=True)
class FormatConfig:
    """How `text` rollouts are split into turns, calls and answers."""

    style: str = "qwen"
    turn_separator: str = QWEN_SEPARATOR
    tool_call_pattern: str = FORMAT_STYLES["qwen"]["tool_call_pattern"]
    answer_pattern: str = FORMAT_STYLES["qwen"]["answer_pattern"]
    call_layout: str = "object"  # "object": one JSON object per block; "lines": one per line
    strip_think: bool = True  # drop <think>...</think> before calls and answers are read
    answer: str = "tag"  # "tag": the answer pattern; "last_text": also the last turn's plain text
    turn_end: str = TURN_END  # end of the model's part of a turn (for last_text and warnings)

    def scanners(self) -> tuple[Scanner, Scanner]:
        """(tool-call scanner, answer scanner) for these patterns (cached)."""
        key = (self.tool_call_pattern, self.answer_pattern)
        got = _SCANNER_CACHE.get(key)
        if got is None:
            got = (scanner(self.tool_call_pattern), scanner(self.answer_pattern))
            if len(_SCANNER_CACHE) < 256:
                _SCANNER_CACHE[key] = got
        return got


_SCANNER_CACHE: dict[tuple[str, str], tuple[Scanner, Scanner]] = {}


@dataclass(frozen=True, slots=True)
class ScoringConfig:
    """Every setting of SCORING.md; presets are instances of this class."""

    reward: str = "matchtir"
    assignment: str = "hungarian"
    unmatched_penalty: float | Schedule = 0.5
    value_match: str = "exact"
    name_case_sensitive: bool = False
    cost: str = "exp"
    reg: float = 0.1
    tau: float = 0.1
    row_normalize: bool = False
    ot_max_iter: int = 1000
    ot_stop_thr: float = 1e-9
    outcome: str = "f1"
    outcome_placement: str = "discounted"
    reward_scheme: str = "turn+outcome"
    advantage: str = "dual"
    combine: str = "sum"
    std: str = "sample"
    singleton: str = "zero"
    gamma: float = 0.9
    epsilon: float = 1e-6
    turn_normalization: str = "position"
    format: FormatConfig = field(default_factory=FormatConfig)
    toolrl_correctness_max: float = 3.0
    toolrl_correctness_min: float = -3.0
    toolrl_format_max: float = 1.0
    toolrl_format_min: float = 0.0
    toolrl_schedule: bool = False
    turn_reward: str = "mean"
    malformed_penalty: float | Schedule | str = 0.0
    mt_grpo_mode: str = "aae"  # advantage mt-grpo: aae (turn advantage added) or cae (cumulative)
    turn_advantage_coef: float = 1.0  # advantage mt-grpo: weight of the turn-reward advantage (aae)
    gigpo_mode: str = "mean_norm"  # advantage gigpo: mean_norm (no std) or mean_std_norm
    step_advantage_w: float = 1.0  # advantage gigpo: weight of the step advantage

    def penalty_at(self, step: int) -> float:
        p = self.unmatched_penalty
        return p.at(step) if isinstance(p, Schedule) else float(p)

    def malformed_at(self, step: int) -> float:
        """The malformed-call penalty at ``step`` (``"unmatched"``: the unmatched penalty λ then)."""
        p = self.malformed_penalty
        if p == FOLLOW_UNMATCHED:
            return self.penalty_at(step)
        return p.at(step) if isinstance(p, Schedule) else float(p)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        """The resolved settings as plain JSON (what responses echo and overrides accept): a fresh dict
        each time, copied from the one ``asdict`` built once for this very object (see ``_DICTS``)."""
        got = _DICTS.get(id(self))
        if got is None or got[0] is not self:
            out = asdict(self)
            if any(
                type(v) is dict and any(type(x) in (dict, list) for x in v.values()) for v in out.values()
            ):
                return out  # deeper than one nested level: not copied by the code below
            if len(_DICTS) >= _MAX_DICTS:
                _DICTS.clear()
            got = _DICTS[id(self)] = (self, out)
        return {k: v.copy() if type(v) is dict else v for k, v in got[1].items()}


# id -> (the config, its asdict): the presets' (and a few overridden configs') dicts, built once; the entry
# holds the config, so its id is not reused while cached.
_DICTS: dict[int, tuple[ScoringConfig, dict[str, Any]]] = {}
_MAX_DICTS = 64


def _fmt(style: str) -> FormatConfig:
    return FormatConfig(style=style, **FORMAT_STYLES[style])


_REFERENCE_FORMAT = replace(_fmt("qwen"), strip_think=False)


PRESETS: dict[str, ScoringConfig] = {
    "matchtir-km": ScoringConfig(),
    "matchtir-ot": ScoringConfig(assignment="ot", cost="exp", tau=0.1, reg=0.1, unmatched_penalty=0.0),
    # The reference code reads calls from the whole turn, think blocks included: strip_think off.
    "matchtir-reference-km": ScoringConfig(
        format=_REFERENCE_FORMAT,
        assignment="greedy",
        unmatched_penalty=0.0,
        value_match="python",
        outcome_placement="answer_turn",
        combine="mean",
        singleton="raw",
    ),
    "matchtir-reference-ot": ScoringConfig(
        format=_REFERENCE_FORMAT,
        assignment="ot",
        cost="neg",
        reg=0.1,
        unmatched_penalty=0.0,
        value_match="python",
        outcome_placement="answer_turn",
        combine="mean",
        singleton="raw",
    ),
    # ToolRL: R = format + correctness is carried as the trajectory-level (outcome) reward.
    "toolrl": ScoringConfig(
        reward="toolrl",
        assignment="none",
        unmatched_penalty=0.0,
        value_match="python",
        name_case_sensitive=True,
        reward_scheme="outcome",
        advantage="trajectory",
        format=_fmt("toolrl"),
    ),
    "grpo-outcome": ScoringConfig(
        assignment="none", unmatched_penalty=0.0, reward_scheme="outcome", advantage="trajectory"
    ),
    # The recommended preset (SCORING.md §6): matchtir-km whose returns rank rollouts the way a person would.
    # Its meaning never changes; an improvement becomes turnscore-v2.
    "turnscore-v1": ScoringConfig(turn_reward="gold_share", malformed_penalty=FOLLOW_UNMATCHED),
}
# The MatchTIR paper's ablations (SCORING.md §6): matchtir-km with one reward scheme / estimator changed.
_ABLATIONS: dict[str, dict[str, Any]] = {
    "outcome": {"reward_scheme": "outcome", "advantage": "trajectory"},
    "trajectory": {"reward_scheme": "trajectory", "advantage": "trajectory"},
    "trajectory-outcome": {"reward_scheme": "trajectory+outcome", "advantage": "trajectory"},
    "turn": {"reward_scheme": "turn", "advantage": "turn"},
    "turn-outcome-nodual": {"advantage": "turn"},
    "turn-outcome-dual": {},
    "adv-trajectory": {"advantage": "trajectory"},
    "adv-turn": {"advantage": "turn"},
    "adv-intra": {"turn_normalization": "trajectory"},
    "adv-dual": {},
}
PRESETS.update(
    {f"matchtir-ablation-{name}": replace(PRESETS["matchtir-km"], **kw) for name, kw in _ABLATIONS.items()}
)
# MT-GRPO (Zeng et al.), the public code's defaults: torch.std (sample), 1e-4, discount 1, mode aae.
PRESETS["mt-grpo"] = ScoringConfig(advantage="mt-grpo", epsilon=1e-4, gamma=1.0)
# GiGPO (Feng et al.), verl-agent's defaults: mode mean_norm, weight 1, gamma 0.95; an episode group of one
# turn has mean 0 and std 1 there (singleton raw).
PRESETS["gigpo"] = ScoringConfig(advantage="gigpo", gamma=0.95, singleton="raw")
# An unbiased turn baseline (SCORING.md §5): reward-to-go minus the leave-one-out mean at the turn index.
PRESETS["turn-loo"] = ScoringConfig(advantage="turn", turn_normalization="loo")
DEFAULT_PRESET = "matchtir-km"


def preset_names() -> list[str]:
    return list(PRESETS)


def get_preset(name: str | None) -> ScoringConfig:
    if name is None:
        return PRESETS[DEFAULT_PRESET]
    if not isinstance(name, str) or name not in PRESETS:
        raise UnknownPreset(str(name), preset_names())
    return PRESETS[name]


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(key, f"expected a number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise ConfigError(key, "must be a finite number")
    return v


def _check_range(key: str, v: float) -> float:
    if key in RANGES:
        lo, hi, excl = RANGES[key]
        if (v <= lo if excl else v < lo) or v > hi:
            bound = f"({lo}, {hi}]" if excl else f"[{lo}, {hi}]"
            raise ConfigError(key, f"{v} is out of range {bound}")
    return v


def _penalty(value: Any, key: str = "unmatched_penalty") -> float | Schedule:
    if isinstance(value, Mapping):
        extra = set(value) - {"start", "end", "steps"}
        if extra:
            raise ConfigError(
                f"{key}.{sorted(extra)[0]}", "unknown schedule key (expected start, end, steps)"
            )
        for k in ("start", "end", "steps"):
            if k not in value:
                raise ConfigError(f"{key}.{k}", "missing schedule key")
        start, end = _number(f"{key}.start", value["start"]), _number(f"{key}.end", value["end"])
        steps = value["steps"]
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ConfigError(f"{key}.steps", "expected an integer >= 1")
        for k, v in (("start", start), ("end", end)):
            if v < 0 or v > 1e6:
                raise ConfigError(f"{key}.{k}", f"{v} is out of range [0, 1000000.0]")
        return Schedule(start, end, steps)
    v = _number(key, value)
    if v < 0 or v > 1e6:
        raise ConfigError(key, f"{v} is out of range [0, 1000000.0]")
    return v


def _unknown(path: str, key: str, known: Any) -> ConfigError:
    """An unknown config key, with the known key it was probably meant to be (details.suggestion)."""
    near = suggestion(key, known)
    hint = f"; did you mean {near!r}?" if near else ""
    return ConfigError(path, f"unknown key{hint}", extra={"unknown": key, "suggestion": near})


def _format(base: FormatConfig, value: Any) -> FormatConfig:
    if isinstance(value, str):
        value = {"style": value}
    if not isinstance(value, Mapping):
        raise ConfigError("format", "expected a style name or an object")
    for k in value:
        if k not in FORMAT_KEYS:
            raise _unknown(f"format.{k}", str(k), FORMAT_KEYS)
    fmt = base
    if "style" in value:
        style = value["style"]
        if style not in FORMAT_STYLES:
            raise ConfigError("format.style", f"expected one of {', '.join(FORMAT_STYLES)}")
        fmt = _fmt(style)
    changes: dict[str, Any] = {}
    if "strip_think" in value:
        if not isinstance(value["strip_think"], bool):
            raise ConfigError("format.strip_think", "expected true or false")
        changes["strip_think"] = value["strip_think"]
    if "answer" in value and value["answer"] not in ANSWER_MODES:
        raise ConfigError("format.answer", f"expected one of {', '.join(ANSWER_MODES)}")
    for k in ("turn_separator", "tool_call_pattern", "answer_pattern", "call_layout", "answer", "turn_end"):
        if k in value:
            v = value[k]
            if not isinstance(v, str) or not v:
                raise ConfigError(f"format.{k}", "expected a non-empty string")
            changes[k] = v
    if "call_layout" in changes and changes["call_layout"] not in ("object", "lines"):
        raise ConfigError("format.call_layout", "expected 'object' or 'lines'")
    for k in ("tool_call_pattern", "answer_pattern"):
        if k in changes:  # RE2 syntax (linear time): no backreferences, no lookaround (tags.py)
            try:
                found = scanner(changes[k])
            except PatternError as exc:
                raise ConfigError(f"format.{k}", f"invalid regular expression: {exc}") from None
            if isinstance(found, RegexScanner) and found.pattern.groups > 1:
                raise ConfigError(f"format.{k}", "at most one capture group (the body)")
    return replace(fmt, **changes)


def resolve(preset: str | None, overrides: Any) -> ScoringConfig:
    """A preset with ``overrides`` applied key by key; every bad key is a :class:`ConfigError`."""
    base = get_preset(preset)
    if overrides is None:
        return base
    if not isinstance(overrides, Mapping):
        raise ConfigError("", "config must be an object")
    known = {f for f in ScoringConfig.__dataclass_fields__}
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in known:
            raise _unknown(str(key), str(key), sorted(known))
        if key in CHOICES:
            if value not in CHOICES[key]:
                raise ConfigError(key, f"expected one of {', '.join(CHOICES[key])}, got {value!r}")
            changes[key] = value
        elif key == "unmatched_penalty":
            changes[key] = _penalty(value)
        elif key == "malformed_penalty":
            if isinstance(value, str) and value != FOLLOW_UNMATCHED:
                raise ConfigError(
                    key, f'expected a number >= 0, {{"start", "end", "steps"}} or "{FOLLOW_UNMATCHED}"'
                )
            changes[key] = value if value == FOLLOW_UNMATCHED else _penalty(value, key)
        elif key == "format":
            changes[key] = _format(base.format, value)
        elif key in BOOL_KEYS:
            if not isinstance(value, bool):
                raise ConfigError(key, f"expected true or false, got {type(value).__name__}")
            changes[key] = value
        elif key in INT_RANGES:
            lo, hi = INT_RANGES[key]
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ConfigError(key, f"expected an integer in [{lo}, {hi}]")
            changes[key] = value
        else:
            changes[key] = _check_range(key, _number(key, value))
    cfg = replace(base, **changes)
    if cfg.toolrl_correctness_min > cfg.toolrl_correctness_max:
        raise ConfigError("toolrl_correctness_min", "must not exceed toolrl_correctness_max")
    if cfg.toolrl_format_min > cfg.toolrl_format_max:
        raise ConfigError("toolrl_format_min", "must not exceed toolrl_format_max")
    return cfg


def presets_dict() -> dict[str, dict[str, Any]]:
    return {name: cfg.to_dict() for name, cfg in PRESETS.items()}
