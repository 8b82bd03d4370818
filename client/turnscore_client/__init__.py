"""Client for the turnscore reward service, with trainer adapters."""

from ._base_client import ClientStats
from ._client import AsyncTurnScoreClient, TurnScoreClient
from ._retry import RetryPolicy
from ._version import __version__
from .errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConnectionFailed,
    ErrorKind,
    InvalidArgumentError,
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
from .transports import AsyncTransport, Operation, Transport, local_available
from .types import GroupScore, Health, Match, RolloutScore, ScoreResponse, ToolRLScore

__all__ = [
    "APIError",
    "AsyncTransport",
    "AsyncTurnScoreClient",
    "AuthenticationError",
    "BadRequestError",
    "ClientStats",
    "ConnectionFailed",
    "ErrorKind",
    "GroupScore",
    "Health",
    "InvalidArgumentError",
    "LocalModeUnavailable",
    "Match",
    "Operation",
    "PayloadTooLargeError",
    "RateLimitedError",
    "RetryPolicy",
    "RolloutScore",
    "ScoreResponse",
    "ServerError",
    "ServiceUnavailableError",
    "ToolRLScore",
    "Transport",
    "TurnScoreClient",
    "TurnScoreError",
    "UnknownGoldRefError",
    "ValidationError",
    "__version__",
    "gold_from_record",
    "local_available",
]
