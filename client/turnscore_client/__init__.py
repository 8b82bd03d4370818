"""Client for the turnscore reward service, with trainer adapters."""

from ._client import AsyncTurnScoreClient, ClientStats, TurnScoreClient
from ._retry import RetryPolicy
from ._version import __version__
from .errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConnectionFailed,
    LocalModeUnavailable,
    PayloadTooLargeError,
    RateLimitedError,
    ServerError,
    ServiceUnavailableError,
    TurnScoreError,
    UnknownGoldRefError,
    ValidationError,
)
from .gold import gold_from_record
from .local import local_available
from .types import GroupScore, Health, Match, RolloutScore, ScoreResponse, ToolRLScore

__all__ = [
    "APIError",
    "AsyncTurnScoreClient",
    "AuthenticationError",
    "BadRequestError",
    "ClientStats",
    "ConnectionFailed",
    "GroupScore",
    "Health",
    "LocalModeUnavailable",
    "Match",
    "PayloadTooLargeError",
    "RateLimitedError",
    "RetryPolicy",
    "RolloutScore",
    "ScoreResponse",
    "ServerError",
    "ServiceUnavailableError",
    "ToolRLScore",
    "TurnScoreClient",
    "TurnScoreError",
    "UnknownGoldRefError",
    "ValidationError",
    "__version__",
    "gold_from_record",
    "local_available",
]
