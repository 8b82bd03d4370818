"""Request size limits: the core's defaults, per request and per rollout.

A :class:`~turnscore.core.errors.LimitExceeded` names the limit that was hit (the field names below).
The ``MAX_*`` constants are the defaults; the service's settings start from them.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_GROUPS = 10_000
MAX_ROLLOUTS_PER_GROUP = 1_024
MAX_CALLS_PER_ROLLOUT = 1_024
MAX_TEXT_CHARS = 1_000_000
MAX_TURNS_PER_ROLLOUT = 1_024
MAX_REFERENCES = 64


@dataclass(frozen=True, slots=True)
class RolloutLimits:
    """The limits :func:`~turnscore.core.parse.parse_rollout` checks on one rollout."""

    max_calls: int
    max_turns: int
    max_text_chars: int


@dataclass(frozen=True, slots=True)
class Limits:
    """Request size limits (``None`` where a function takes limits = these defaults)."""

    max_groups: int = MAX_GROUPS
    max_rollouts_per_group: int = MAX_ROLLOUTS_PER_GROUP
    max_calls_per_rollout: int = MAX_CALLS_PER_ROLLOUT
    max_text_chars: int = MAX_TEXT_CHARS
    max_turns_per_rollout: int = MAX_TURNS_PER_ROLLOUT
    max_references: int = MAX_REFERENCES

    def rollout(self) -> RolloutLimits:
        return RolloutLimits(self.max_calls_per_rollout, self.max_turns_per_rollout, self.max_text_chars)


DEFAULT_LIMITS = Limits()
