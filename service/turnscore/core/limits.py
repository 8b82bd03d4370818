"""Request size limits: the core's defaults, per request and per rollout; the request deadline.

A :class:`~turnscore.core.errors.LimitExceeded` names the limit that was hit (the field names below).
The ``MAX_*`` constants are the defaults; the service's settings start from them. Every limit bounds work
*before* it starts: the work of a request grows with predicted calls x gold calls summed over rollouts and
references, so besides counts there are two budgets in similarity cells (``m x n`` pairs):

- ``max_match_cells``: the sum of ``m x n`` over every (distinct rollout, reference) of a request;
- ``max_ot_cells``: the same sum over the problems of an ``ot`` request, which are dense and iterated
  (Sinkhorn solves them as one block-diagonal system).

Defaults cover every real trace with a wide margin: the 3,918 gold traces of the full set have at most 35
calls (BFCL multi-turn) and arguments nested at most 3 deep.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .errors import DeadlineExceeded

MAX_GROUPS = 10_000
MAX_ROLLOUTS_PER_GROUP = 1_024
MAX_CALLS_PER_ROLLOUT = 1_024
MAX_TEXT_CHARS = 1_000_000
MAX_TURNS_PER_ROLLOUT = 1_024
MAX_REFERENCES = 64
MAX_GOLD_CALLS = 256  # calls of one gold trace (real traces: <= 35)
MAX_MATCH_CELLS = 4_000_000  # sum of m x n over rollouts x references of a request
MAX_OT_CELLS = 1_000_000  # the same sum over the dense OT problems of a request
#: JSON nested inside a string (tool-call arguments sent as a JSON string, calls in model text) is decoded
#: at most this deep; deeper model output is a malformed call, a deeper gold trace an invalid request.
MAX_NESTED_JSON_DEPTH = 32


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
    max_gold_calls: int = MAX_GOLD_CALLS
    max_match_cells: int = MAX_MATCH_CELLS
    max_ot_cells: int = MAX_OT_CELLS

    def rollout(self) -> RolloutLimits:
        return RolloutLimits(self.max_calls_per_rollout, self.max_turns_per_rollout, self.max_text_chars)


DEFAULT_LIMITS = Limits()


def check_deadline(deadline: float | None) -> None:
    """Raise :class:`DeadlineExceeded` once ``time.monotonic()`` is past ``deadline`` (``None``: never).

    The core calls it between rollouts and problems (a cooperative check): a request past its deadline
    stops there and frees its thread."""
    if deadline is not None and time.monotonic() > deadline:
        raise DeadlineExceeded()
