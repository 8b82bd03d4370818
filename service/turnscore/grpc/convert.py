"""turnscore.v1 messages <-> the API.md JSON documents the core reads and writes (server side).

Requests become exactly the dict the HTTP service would decode from the equivalent JSON body (the ``*_json``
fields are decoded with orjson, like an HTTP body), so ``engine.score`` / ``engine.advantages`` see the same
input over both transports. Response bodies (``ScoreResult.body``) become typed messages; every float is a
Python float and travels as a proto ``double`` (bit for bit), every JSON object the envelope does not type
(``config``, ``effective``) travels as orjson text.

The JSON nesting-depth limit (``max_json_depth``) applies as over HTTP: a value's depth is counted from
the root of the equivalent API.md document.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from turnscore.core.errors import ErrorKind
from turnscore.core.request import EXPLAIN_MATRIX
from turnscore.runtime.decode import loads_within_depth
from turnscore.runtime.errors import ServiceError

from ._gen import turnscore_pb2 as pb

log = logging.getLogger("turnscore.grpc")

# Depth of a value's container in the equivalent API.md document: {"config": ...} is 1 deep, a group's
# gold (root object, groups list, group object) 3, a rollout's messages (… rollouts list, rollout object) 5.
_CONFIG_DEPTH = 1
_GROUP_DEPTH = 3
_ROLLOUT_DEPTH = 5


def decode_value(data: bytes, path: str, max_depth: int, offset: int) -> Any:
    """One ``*_json`` field: ``orjson.loads`` and the depth limit (counted from the document root)."""
    try:
        return loads_within_depth(data, max_depth, path, offset)
    except orjson.JSONDecodeError as exc:
        raise ServiceError(
            ErrorKind.BAD_REQUEST, "malformed_json", f"{path}: not valid JSON: {exc}", {"path": path}
        ) from None


def _id(msg: Any, path: str, max_depth: int) -> Any:
    which = msg.WhichOneof("id_value")
    if which == "id":
        return msg.id
    if which == "id_json":
        return decode_value(msg.id_json, f"{path}.id", max_depth, _GROUP_DEPTH)
    return None


def _common(req: Any, max_depth: int) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if req.HasField("preset"):
        doc["preset"] = req.preset
    if req.config_json:
        doc["config"] = decode_value(req.config_json, "config", max_depth, _CONFIG_DEPTH)
    if req.HasField("step"):
        doc["step"] = req.step
    return doc


def score_doc(req: pb.ScoreRequest, max_depth: int) -> dict[str, Any]:
    """A ``ScoreRequest`` as the ``POST /v1/score`` JSON document."""
    doc = _common(req, max_depth)
    if req.explain_matrix:
        doc["explain"] = EXPLAIN_MATRIX
    elif req.explain:
        doc["explain"] = True
    groups: list[dict[str, Any]] = []
    for gi, g in enumerate(req.groups):
        path = f"groups[{gi}]"
        group: dict[str, Any] = {"id": _id(g, path, max_depth)}
        source = g.WhichOneof("gold_source")
        if source == "gold_json":
            group["gold"] = decode_value(g.gold_json, f"{path}.gold", max_depth, _GROUP_DEPTH)
        elif source == "references_json":
            group["references"] = decode_value(
                g.references_json, f"{path}.references", max_depth, _GROUP_DEPTH
            )
        elif source == "gold_ref":
            group["gold_ref"] = g.gold_ref
        elif source == "gold_refs":
            group["gold_refs"] = list(g.gold_refs.refs)
        rollouts: list[dict[str, Any]] = []
        for ri, r in enumerate(g.rollouts):
            form = r.WhichOneof("form")
            if form == "text":
                rollouts.append({"text": r.text})
            elif form == "messages_json":
                rp = f"{path}.rollouts[{ri}].messages"
                rollouts.append({"messages": decode_value(r.messages_json, rp, max_depth, _ROLLOUT_DEPTH)})
            elif form == "turns_json":
                rp = f"{path}.rollouts[{ri}].turns"
                rollouts.append({"turns": decode_value(r.turns_json, rp, max_depth, _ROLLOUT_DEPTH)})
            else:
                rollouts.append({})  # the core answers "expected exactly one of text, messages, turns"
        group["rollouts"] = rollouts
        groups.append(group)
    doc["groups"] = groups
    return doc


def advantages_doc(req: pb.AdvantagesRequest, max_depth: int) -> dict[str, Any]:
    """An ``AdvantagesRequest`` as the ``POST /v1/advantages`` JSON document."""
    doc = _common(req, max_depth)
    groups: list[dict[str, Any]] = []
    for gi, g in enumerate(req.groups):
        rollouts: list[dict[str, Any]] = []
        for r in g.rollouts:
            row: dict[str, Any] = {"turn_rewards": list(r.turn_rewards)}
            if r.HasField("outcome_reward"):
                row["outcome_reward"] = r.outcome_reward
            if r.HasField("trajectory_reward"):
                row["trajectory_reward"] = r.trajectory_reward
            if r.states_json:
                rp = f"groups[{gi}].rollouts[{len(rollouts)}].states"
                row["states"] = decode_value(r.states_json, rp, max_depth, _ROLLOUT_DEPTH)
            rollouts.append(row)
        groups.append({"id": _id(g, f"groups[{gi}]", max_depth), "rollouts": rollouts})
    doc["groups"] = groups
    return doc


# ---- responses ------------------------------------------------------------------------------------------

_ROLLOUT_KEYS = frozenset(
    {
        "turn_rewards",
        "outcome_reward",
        "return",
        "trajectory_advantage",
        "turn_advantages",
        "advantages",
        "num_turns",
        "num_calls",
        "malformed_calls",
        "reference",
        "trajectory_reward",
        "toolrl",
        "matches",
        "matrix",
        "step_group_sizes",
    }
)
_GROUP_KEYS = frozenset({"id", "gold_ref", "gold_refs", "rollouts", "summary"})
_BODY_KEYS = frozenset({"preset", "config", "effective", "groups", "warnings", "summary"})
_SUMMARY_FIELDS = frozenset(f.name for f in pb.Summary.DESCRIPTOR.fields)
_warned: set[str] = set()


def _unknown(keys: Any, known: frozenset[str], where: str) -> None:
    """A response key this converter does not carry (the core grew a field): log once, keep serving."""
    for k in keys:
        if k not in known and f"{where}.{k}" not in _warned:
            _warned.add(f"{where}.{k}")
            log.warning("response field %s.%s has no turnscore.v1 field; not sent over gRPC", where, k)


def _set_id(msg: Any, value: Any) -> None:
    if isinstance(value, str):
        msg.id = value
    elif value is not None:
        msg.id_json = orjson.dumps(value)


def _match(m: dict[str, Any]) -> pb.Match:
    out = pb.Match(
        turn=m["turn"],
        call=m["call"],
        name=m.get("name") or "",
        similarity=m["similarity"],
        reward=m["reward"],
    )
    if m.get("gold") is not None:
        out.gold = m["gold"]
    return out


def _summary(msg: pb.Summary, summary: dict[str, Any]) -> None:
    """Fill a ``Summary`` (present: the advantages summary leaves the call fields unset)."""
    _unknown(summary, _SUMMARY_FIELDS, "summary")
    msg.SetInParent()
    for key, value in summary.items():
        if key in _SUMMARY_FIELDS and value is not None:
            setattr(msg, key, value)


def _matrix(msg: pb.Matrix, m: dict[str, Any]) -> None:
    msg.SetInParent()
    msg.predicted.extend(
        pb.MatrixCall(turn=p["turn"], call=p["call"], name=p["name"]) for p in m["predicted"]
    )
    msg.gold.extend(pb.MatrixGold(name=g["name"]) for g in m["gold"])
    for row in m["similarity"]:
        msg.similarity.extend(row)
    if m.get("plan") is not None:
        msg.has_plan = True
        for row in m["plan"]:
            msg.plan.extend(row)


def _rollout(r: dict[str, Any]) -> pb.RolloutResult:
    out = pb.RolloutResult(
        turn_rewards=r["turn_rewards"],
        outcome_reward=r["outcome_reward"],
        trajectory_advantage=r["trajectory_advantage"],
        turn_advantages=r["turn_advantages"],
        advantages=r["advantages"],
        num_turns=r["num_turns"],
        **{"return": r["return"]},
    )
    for key in ("num_calls", "malformed_calls", "reference", "trajectory_reward"):
        if r.get(key) is not None:
            setattr(out, key, r[key])
    if r.get("toolrl") is not None:
        out.toolrl.format = r["toolrl"]["format"]
        out.toolrl.correctness = r["toolrl"]["correctness"]
    if r.get("matches"):
        out.matches.extend(_match(m) for m in r["matches"])
    if r.get("step_group_sizes") is not None:
        out.step_group_sizes.SetInParent()
        out.step_group_sizes.sizes.extend(r["step_group_sizes"])
    if r.get("matrix") is not None:
        _matrix(out.matrix, r["matrix"])
    return out


def score_response(body: dict[str, Any], explain: bool) -> pb.ScoreResponse:
    """An API.md response body (``ScoreResult.body``) as a ``ScoreResponse``."""
    _unknown(body, _BODY_KEYS, "response")
    resp = pb.ScoreResponse(
        preset=body.get("preset") or "",
        config_json=orjson.dumps(body.get("config") or {}),
        explain=explain,
    )
    if body.get("effective") is not None:
        resp.effective_json = orjson.dumps(body["effective"])
    for g in body.get("groups") or ():
        _unknown(g, _GROUP_KEYS, "groups[]")
        gr = resp.groups.add()
        _set_id(gr, g.get("id"))
        if g.get("gold_ref") is not None:
            gr.gold_ref = g["gold_ref"]
        if g.get("gold_refs"):
            gr.gold_refs.extend(g["gold_refs"])
        for r in g.get("rollouts") or ():
            _unknown(r, _ROLLOUT_KEYS, "groups[].rollouts[]")
            gr.rollouts.append(_rollout(r))
        if g.get("summary") is not None:
            _summary(gr.summary, g["summary"])
    for w in body.get("warnings") or ():
        resp.warnings.add(code=w["code"], path=w["path"], count=w["count"], message=w["message"])
    if body.get("summary") is not None:
        _summary(resp.summary, body["summary"])
    return resp


def presets_response(presets: dict[str, dict[str, Any]]) -> pb.PresetsResponse:
    return pb.PresetsResponse(presets_json={k: orjson.dumps(v) for k, v in presets.items()})
