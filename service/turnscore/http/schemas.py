"""Pydantic models that *describe* the wire contract (API.md) for /docs and /openapi.json.

They are never used to validate or serialize on the hot path: bodies are decoded with orjson and validated
by the core; responses are encoded with orjson. Keep them in step with docs/API.md. Request objects forbid
extra keys (``additionalProperties: false``) exactly as the core does: their fields are the known keys of
``turnscore.core.keys`` (tests/test_wire_contract.py checks it). Response objects stay open: a later
version may add fields, which clients ignore.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_OPEN = ConfigDict(extra="allow")
_STRICT = ConfigDict(extra="forbid")


class FunctionCall(BaseModel):
    """OpenAI's ``function`` object of a tool call."""

    model_config = _STRICT
    name: str
    arguments: dict[str, Any] | str | None = Field(None, description="JSON object, or a string holding one.")
    parameters: dict[str, Any] | str | None = Field(None, description="Alias of `arguments`.")


class ToolCall(BaseModel):
    """`{name, arguments}`, or OpenAI's `{id, type: "function", function: {name, arguments}}`."""

    model_config = _STRICT
    name: str | None = Field(None, description="The tool's name (or give `function`).")
    arguments: dict[str, Any] | str | None = Field(
        None, description="JSON object, or a string holding one (OpenAI style). Alias: `parameters`."
    )
    parameters: dict[str, Any] | str | None = Field(None, description="Alias of `arguments` (ToolRL style).")
    id: str | None = Field(None, description="OpenAI's call id (not scored).")
    type: str | None = Field(None, description='OpenAI\'s `"function"` (not scored).')
    function: FunctionCall | None = Field(None, description="OpenAI's nesting of name and arguments.")
    index: int | None = Field(None, description="Position in a streamed delta (not scored).")


class GoldTrace(BaseModel):
    """Needs `calls`, `turns` or an `answer` (a trace with none of them is a 422)."""

    model_config = _STRICT
    calls: list[ToolCall] | None = Field(None, description="Ground-truth calls (flat list).")
    turns: list[list[ToolCall]] | None = Field(None, description="Alternative: ground-truth calls per turn.")
    turn_sizes: list[int] | None = Field(None, description="With `calls`: how many of them each turn makes.")
    answer: str | None = None
    accepted_values: list[dict[str, list[Any]] | None] | dict[str, list[Any]] | None = Field(
        None,
        description="Per gold call, argument -> accepted values; or BFCL-style '<turn>.<call>.<arg>' keys.",
    )


class GoldRecord(BaseModel):
    """A whole gold-data record (tests/data/README.md), read as its `gold` with its `accepted_values`
    (the same `gold_ref`); the other fields are descriptive and not scored."""

    model_config = _STRICT
    gold: GoldTrace
    accepted_values: list[dict[str, list[Any]] | None] | dict[str, list[Any]] | None = Field(
        None, description="BFCL's accepted values (if the record's `gold` has none of its own)."
    )
    id: Any = None
    source: Any = None
    license: Any = None
    question: Any = None
    tools: Any = None
    meta: Any = Field(None, description="Free-form.")


class Message(BaseModel):
    """An OpenAI / Hugging Face chat message: only `assistant` messages are turns."""

    model_config = _STRICT
    role: str
    content: str | list[Any] | None = Field(None, description="A string or OpenAI content parts.")
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    function_call: dict[str, Any] | None = Field(None, description="OpenAI's legacy field (not scored).")
    refusal: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    annotations: list[Any] | None = None
    audio: dict[str, Any] | None = None


class Turn(BaseModel):
    model_config = _STRICT
    tool_calls: list[ToolCall] | None = None
    calls: list[ToolCall] | None = Field(None, description="Alias of `tool_calls`.")
    answer: str | None = None
    state: Any = Field(
        None,
        description="GiGPO anchor state before this turn (any JSON value; null: derived from the prefix).",
    )


class Rollout(BaseModel):
    """Exactly one of `text`, `messages` or `turns`."""

    model_config = _STRICT
    text: str | None = Field(None, description="Decoded response (everything after the prompt).")
    messages: list[Message] | None = Field(None, description="OpenAI chat messages after the prompt.")
    turns: list[Turn] | None = Field(None, description="Already structured turns.")


class Group(BaseModel):
    """Exactly one of `gold`, `references`, `gold_ref` or `gold_refs`."""

    model_config = _STRICT
    id: str | int | float | None = None
    gold: GoldTrace | GoldRecord | None = Field(None, description="A gold trace or a whole gold-data record.")
    references: list[GoldTrace | GoldRecord] | None = Field(None, description="Several acceptable traces.")
    gold_ref: str | None = Field(None, description="`sha256:<hex>` of a trace sent before (409 if unknown).")
    gold_refs: list[str] | None = Field(None, description="Several such refs (a `references` group).")
    rollouts: list[Rollout]


_CONFIG = "Overrides of preset settings (GET /v1/presets lists them); unknown keys are a 422."


class ScoreRequest(BaseModel):
    model_config = _STRICT
    preset: str | None = Field(None, description="Preset name (GET /v1/presets); default matchtir-km.")
    config: dict[str, Any] | None = Field(None, description=_CONFIG)
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
    step_group_sizes: list[int] | None = Field(
        None, description="`advantage: gigpo`: the size of each turn's step group (anchor state)."
    )


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


class ToolRLBounds(BaseModel):
    correctness_max: float
    correctness_min: float
    format_max: float
    format_min: float


class Effective(BaseModel):
    """Schedule values in effect at this step."""

    model_config = _OPEN
    step: int
    unmatched_penalty: float
    toolrl_bounds: ToolRLBounds | None = Field(None, description="With the ToolRL reward.")


class ScoreResponse(BaseModel):
    model_config = _OPEN
    preset: str
    config: dict[str, Any] = Field(description="Every setting, resolved.")
    effective: Effective
    groups: list[GroupScore]
    warnings: list[ScoreWarning] = Field(
        description="Model output read, but probably not as meant: one entry per code (empty if none)."
    )


class RewardRollout(BaseModel):
    model_config = _STRICT
    turn_rewards: list[float]
    outcome_reward: float | None = 0.0
    trajectory_reward: float | None = Field(None, description="Required with the trajectory reward schemes.")
    states: list[Any] | None = Field(
        None, description="GiGPO anchor state of each turn (any JSON values, one per turn reward)."
    )


class RewardGroup(BaseModel):
    model_config = _STRICT
    id: str | int | float | None = None
    rollouts: list[RewardRollout]


class AdvantagesRequest(BaseModel):
    model_config = _STRICT
    preset: str | None = None
    config: dict[str, Any] | None = Field(None, description=_CONFIG)
    step: int | None = Field(None, ge=0)
    groups: list[RewardGroup]


class OpenRLHFRequest(BaseModel):
    model_config = _STRICT
    query: list[Any] = Field(description="Prompt + response per sample, decoded with special tokens.")
    queries: list[Any] | None = Field(None, description="Alias of `query`.")
    prompts: list[Any] | None = Field(None, description="The prompt of each sample (stripped from query).")
    labels: list[Any] | None = Field(
        None,
        description="Per sample: a gold trace or gold-data record (an object or a JSON string of one), "
        "an object with `references` / `gold_ref` / `gold_refs`, or a list of traces.",
    )
    preset: str | None = None
    config: dict[str, Any] | None = Field(None, description=_CONFIG)
    step: int | None = Field(None, ge=0)


class OpenRLHFResponse(BaseModel):
    rewards: list[float] = Field(description="Trajectory return R_i per sample (0 if unscorable).")
    scores: list[float]
    extra_logs: dict[str, list[float]] = Field(description="Fixed keys, one number per sample.")


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = Field(
        None,
        description="`path`: the JSON path of the bad field; an unknown key adds `unknown`, `suggestion` "
        "(the known key it was probably meant to be, or null) and `known`.",
    )


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
    core: str | None = None  # the scoring core that runs: "native" (compiled extension) or "python"


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
