"""One wire contract: the field names of the HTTP schemas (``turnscore.http.schemas``), the proto messages
(descriptors of the generated code), the client's result types (``turnscore_client.types``) and the bodies
the engine actually reads and writes agree at every level of every request and response.

A difference that is legitimately transport-specific is listed below with its reason; any other difference
fails, naming the level and the fields.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import pytest
from pydantic import BaseModel
from turnscore.core import engine, keys, summary
from turnscore.core.gold import compile_gold
from turnscore.http import schemas
from turnscore_client import types
from turnscore_client._chunks import parse_presets
from turnscore_client._gen import turnscore_pb2 as pb

# -- transport-specific differences ------------------------------------------------------------------------

# Proto fields that carry a JSON field under another name: (message, proto field) -> JSON field.
PROTO_RENAMED: dict[tuple[str, str], str] = {
    # Arbitrary JSON values travel as UTF-8 JSON text in `bytes` fields named `*_json`: exact numbers, unlike
    # google.protobuf.Value (see the header of the .proto).
    ("ScoreRequest", "config_json"): "config",
    ("AdvantagesRequest", "config_json"): "config",
    ("Group", "gold_json"): "gold",
    ("Group", "references_json"): "references",
    ("Rollout", "messages_json"): "messages",
    ("Rollout", "turns_json"): "turns",
    ("RewardRollout", "states_json"): "states",
    ("ScoreResponse", "config_json"): "config",
    ("ScoreResponse", "effective_json"): "effective",
    # A group id is a string (`id`) or any other JSON value (`id_json`): two members of one oneof.
    ("Group", "id_json"): "id",
    ("RewardGroup", "id_json"): "id",
    ("GroupResult", "id_json"): "id",
    # `explain` is true, false or "matrix": a bool for each of the two (explain_matrix implies explain).
    ("ScoreRequest", "explain_matrix"): "explain",
}
# Proto fields without a JSON counterpart.
PROTO_ONLY: dict[tuple[str, str], str] = {
    ("ScoreResponse", "explain"): "proto3 cannot tell an absent repeated `matches` from an empty one",
    ("Matrix", "has_plan"): "proto3 cannot tell an absent repeated `plan` from an empty one",
}
# Proto messages that are no level of the JSON document.
PROTO_WRAPPERS: dict[str, str] = {
    "GoldRefs": "Group.gold_refs: a oneof member cannot be a repeated field",
    "PresetsRequest": "GET /v1/presets has no body",
    "StepGroupSizes": "RolloutResult.step_group_sizes: proto3 cannot tell an absent repeated field from []",
    "PresetsResponse": "the whole body, {name: settings}: checked in test_presets_agree",
}
# Client dataclass fields named otherwise than on the wire, or no wire field at all.
CLIENT_RENAMED = {"return_": "return"}  # a Python keyword (the schema's field has the alias "return")
CLIENT_NOT_WIRE = {"raw": "the whole wire object, kept for fields this client version does not know"}
# Request keys the engine reads beyond the schema's fields: (level, key) -> why.
ENGINE_ALIASES: dict[tuple[str, str], str] = {
    ("gold", "gold"): "tells a gold-data record (its own level) from a trace",
    ("advantages request", "explain"): "read by the top-level parsing shared with /v1/score (unknown there)",
}
# Schema fields the engine accepts (a strict request may carry them) but never reads: (level, key) -> why.
NOT_READ: dict[tuple[str, str], str] = {
    **{
        ("tool call", k): "OpenAI's call id, type and stream index: not scored"
        for k in ("id", "type", "index")
    },
    **{
        ("message", k): "what a chat log carries besides role, content and tool_calls: not scored"
        for k in keys.MESSAGE
        if k not in ("role", "content", "tool_calls")
    },
    **{
        ("gold record", k): "descriptive fields of a gold-data record: not scored"
        for k in ("id", "source", "license", "question", "tools", "meta")
    },
}
# The known keys of each request object (turnscore.core.keys) and the schema that describes it.
KNOWN_KEYS: list[tuple[tuple[str, ...], type[BaseModel]]] = [
    (keys.SCORE_REQUEST, schemas.ScoreRequest),
    (keys.ADVANTAGES_REQUEST, schemas.AdvantagesRequest),
    (keys.GROUP, schemas.Group),
    (keys.ADVANTAGES_GROUP, schemas.RewardGroup),
    (keys.REWARD_ROW, schemas.RewardRollout),
    (keys.GOLD_TRACE, schemas.GoldTrace),
    (keys.GOLD_RECORD, schemas.GoldRecord),
    (keys.TOOL_CALL, schemas.ToolCall),
    (keys.FUNCTION, schemas.FunctionCall),
    (keys.ROLLOUT, schemas.Rollout),
    (keys.TURN, schemas.Turn),
    (keys.MESSAGE, schemas.Message),
    (keys.OPENRLHF_REQUEST, schemas.OpenRLHFRequest),
]
# Rollout result fields only /v1/score writes (the advantages rows hold no parse or match).
SCORE_ONLY = {"num_calls", "malformed_calls", "reference", "toolrl", "matches", "matrix"}
# Summary fields only /v1/score writes (the advantages rows hold no calls and no answers).
SUMMARY_SCORE_ONLY = set(summary.SCORE_FIELDS) - set(summary.ADVANTAGE_FIELDS)

# -- the levels ----------------------------------------------------------------------------------------------

# (level, schema, proto message): the proto carries gold traces, turns, tool calls and messages as JSON text,
# so those levels are checked against what the engine reads (test_engine_reads_the_schema_fields).
REQUEST_LEVELS: list[tuple[str, type[BaseModel], str]] = [
    ("score request", schemas.ScoreRequest, "ScoreRequest"),
    ("group", schemas.Group, "Group"),
    ("rollout", schemas.Rollout, "Rollout"),
    ("advantages request", schemas.AdvantagesRequest, "AdvantagesRequest"),
    ("reward group", schemas.RewardGroup, "RewardGroup"),
    ("reward rollout", schemas.RewardRollout, "RewardRollout"),
]
# (level, schema, proto message, client type): /v1/score and /v1/advantages answer with the same shape.
RESPONSE_LEVELS: list[tuple[str, type[BaseModel], str, type]] = [
    ("score response", schemas.ScoreResponse, "ScoreResponse", types.ScoreResponse),
    ("group result", schemas.GroupScore, "GroupResult", types.GroupScore),
    ("rollout result", schemas.RolloutScore, "RolloutResult", types.RolloutScore),
    ("toolrl", schemas.ToolRLScore, "ToolRLScore", types.ToolRLScore),
    ("match", schemas.Match, "Match", types.Match),
    ("warning", schemas.ScoreWarning, "ScoreWarning", types.ScoreWarning),
    ("summary", schemas.Summary, "Summary", types.Summary),
    ("matrix", schemas.Matrix, "Matrix", types.Matrix),
    ("matrix call", schemas.MatrixCall, "MatrixCall", types.MatrixCall),
    ("matrix gold", schemas.MatrixGold, "MatrixGold", types.MatrixGold),
]
# Request levels carried inside `*_json` fields.
JSON_LEVELS: dict[str, type[BaseModel]] = {
    "gold": schemas.GoldTrace,
    "gold record": schemas.GoldRecord,
    "turn": schemas.Turn,
    "tool call": schemas.ToolCall,
    "message": schemas.Message,
}


def schema_fields(model: type[BaseModel]) -> set[str]:
    return {f.alias or name for name, f in model.model_fields.items()}


def proto_fields(message: str) -> set[str]:
    """The JSON names of a proto message's fields."""
    out = set()
    for f in pb.DESCRIPTOR.message_types_by_name[message].fields:
        if (message, f.name) in PROTO_ONLY:
            continue
        out.add(PROTO_RENAMED.get((message, f.name), f.name))
    return out


def client_fields(cls: type) -> set[str]:
    return {
        CLIENT_RENAMED.get(f.name, f.name) for f in dataclasses.fields(cls) if f.name not in CLIENT_NOT_WIRE
    }


def _diff(level: str, **sides: set[str]) -> str:
    every = set().union(*sides.values())
    missing = {name: sorted(every - fields) for name, fields in sides.items() if every - fields}
    return f"{level}: fields missing from {missing}"


# -- the static definitions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("level", "schema", "message"), REQUEST_LEVELS, ids=[r[0] for r in REQUEST_LEVELS])
def test_request_fields_agree(level: str, schema: type[BaseModel], message: str) -> None:
    http, proto = schema_fields(schema), proto_fields(message)
    assert http == proto, _diff(level, schema=http, proto=proto)


@pytest.mark.parametrize(
    ("level", "schema", "message", "client"), RESPONSE_LEVELS, ids=[r[0] for r in RESPONSE_LEVELS]
)
def test_response_fields_agree(level: str, schema: type[BaseModel], message: str, client: type) -> None:
    http, proto, typed = schema_fields(schema), proto_fields(message), client_fields(client)
    assert http == proto == typed, _diff(level, schema=http, proto=proto, client=typed)


def test_every_proto_message_is_a_checked_level() -> None:
    checked = {r[2] for r in REQUEST_LEVELS} | {r[2] for r in RESPONSE_LEVELS} | set(PROTO_WRAPPERS)
    assert set(pb.DESCRIPTOR.message_types_by_name) == checked


def test_exceptions_name_real_proto_fields() -> None:
    """The exception lists stay true: each names an existing field; every `*_json` field is bytes."""
    bytes_type = pb.ScoreRequest.DESCRIPTOR.fields_by_name["config_json"].type
    for message, field in [*PROTO_RENAMED, *PROTO_ONLY]:
        assert field in pb.DESCRIPTOR.message_types_by_name[message].fields_by_name, (message, field)
    for message, field in PROTO_RENAMED:
        if field.endswith("_json"):
            assert pb.DESCRIPTOR.message_types_by_name[message].fields_by_name[field].type == bytes_type
    for message in pb.DESCRIPTOR.message_types_by_name.values():
        for f in message.fields:
            if f.name.endswith("_json") and message.name != "PresetsResponse":
                assert (message.name, f.name) in PROTO_RENAMED, f"{message.name}.{f.name}: which JSON field?"


# -- what the engine actually reads and writes -----------------------------------------------------------

GOLD = {"calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}], "answer": "cold"}
GOLD_TURNS = {"turns": [[{"name": "get_weather", "arguments": {"city": "Bergen"}}]], "answer": "rain"}
CALL = {"name": "get_weather", "arguments": {"city": "Oslo"}}
TEXT = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>'
ROLLOUTS: list[dict[str, Any]] = [
    {"text": TEXT},
    {"turns": [{"tool_calls": [CALL]}, {"answer": "cold", "state": {"seen": "Oslo"}}]},
    {"turns": [{"calls": [{"name": "get_weather", "parameters": {"city": "Oslo"}}]}]},
    {"turns": [{"tool_calls": [{"function": CALL}]}]},
    {"messages": [{"role": "user", "content": "weather?"}, {"role": "assistant", "content": "cold"}]},
    {"text": "<tool_call>{not json}</tool_call>"},  # a warning
]


class _Reads(dict[str, Any]):
    """A JSON object that notes every key looked up in it under its level's name."""

    def __init__(self, level: str, log: dict[str, set[str]], data: dict[str, Any]) -> None:
        super().__init__(data)
        self.level = level
        self.log = log

    def _note(self, key: Any) -> None:
        self.log.setdefault(self.level, set()).add(key)

    def get(self, key: Any, default: Any = None) -> Any:
        self._note(key)
        return super().get(key, default)

    def __getitem__(self, key: Any) -> Any:
        self._note(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self._note(key)
        return super().__contains__(key)


def _watched_score_request(log: dict[str, set[str]], request: dict[str, Any]) -> _Reads:
    def obj(level: str, data: dict[str, Any], **children: Any) -> _Reads:
        return _Reads(level, log, {**data, **{k: v for k, v in children.items() if k in data}})

    def calls(items: Iterable[Any]) -> list[Any]:
        return [obj("tool call", c) for c in items]

    def gold(g: dict[str, Any]) -> _Reads:
        if "gold" in g:
            return obj("gold record", g, gold=gold(g["gold"]))
        return obj(
            "gold", g, calls=calls(g.get("calls") or []), turns=[calls(t) for t in g.get("turns") or []]
        )

    def turn(t: dict[str, Any]) -> _Reads:
        return obj("turn", t, tool_calls=calls(t.get("tool_calls") or []), calls=calls(t.get("calls") or []))

    def rollout(r: dict[str, Any]) -> _Reads:
        messages = [obj("message", m) for m in r.get("messages") or []]
        return obj("rollout", r, turns=[turn(t) for t in r.get("turns") or []], messages=messages)

    def group(g: dict[str, Any]) -> _Reads:
        return obj(
            "group",
            g,
            gold=gold(g["gold"]) if "gold" in g else None,
            references=[gold(x) for x in g.get("references") or []],
            rollouts=[rollout(r) for r in g["rollouts"]],
        )

    return obj("score request", request, groups=[group(g) for g in request["groups"]])


def _watched_advantages_request(log: dict[str, set[str]], request: dict[str, Any]) -> _Reads:
    groups = [
        _Reads(
            "reward group", log, {**g, "rollouts": [_Reads("reward rollout", log, r) for r in g["rollouts"]]}
        )
        for g in request["groups"]
    ]
    return _Reads("advantages request", log, {**request, "groups": groups})


def _score_requests() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Requests that between them make the engine write every optional field, and the golds they refer to."""
    compiled = compile_gold(GOLD)
    groups = [
        {"id": "gold", "gold": GOLD, "rollouts": ROLLOUTS},
        {"id": 7, "references": [GOLD, GOLD_TURNS], "rollouts": ROLLOUTS[:2]},
        {"id": None, "gold_ref": compiled.ref, "rollouts": ROLLOUTS[:1]},
        {"id": "refs", "gold_refs": [compiled.ref], "rollouts": ROLLOUTS[:1]},
        {
            "id": "record",
            "gold": {"id": "r1", "gold": GOLD_TURNS, "accepted_values": None},
            "rollouts": ROLLOUTS,
        },
    ]
    requests = [
        {"preset": "matchtir-km", "config": None, "step": 3, "explain": True, "groups": groups},
        {"preset": "toolrl", "explain": True, "groups": groups[:1]},
        {"preset": "matchtir-ot", "explain": "matrix", "groups": groups[:2]},
        {"config": {"reward_scheme": "trajectory"}, "groups": groups[:1]},
        {"preset": "gigpo", "groups": groups[:1]},
    ]
    return requests, {compiled.ref: compiled}


def _advantages_requests() -> list[dict[str, Any]]:
    rollouts = [{"turn_rewards": [0.5, 0.0], "outcome_reward": 1.0, "trajectory_reward": 0.5}]
    return [
        {"preset": "matchtir-km", "config": None, "step": 0, "groups": [{"id": "a", "rollouts": rollouts}]},
        {"config": {"reward_scheme": "trajectory"}, "groups": [{"id": 1, "rollouts": rollouts * 2}]},
        {"preset": "gigpo", "groups": [{"id": 2, "rollouts": [{**rollouts[0], "states": ["s", None]}]}]},
    ]


def _response_keys(bodies: Iterable[dict[str, Any]]) -> dict[str, set[str]]:
    """Every key of the bodies at each response level."""
    keys: dict[str, set[str]] = {}

    def note(level: str, obj: dict[str, Any]) -> None:
        keys.setdefault(level, set()).update(obj)

    for body in bodies:
        note("score response", body)
        note("summary", body["summary"])
        for w in body["warnings"]:
            note("warning", w)
        for g in body["groups"]:
            note("group result", g)
            note("summary", g["summary"])
            for r in g["rollouts"]:
                note("rollout result", r)
                if "toolrl" in r:
                    note("toolrl", r["toolrl"])
                for m in r.get("matches") or []:
                    note("match", m)
                if "matrix" in r:
                    note("matrix", r["matrix"])
                    for p in r["matrix"]["predicted"]:
                        note("matrix call", p)
                    for gc in r["matrix"]["gold"]:
                        note("matrix gold", gc)
    return keys


def test_engine_reads_the_schema_fields() -> None:
    log: dict[str, set[str]] = {}
    requests, golds = _score_requests()
    for request in requests:
        engine.score(_watched_score_request(log, request), golds=golds)
    for request in _advantages_requests():
        engine.advantages(_watched_advantages_request(log, request))
    levels = {level: schema for level, schema, _ in REQUEST_LEVELS} | JSON_LEVELS
    assert set(log) == set(levels)
    for level, schema in levels.items():
        aliases = {key for lv, key in ENGINE_ALIASES if lv == level}
        unread = {key for lv, key in NOT_READ if lv == level}
        assert unread <= schema_fields(schema), level
        expected = (schema_fields(schema) - unread) | aliases
        assert log[level] == expected, _diff(level, engine=log[level], schema=expected)


@pytest.mark.parametrize(("known", "schema"), KNOWN_KEYS, ids=[m.__name__ for _, m in KNOWN_KEYS])
def test_schemas_forbid_what_the_core_rejects(known: tuple[str, ...], schema: type[BaseModel]) -> None:
    """Each request object's schema lists exactly the keys the core accepts, and no others."""
    assert schema_fields(schema) == set(known), _diff(
        schema.__name__, core=set(known), schema=schema_fields(schema)
    )
    assert schema.model_json_schema()["additionalProperties"] is False


def test_engine_writes_the_schema_fields() -> None:
    requests, golds = _score_requests()
    scored = _response_keys(engine.score(r, golds=golds).body for r in requests)
    schemas_by_level = {level: schema for level, schema, *_ in RESPONSE_LEVELS}
    assert set(scored) == set(schemas_by_level)
    for level, schema in schemas_by_level.items():
        http = schema_fields(schema)
        assert scored[level] == http, _diff(level, engine=scored[level], schema=http)

    advantaged = _response_keys(engine.advantages(r).body for r in _advantages_requests())
    assert advantaged["score response"] == schema_fields(schemas.ScoreResponse)
    assert advantaged["group result"] == {"id", "rollouts", "summary"}
    assert advantaged["rollout result"] == schema_fields(schemas.RolloutScore) - SCORE_ONLY
    assert (
        advantaged["summary"]
        == set(summary.ADVANTAGE_FIELDS)
        == schema_fields(schemas.Summary) - SUMMARY_SCORE_ONLY
    )
    assert tuple(schemas.Summary.model_fields) == summary.SCORE_FIELDS


def test_client_types_read_every_field() -> None:
    """``from_dict`` puts each wire field of a real body into the attribute of the same name."""
    requests, golds = _score_requests()
    for request in requests:
        body = engine.score(request, golds=golds).body
        parsed = types.ScoreResponse.from_dict(body)
        assert parsed.preset == body["preset"] and parsed.config == body["config"]
        assert parsed.effective == body["effective"]
        assert parsed.warnings == [types.ScoreWarning(**w) for w in body["warnings"]] != []
        assert parsed.summary == types.Summary(**body["summary"])
        assert parsed.summary.to_dict() == body["summary"]
        for group, g in zip(parsed.groups, body["groups"], strict=True):
            assert group.gold_ref == g.get("gold_ref") and group.gold_refs == g.get("gold_refs")
            assert group.id == g["id"]  # as sent: a string, a number or None
            assert group.summary == types.Summary(**g["summary"])
            for rollout, r in zip(group.rollouts, g["rollouts"], strict=True):
                for f in dataclasses.fields(types.RolloutScore):
                    if f.name not in CLIENT_NOT_WIRE and f.name not in ("toolrl", "matches", "matrix"):
                        assert getattr(rollout, f.name) == r.get(CLIENT_RENAMED.get(f.name, f.name)), f.name
                toolrl = r.get("toolrl")
                assert rollout.toolrl == (None if toolrl is None else types.ToolRLScore(**toolrl))
                if "matches" in r:
                    assert rollout.matches == [types.Match(**m) for m in r["matches"]]
                matrix = r.get("matrix")
                assert rollout.matrix == (
                    None
                    if matrix is None
                    else types.Matrix(
                        predicted=[types.MatrixCall(**p) for p in matrix["predicted"]],
                        gold=[types.MatrixGold(**gc) for gc in matrix["gold"]],
                        similarity=matrix["similarity"],
                        plan=matrix.get("plan"),
                    )
                )


def test_presets_agree() -> None:
    """GET /v1/presets: {name: settings}; the proto's one map field carries it; settings are a response's
    `config`; the client keeps names and settings."""
    (field,) = pb.PresetsResponse.DESCRIPTOR.fields
    assert field.name == "presets_json" and field.message_type.GetOptions().map_entry
    assert not pb.PresetsRequest.DESCRIPTOR.fields
    presets = engine.presets()
    assert parse_presets(presets) == presets
    config = engine.score({"preset": "toolrl", "groups": []}).body["config"]
    for name, settings in presets.items():
        assert set(settings) == set(config), name


def test_grpc_client_knows_the_keys_the_core_knows() -> None:
    """The gRPC client refuses (before sending) the keys its messages would drop: the same as the core's."""
    from turnscore_client.errors import ValidationError
    from turnscore_client.transports.grpc_messages import _known, score_request

    pairs = [
        (pb.ScoreRequest, keys.SCORE_REQUEST),
        (pb.AdvantagesRequest, keys.ADVANTAGES_REQUEST),
        (pb.Group, keys.GROUP),
        (pb.Rollout, keys.ROLLOUT),
        (pb.RewardGroup, keys.ADVANTAGES_GROUP),
        (pb.RewardRollout, keys.REWARD_ROW),
    ]
    for message, known in pairs:
        assert set(_known(message())) == set(known), message.__name__
    body = {"groups": [{"gold": GOLD, "rollouts": [{"text": TEXT}]}], "prest": "toolrl"}
    with pytest.raises(ValidationError) as info:
        score_request(body)
    with pytest.raises(keys.UnknownKey) as core:
        engine.score(body)
    assert info.value.details == core.value.details


def test_client_gold_keys_are_the_cores() -> None:
    """The client cannot import the service: its copies of a group's gold keys must stay the core's."""
    from turnscore.core.request import GOLD_KEYS
    from turnscore_client import gold as client_gold
    from turnscore_client.transports import grpc_messages

    assert grpc_messages._GOLD_KEYS == GOLD_KEYS
    assert ("gold", *client_gold._REF_KEYS) == GOLD_KEYS
