"""Pydantic models that *describe* the wire contract (API.md) for /docs and /openapi.json.

They are never used to validate or serialize on the hot path: bodies are decoded with orjson and validated
by the core; responses are encoded with orjson. Keep them in step with docs/API.md.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_OPEN = ConfigDict(extra="allow")


class ToolCall(BaseModel):
    model_config = _OPEN
    name: str
    arguments: dict[str, Any] | str | None = Field(
        None, description="JSON object, or a string holding one (OpenAI style). Alias: `parameters`."
    )


class GoldTrace(BaseModel):
    model_config = _OPEN
    calls: list[ToolCall] | None = Field(None, description="Ground-truth calls (flat list).")
    turns: list[list[ToolCall]] | None = Field(None, description="Alternative: ground-truth calls per turn.")
    turn_sizes: list[int] | None = Field(None, description="With `calls`: how many of them each turn makes.")
    answer: str | None = None
    accepted_values: list[dict[str, list[Any]] | None] | dict[str, list[Any]] | None = Field(
        None,
        description="Per gold call, argument -> accepted values; or BFCL-style '<turn>.<call>.<arg>' keys.",
    )


class Message(BaseModel):
    model_config = _OPEN
    role: str
    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class Turn(BaseModel):
    model_config = _OPEN
    tool_calls: list[ToolCall] | None = None
    answer: str | None = None


class Rollout(BaseModel):
    """Exactly one of `text`, `messages` or `turns`."""

    model_config = _OPEN
    text: str | None = Field(None, description="Decoded response (everything after the prompt).")
    messages: list[Message] | None = Field(None, description="OpenAI chat messages after the prompt.")
    turns: list[Turn] | None = Field(None, description="Already structured turns.")


class Group(BaseModel):
    """Exactly one of `gold`, `references` or `gold_ref`."""

    model_config = _OPEN
    id: str | int | None = None
    gold: GoldTrace | None = None
    references: list[GoldTrace] | None = None
    gold_ref: str | None = Field(None, description="`sha256:<hex>` of a trace sent before (409 if unknown).")
    gold_refs: list[str] | None = Field(None, description="Several such refs (a `references` group).")
    rollouts: list[Rollout]


class ScoreRequest(BaseModel):
    model_config = _OPEN
    preset: str | None = Field(None, description="Preset name (GET /v1/presets); default matchtir-km.")
    config: dict[str, Any] | None = Field(
        None, description="Overrides of preset settings; unknown keys rejected."
    )
    step: int | None = Field(None, ge=0, description="Training step (for schedules).")
    explain: bool | None = Field(None, description="Return per-call matches.")
    groups: list[Group]


class Match(BaseModel):
    turn: int
    call: int
    name: str | None = None
    gold: int | None
    similarity: float
    reward: float


class ToolRLScore(BaseModel):
    format: float
    correctness: float


class RolloutScore(BaseModel):
    model_config = _OPEN
    turn_rewards: list[float]
    outcome_reward: float
    return_: float = Field(alias="return")
    trajectory_advantage: float
    turn_advantages: list[float]
    advantages: list[float] = Field(description="Combined per-turn advantage A_{i,t}.")
    num_turns: int
    num_calls: int | None = None
    malformed_calls: int | None = None
    reference: int | None = None
    trajectory_reward: float | None = None
    toolrl: ToolRLScore | None = Field(None, description="The two ToolRL terms (toolrl presets).")
    matches: list[Match] | None = None


class GroupScore(BaseModel):
    model_config = _OPEN
    id: str | int | float | None = None
    gold_ref: str | None = None
    gold_refs: list[str] | None = None
    rollouts: list[RolloutScore]


class ScoreWarning(BaseModel):
    code: str = Field(description="One of a fixed set (SCORING.md, Warnings), e.g. `malformed_calls`.")
    path: str = Field(description="JSON path of the first occurrence, e.g. `groups[0].rollouts[3].text`.")
    count: int = Field(description="Occurrences in the whole request (calls, turns or rollouts, by code).")
    message: str


class ScoreResponse(BaseModel):
    model_config = _OPEN
    preset: str
    config: dict[str, Any] = Field(description="Every setting, resolved.")
    effective: dict[str, Any] = Field(description="Schedule values in effect at this step.")
    groups: list[GroupScore]
    warnings: list[ScoreWarning] = Field(
        description="Model output read, but probably not as meant: one entry per code (empty if none)."
    )


class RewardRollout(BaseModel):
    model_config = _OPEN
    turn_rewards: list[float]
    outcome_reward: float | None = 0.0
    trajectory_reward: float | None = Field(None, description="Required with the trajectory reward schemes.")


class RewardGroup(BaseModel):
    model_config = _OPEN
    id: str | int | None = None
    rollouts: list[RewardRollout]


class AdvantagesRequest(BaseModel):
    model_config = _OPEN
    preset: str | None = None
    config: dict[str, Any] | None = None
    step: int | None = Field(None, ge=0)
    groups: list[RewardGroup]


class OpenRLHFRequest(BaseModel):
    model_config = _OPEN
    query: list[str] = Field(description="Prompt + response per sample, decoded with special tokens.")
    prompts: list[str] | None = Field(None, description="The prompt of each sample (stripped from query).")
    labels: list[Any] | None = Field(
        None, description="Gold trace per sample: an object or a JSON string (or {gold_ref}, or a list)."
    )
    preset: str | None = None
    config: dict[str, Any] | None = None
    step: int | None = Field(None, ge=0)


class OpenRLHFResponse(BaseModel):
    rewards: list[float] = Field(description="Trajectory return R_i per sample (0 if unscorable).")
    scores: list[float]
    extra_logs: dict[str, list[float]] = Field(description="Fixed keys, one number per sample.")


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    model_config = _OPEN
    status: str


class Ready(BaseModel):
    model_config = _OPEN
    status: str
    cache: dict[str, Any]
    limits: dict[str, float] | None = None  # the request limits in force (core limits, body, deadline)


REQUEST_MODELS: dict[str, type[BaseModel]] = {
    "/v1/score": ScoreRequest,
    "/v1/advantages": AdvantagesRequest,
    "/v1/openrlhf": OpenRLHFRequest,
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "Malformed JSON or body",
        401: "Missing or invalid API key",
        408: "Body not received in time (request_timeout) or not scored in time (deadline_exceeded)",
        409: "Unknown gold_ref (details.missing lists them)",
        413: "Body or a configured limit exceeded (details.limit names it)",
        415: "Unsupported Content-Encoding",
        422: "Schema or limit violation (details.path names the field)",
        503: "Overloaded; retry after Retry-After seconds",
    }
    return {s: {"model": ErrorBody, "description": text.get(s, "Error")} for s in statuses}
