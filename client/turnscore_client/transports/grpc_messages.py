"""API.md bodies <-> ``turnscore.v1`` messages, for the gRPC transport (the reverse of the service's
``grpc/convert.py``).

A request the typed messages cannot express (e.g. a rollout with both ``text`` and ``turns``) raises
:class:`~turnscore_client.ValidationError` before anything is sent, with the message and ``details.path``
the service would give.
"""

from __future__ import annotations

import difflib
import json
import numbers
from collections.abc import Iterator, Mapping
from typing import Any

from .._gen import turnscore_pb2 as pb
from .._json import dumps
from ..errors import ValidationError

__all__ = ["advantages_request", "presets_dict", "response_dict", "score_request"]

_FORMS = ("text", "messages", "turns")
_GOLD_KEYS = ("gold", "references", "gold_ref", "gold_refs")
_INT64 = (-(2**63), 2**63 - 1)


# ---- API.md dict -> turnscore.v1 request ----------------------------------------------------------------


def _fail(path: str, message: str) -> ValidationError:
    return ValidationError(
        f"{path}: {message}" if path else message, code="invalid_request", details={"path": path}
    )


_RENAMED = {"explain_matrix": "explain"}  # proto fields carrying a JSON key's other value


def _known(message: Any) -> tuple[str, ...]:
    """The API.md keys of a message's object: its fields, ``*_json`` ones under their JSON name."""
    names = (_RENAMED.get(f.name, f.name.removesuffix("_json")) for f in message.DESCRIPTOR.fields)
    return tuple(dict.fromkeys(names))


def _check_keys(obj: Mapping[str, Any], message: Any, path: str) -> None:
    """Refuse a key the message has no field for (it would be dropped silently), as the service would."""
    known = _known(message)
    for key in obj:
        if key not in known:
            near = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            where = f"{path}.{key}" if path else str(key)
            raise ValidationError(
                f"{where}: unknown key {key!r}{hint} (known: {', '.join(known)})",
                code="invalid_request",
                details={
                    "path": where,
                    "unknown": key,
                    "suggestion": near[0] if near else None,
                    "known": list(known),
                },
            )


def _set_id(msg: Any, gid: Any) -> None:
    if isinstance(gid, str):
        msg.id = gid
    elif gid is not None:
        msg.id_json = dumps(gid)


def _set_common_fields(msg: Any, body: Mapping[str, Any]) -> None:
    _check_keys(body, msg, "")
    preset = body.get("preset")
    if preset is not None:
        if not isinstance(preset, str):
            raise _fail("preset", "expected a string")
        msg.preset = preset
    if body.get("config") is not None:
        msg.config_json = dumps(body["config"])
    step = body.get("step")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, numbers.Integral):
            raise _fail("step", "expected an integer >= 0")
        if not _INT64[0] <= int(step) <= _INT64[1]:
            raise _fail("step", "expected an integer >= 0 (64-bit)")
        msg.step = int(step)


def _rollouts(g: Mapping[str, Any], path: str) -> list[Any]:
    rollouts = g.get("rollouts")
    if not isinstance(rollouts, list | tuple):
        raise _fail(f"{path}.rollouts", "expected a list of rollouts")
    return list(rollouts)


def _groups(req: Any, body: Mapping[str, Any]) -> Iterator[tuple[Any, Mapping[str, Any], str]]:
    """Each group of ``body`` (checked) with its new message in ``req`` (id set) and its JSON path."""
    groups = body.get("groups")
    if not isinstance(groups, list | tuple):
        raise _fail("groups", "expected a list of groups")
    for gi, g in enumerate(groups):
        path = f"groups[{gi}]"
        if not isinstance(g, Mapping):
            raise _fail(path, "expected a group object")
        group = req.groups.add()
        _check_keys(g, group, path)
        _set_id(group, g.get("id"))
        yield group, g, path


def score_request(body: Mapping[str, Any]) -> pb.ScoreRequest:
    """A ``POST /v1/score`` body as a ``ScoreRequest``."""
    req = pb.ScoreRequest()
    _set_common_fields(req, body)
    explain = body.get("explain")
    if explain is not None:
        if explain == "matrix":
            req.explain = req.explain_matrix = True
        elif not isinstance(explain, bool):
            raise _fail("explain", 'expected true, false or "matrix"')
        else:
            req.explain = explain
    for group, g, path in _groups(req, body):
        given = [k for k in _GOLD_KEYS if g.get(k) is not None]
        if len(given) > 1:
            raise _fail(path, f"expected exactly one of gold, references, gold_ref (got {', '.join(given)})")
        if g.get("gold") is not None:
            group.gold_json = dumps(g["gold"])
        elif g.get("references") is not None:
            group.references_json = dumps(g["references"])
        elif g.get("gold_ref") is not None:
            if not isinstance(g["gold_ref"], str):
                raise _fail(f"{path}.gold_ref", "expected a gold_ref string")
            group.gold_ref = g["gold_ref"]
        elif g.get("gold_refs") is not None:
            refs = g["gold_refs"]
            if not isinstance(refs, list | tuple) or not all(isinstance(r, str) for r in refs):
                raise _fail(f"{path}.gold_refs", "expected a list of gold_ref strings")
            group.gold_refs.refs.extend(refs)
        for ri, r in enumerate(_rollouts(g, path)):
            rp = f"{path}.rollouts[{ri}]"
            if not isinstance(r, Mapping):
                raise _fail(rp, "expected a rollout object with one of text, messages, turns")
            forms = [f for f in _FORMS if r.get(f) is not None]
            if len(forms) > 1:
                raise _fail(rp, f"expected exactly one of text, messages, turns (got {', '.join(forms)})")
            rollout_msg = group.rollouts.add()
            _check_keys(r, rollout_msg, rp)
            if r.get("text") is not None:
                if not isinstance(r["text"], str):
                    raise _fail(f"{rp}.text", "expected a string")
                rollout_msg.text = r["text"]
            elif r.get("messages") is not None:
                rollout_msg.messages_json = dumps(r["messages"])
            elif r.get("turns") is not None:
                rollout_msg.turns_json = dumps(r["turns"])
    return req


def _number(x: Any, path: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise _fail(path, "expected a number")
    return float(x)


def advantages_request(body: Mapping[str, Any]) -> pb.AdvantagesRequest:
    """A ``POST /v1/advantages`` body as an ``AdvantagesRequest``."""
    req = pb.AdvantagesRequest()
    _set_common_fields(req, body)
    for group, g, path in _groups(req, body):
        for ri, r in enumerate(_rollouts(g, path)):
            rp = f"{path}.rollouts[{ri}]"
            if not isinstance(r, Mapping):
                raise _fail(rp, "expected an object {turn_rewards, outcome_reward}")
            trs: Any = r.get("turn_rewards")
            if hasattr(trs, "tolist"):  # numpy arrays, tensors
                trs = trs.tolist()
            if not isinstance(trs, list | tuple):
                raise _fail(f"{rp}.turn_rewards", "expected a list of numbers")
            rollout_msg = group.rollouts.add()
            _check_keys(r, rollout_msg, rp)
            rollout_msg.turn_rewards.extend(_number(x, f"{rp}.turn_rewards[{t}]") for t, x in enumerate(trs))
            for key in ("outcome_reward", "trajectory_reward"):
                if r.get(key) is not None:
                    setattr(rollout_msg, key, _number(r[key], f"{rp}.{key}"))
            if r.get("states") is not None:
                rollout_msg.states_json = dumps(r["states"])
    return req


# ---- turnscore.v1 response -> API.md dict ---------------------------------------------------------------


def _id(msg: Any) -> Any:
    which = msg.WhichOneof("id_value")
    if which == "id":
        return msg.id
    if which == "id_json":
        return json.loads(msg.id_json)
    return None


def _match(m: Any) -> dict[str, Any]:
    return {
        "turn": m.turn,
        "call": m.call,
        "name": m.name,
        "gold": m.gold if m.HasField("gold") else None,
        "similarity": m.similarity,
        "reward": m.reward,
    }


def _rows(values: Any, m: int, n: int) -> list[list[float]]:
    flat = list(values)
    return [flat[i * n : (i + 1) * n] for i in range(m)]


def _matrix(x: Any) -> dict[str, Any]:
    m, n = len(x.predicted), len(x.gold)
    out: dict[str, Any] = {
        "predicted": [{"turn": p.turn, "call": p.call, "name": p.name} for p in x.predicted],
        "gold": [{"name": g.name} for g in x.gold],
        "similarity": _rows(x.similarity, m, n),
    }
    if x.has_plan:
        out["plan"] = _rows(x.plan, m, n)
    return out


def _summary(s: Any) -> dict[str, Any]:
    """A ``Summary`` as its JSON object (unset fields, as in an advantages summary, left out)."""
    return {
        f.name: getattr(s, f.name) for f in s.DESCRIPTOR.fields if not f.has_presence or s.HasField(f.name)
    }


def _rollout(r: Any, explain: bool) -> dict[str, Any]:
    row: dict[str, Any] = {
        "turn_rewards": list(r.turn_rewards),
        "outcome_reward": r.outcome_reward,
        "return": getattr(r, "return"),
        "trajectory_advantage": r.trajectory_advantage,
        "turn_advantages": list(r.turn_advantages),
        "advantages": list(r.advantages),
        "num_turns": r.num_turns,
    }
    for key in ("trajectory_reward", "num_calls", "malformed_calls", "reference"):
        if r.HasField(key):
            row[key] = getattr(r, key)
    if r.HasField("toolrl"):
        row["toolrl"] = {"format": r.toolrl.format, "correctness": r.toolrl.correctness}
    if explain:
        row["matches"] = [_match(m) for m in r.matches]
    if r.HasField("matrix"):
        row["matrix"] = _matrix(r.matrix)
    if r.HasField("step_group_sizes"):
        row["step_group_sizes"] = list(r.step_group_sizes.sizes)
    return row


def response_dict(resp: pb.ScoreResponse) -> dict[str, Any]:
    """A ``ScoreResponse`` as the API.md response body (equal to the HTTP service's JSON answer)."""
    body: dict[str, Any] = {"preset": resp.preset, "config": json.loads(resp.config_json or b"{}")}
    if resp.effective_json:
        body["effective"] = json.loads(resp.effective_json)
    groups = []
    for g in resp.groups:
        group: dict[str, Any] = {"id": _id(g)}
        if g.HasField("gold_ref"):
            group["gold_ref"] = g.gold_ref
        if g.gold_refs:
            group["gold_refs"] = list(g.gold_refs)
        group["rollouts"] = [_rollout(r, resp.explain) for r in g.rollouts]
        if g.HasField("summary"):
            group["summary"] = _summary(g.summary)
        groups.append(group)
    body["groups"] = groups
    body["warnings"] = [
        {"code": w.code, "path": w.path, "count": w.count, "message": w.message} for w in resp.warnings
    ]
    if resp.HasField("summary"):
        body["summary"] = _summary(resp.summary)
    return body


def presets_dict(resp: pb.PresetsResponse) -> dict[str, Any]:
    return {name: json.loads(v) for name, v in resp.presets_json.items()}
