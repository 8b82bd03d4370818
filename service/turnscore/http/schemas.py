"""Pydantic models that *describe* the wire contract (API.md) for /docs and /openapi.json.

They are never used to validate or serialize on the hot path: bodies are decoded with orjson and validated
by the core; responses are encoded with orjson. Keep them in step with docs/API.md. Request objects forbid
extra keys (``additionalProperties: false``) exactly as the core does: their fields are the known keys of
``turnscore.core.keys`` (tests/test_wire_contract.py checks it). Response objects stay open: a later
version may add fields, which clients ignore.
"""

from __future__ import annotations

from typing import Any, Literal

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
    explain: bool | Literal["matrix"] | None = Field(
        None,
        description='Per-call matches; `"matrix"`: also each rollout\'s similarity matrix and OT plan.',
    )
    groups: list[Group]


class Match(BaseModel):
    turn: int
    call: int
    name: str | None = None
    gold: int | None
    similarity: float
    reward: float


class MatrixCall(BaseModel):
    turn: int
    call: int
    name: str


class MatrixGold(BaseModel):
    name: str


class Matrix(BaseModel):
    """`"explain": "matrix"`: m predicted x n gold calls of the chosen reference."""

    predicted: list[MatrixCall] = Field(description="The m predicted calls, in `matches` order.")
    gold: list[MatrixGold] = Field(description="The n calls of the chosen reference.")
    similarity: list[list[float]] = Field(description="S, m rows of n.")
    plan: list[list[float]] | None = Field(None, description="OT presets: the transport plan Z, m rows of n.")


class Summary(BaseModel):
    """Tool-use statistics of some rollouts (API.md, Summary). Counts are sums over rollouts; ratios are 0
    when their denominator is 0. `/v1/advantages` sends only rollouts, turns_mean, outcome_mean,
    return_mean, return_std and advantage_abs_mean."""

    model_config = _OPEN
    rollouts: int
    turns_mean: float
    calls: int | None = Field(None, description="Predicted calls parsed (those that enter matching).")
    malformed_calls: int | None = None
    gold_calls: int | None = Field(
        None, description="Calls of the reference each rollout was scored against."
    )
    matched_calls: int | None = Field(None, description="Predicted calls assigned to a gold call with S > 0.")
    exact_calls: int | None = Field(None, description="Matched calls with S = 1.")
    redundant_calls: int | None = Field(None, description="calls - matched_calls.")
    covered_gold: int | None = Field(None, description="Gold calls some matched call is assigned to.")
    missed_gold: int | None = Field(None, description="gold_calls - covered_gold.")
    call_precision: float | None = Field(None, description="matched_calls / calls.")
    call_recall: float | None = Field(None, description="covered_gold / gold_calls.")
    call_f1: float | None = None
    redundant_ratio: float | None = Field(None, description="redundant_calls / calls.")
    answer_rate: float | None = Field(None, description="Rollouts with a final answer / rollouts.")
    outcome_mean: float
    return_mean: float
    return_std: float = Field(description="Population standard deviation of the returns.")
    advantage_abs_mean: float = Field(description="Mean |advantage| over every turn of the rollouts.")


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
    matrix: Matrix | None = Field(None, description='With `"explain": "matrix"`.')
    step_group_sizes: list[int] | None = Field(
        None, description="`advantage: gigpo`: the size of each turn's step group (anchor state)."
    )


class GroupScore(BaseModel):
    model_config = _OPEN
    id: str | int | float | None = None
    gold_ref: str | None = None
    gold_refs: list[str] | None = None
    rollouts: list[RolloutScore]
    summary: Summary | None = None


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
    summary: Summary | None = Field(None, description="Tool-use statistics of the whole request.")


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


class InspectSampleInfo(BaseModel):
    """One request the inspect ring kept (``--inspect-sample``), without its bodies."""

    id: str = Field(description="`<worker pid>-<sequence number>`")
    time: float = Field(description="When it was scored (Unix seconds).")
    preset: str
    groups: int
    rollouts: int
    bytes: int = Field(description="Request + response JSON bytes it holds in the ring.")


class InspectSamples(BaseModel):
    """This worker's inspect ring: bounds, use, and its samples newest first."""

    worker: int = Field(description="Process id of the worker that answered (each worker has its own ring).")
    max_entries: int
    max_bytes: int
    entries: int
    bytes: int
    skipped: int = Field(description="Samples not kept because they alone were over `max_bytes`.")
    samples: list[InspectSampleInfo]


class InspectSample(InspectSampleInfo):
    """One kept request with the response it got."""

    request: dict[str, Any] = Field(description="The /v1/score request as received (decoded).")
    response: dict[str, Any] = Field(description="The /v1/score response it was answered with.")


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
        404: "Not found (the inspect endpoints: sampling is off, or the sample is not in this worker's ring)",
        422: "Schema or limit violation (details.path names the field)",
        503: "Overloaded; retry after Retry-After seconds",
    }
    return {s: {"model": ErrorBody, "description": text.get(s, "Error")} for s in statuses}
