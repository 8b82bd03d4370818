"""The pure scoring core: parse → similarity → assign → rewards → advantages.

Transports call :mod:`turnscore.core.engine` only.
"""

from .config import PRESETS, ScoringConfig, resolve
from .engine import ScoreResult, ScoreStats, advantages, gold_refs_in, presets, score
from .errors import (
    ConfigError,
    InvalidRequest,
    LimitExceeded,
    TurnScoreError,
    UnknownGoldRef,
    UnknownPreset,
)
from .gold import CompiledGold, compile_gold
from .limits import Limits

__all__ = [
    "PRESETS",
    "CompiledGold",
    "ConfigError",
    "InvalidRequest",
    "LimitExceeded",
    "Limits",
    "ScoreResult",
    "ScoreStats",
    "ScoringConfig",
    "TurnScoreError",
    "UnknownGoldRef",
    "UnknownPreset",
    "advantages",
    "compile_gold",
    "gold_refs_in",
    "presets",
    "resolve",
    "score",
]
