"""OpenRLHF ``--remote_rm_url``: ``{query, prompts, labels}`` -> ``{rewards, scores, extra_logs}``.

Built only on ``engine.score`` (through :class:`Runtime`), so the numbers are the ones ``/v1/score`` gives.

- ``response = query[len(prompt):]`` when ``query`` starts with ``prompt`` (else the text after the first
  occurrence of ``prompt``, else the whole query), scored in the ``text`` form.
- ``label`` (object or JSON string): a gold trace or a whole gold-data record (read by the core, the same
  rules as ``gold`` on ``/v1/score``), an object with one of ``references`` / ``gold_ref`` / ``gold_refs``
  (and no other key), or a list of traces (references).
- Samples with the same label form one group (the trajectory return ``R_i`` does not depend on the group;
  OpenRLHF normalizes within its own groups). Groups are chunked to respect the request limits.
- ``rewards[i] = scores[i] = R_i``; ``extra_logs`` holds one number per sample under fixed keys (OpenRLHF
  concatenates extra logs per sample and logs their sample-weighted mean as ``train/<key>``): the
  sample's own numbers (``turnscore_*``) and the ``summary`` of the ``/v1/score`` request that scored it,
  one key per field (``turnscore/<field>``, the same value for every sample of that request; normally the
  whole call, or each group or sample alone when one of them failed). A sample that cannot be scored (bad
  label, unknown gold_ref, a rollout over a limit, ...) gets 0 (every key) and ``turnscore_errors = 1``:
  never an HTTP error. An unknown key (in
  the body or in a label: a dataset typo that would otherwise silently zero every sample) is a 422 whose
  ``details.path`` names it under ``labels[i]``.
- Request-level settings (``preset``, ``config``, ``step`` in the body or ``?preset=`` in the URL) that are
  invalid are an operator error and answer 422, like ``/v1/score``.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from turnscore import metrics
from turnscore.core import keys
from turnscore.core.errors import (
    ConfigError,
    DeadlineExceeded,
    InvalidRequest,
    TurnScoreError,
    UnknownKey,
    UnknownPreset,
)
from turnscore.core.gold import compile_gold
from turnscore.core.request import GOLD_KEYS
from turnscore.core.summary import SCORE_FIELDS
from turnscore.runtime import Runtime

log = logging.getLogger("turnscore.openrlhf")

EXTRA_LOG_KEYS = (
    "turnscore_outcome_reward",
    "turnscore_turn_reward_sum",
    "turnscore_num_turns",
    "turnscore_num_calls",
    "turnscore_malformed_calls",
    "turnscore_warnings",
    "turnscore_errors",
)
#: the request summary's fields, as ``turnscore/<field>`` (what every trainer adapter logs)
SUMMARY_LOG_KEYS = tuple(f"turnscore/{name}" for name in SCORE_FIELDS)
# a label with one of these is a group's gold fields (the request's gold keys other than a plain `gold`)
_REF_KEYS = tuple(k for k in GOLD_KEYS if k != "gold")


def _label(raw: Any) -> Any:
    """A label as an object (a JSON string decoded), or None if it is not JSON."""
    if isinstance(raw, str | bytes):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
    return raw


def _gold_spec(label: Any, index: int) -> dict[str, Any] | None:
    """The group fields a (decoded) label stands for, or None if unusable. A trace or a record goes to the
    core as ``gold`` as it is: the core alone reads gold (and records)."""
    if isinstance(label, list):
        return {"references": label} if label else None
    if not isinstance(label, dict):
        return None
    if any(k in label for k in _REF_KEYS):
        keys.check(label, GOLD_KEYS, f"labels[{index}]")
        return dict(label)
    return {"gold": label}


def _check_label(label: Any, index: int) -> None:
    """Unknown keys in a label's gold, found before scoring with their path under ``labels[index]``."""
    path = f"labels[{index}]"
    if isinstance(label, list):
        _check_traces(label, path)
    elif isinstance(label, dict) and not any(k in label for k in _REF_KEYS):
        _check_traces([label], path, single=True)
    elif isinstance(label, dict) and isinstance(label.get("references"), list):
        _check_traces(label["references"], f"{path}.references")


def _check_traces(traces: list[Any], path: str, single: bool = False) -> None:
    """Compile each trace to find unknown keys early (other errors are the sample's, found when scored)."""
    for k, trace in enumerate(traces):
        try:
            compile_gold(trace, path if single else f"{path}[{k}]")
        except UnknownKey:
            raise
        except TurnScoreError:
            pass


def _response_text(query: Any, prompt: Any) -> str | None:
    if not isinstance(query, str):
        return None
    if isinstance(prompt, str) and prompt:
        if query.startswith(prompt):
            return query[len(prompt) :]
        pos = query.find(prompt)
        if pos >= 0:
            return query[pos + len(prompt) :]
    return query


class _Sample:
    __slots__ = ("error", "index", "row", "summary", "warnings")

    def __init__(self, index: int) -> None:
        self.index = index
        self.row: dict[str, Any] | None = None
        self.summary: dict[str, Any] = {}  # of the /v1/score request that scored it
        self.error: str | None = None
        self.warnings = 0  # warning occurrences in its rollout


def _top_level(doc: dict[str, Any], preset_param: str | None) -> tuple[dict[str, Any], list[Any]]:
    keys.check(doc, keys.OPENRLHF_REQUEST, "")
    queries = doc.get("query", doc.get("queries"))
    if not isinstance(queries, list):
        raise InvalidRequest("query", "expected a list of strings (prompt + response per sample)")
    top: dict[str, Any] = {}
    preset = doc.get("preset", preset_param)
    if preset is not None:
        top["preset"] = preset
    for key in ("config", "step"):
        if doc.get(key) is not None:
            top[key] = doc[key]
    return top, queries


def _is_request_level(exc: TurnScoreError) -> bool:
    if isinstance(exc, UnknownPreset | ConfigError | DeadlineExceeded):
        return True
    path = (exc.details or {}).get("path") if isinstance(exc.details, dict) else None
    return isinstance(path, str) and path.split(".", 1)[0].split("[", 1)[0] in ("preset", "config", "step")


def _is_rollout_error(exc: TurnScoreError) -> bool:
    path = exc.details.get("path") if isinstance(exc.details, dict) else None
    return isinstance(path, str) and ".rollouts[" in path


async def score_openrlhf(runtime: Runtime, doc: dict[str, Any], preset_param: str | None = None) -> bytes:
    top, queries = _top_level(doc, preset_param)
    prompts = doc.get("prompts")
    labels = doc.get("labels")
    prompts = prompts if isinstance(prompts, list) else []
    labels = labels if isinstance(labels, list) else []
    samples = [_Sample(i) for i in range(len(queries))]

    # group samples by label
    groups: dict[bytes, tuple[dict[str, Any], list[tuple[_Sample, str]]]] = {}
    for sample in samples:
        text = _response_text(
            queries[sample.index], prompts[sample.index] if sample.index < len(prompts) else None
        )
        label = _label(labels[sample.index]) if sample.index < len(labels) else None
        spec = _gold_spec(label, sample.index)
        if text is None:
            sample.error = "query is not a string"
            continue
        if spec is None:
            sample.error = "label is not a gold trace"
            continue
        try:
            key = orjson.dumps(spec, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            sample.error = "label is not JSON"
            continue
        if key not in groups:
            _check_label(label, sample.index)
            groups[key] = (spec, [])
        groups[key][1].append((sample, text))

    # chunk to the core limits: max_rollouts_per_group per group, max_groups per call
    limits = runtime.limits
    per_group = max(1, int(limits.max_rollouts_per_group))
    chunks: list[tuple[dict[str, Any], list[tuple[_Sample, str]]]] = []
    for spec, members in groups.values():
        for k in range(0, len(members), per_group):
            chunks.append((spec, members[k : k + per_group]))
    per_call = max(1, int(limits.max_groups))
    deadline = runtime.deadline()
    for k in range(0, len(chunks), per_call):
        await _score_batch(runtime, top, chunks[k : k + per_call], deadline)

    rewards: list[float] = []
    logs: dict[str, list[float]] = {key: [] for key in (*EXTRA_LOG_KEYS, *SUMMARY_LOG_KEYS)}
    errors = 0
    for sample in samples:
        row = sample.row
        if row is None:
            errors += 1
            rewards.append(0.0)
            for name in logs:
                logs[name].append(1.0 if name == "turnscore_errors" else 0.0)
            continue
        for name, field in zip(SUMMARY_LOG_KEYS, SCORE_FIELDS, strict=True):
            logs[name].append(float(sample.summary.get(field) or 0.0))
        rewards.append(float(row["return"]))
        logs["turnscore_outcome_reward"].append(float(row.get("outcome_reward", 0.0)))
        logs["turnscore_turn_reward_sum"].append(float(sum(row.get("turn_rewards", ()))))
        logs["turnscore_num_turns"].append(float(row.get("num_turns", 0)))
        logs["turnscore_num_calls"].append(float(row.get("num_calls", 0)))
        logs["turnscore_malformed_calls"].append(float(row.get("malformed_calls", 0)))
        logs["turnscore_warnings"].append(float(sample.warnings))
        logs["turnscore_errors"].append(0.0)
    if errors:
        metrics.OPENRLHF_UNSCORED.inc(errors)
        first = next((sample.error for sample in samples if sample.error), None)
        log.info("openrlhf samples unscored", extra={"unscored": errors, "first_error": first})
    return orjson.dumps({"rewards": rewards, "scores": rewards, "extra_logs": logs})


async def _score_batch(
    runtime: Runtime,
    top: dict[str, Any],
    chunks: list[tuple[dict[str, Any], list[tuple[_Sample, str]]]],
    deadline: float | None,
) -> None:
    """Score ``chunks``; on a group's or a sample's error, score the others without it (all within the
    request's one ``deadline``)."""

    def request(parts: list[tuple[dict[str, Any], list[tuple[_Sample, str]]]]) -> dict[str, Any]:
        return {
            **top,
            "groups": [
                {"id": i, **spec, "rollouts": [{"text": text} for _, text in members]}
                for i, (spec, members) in enumerate(parts)
            ],
        }

    try:
        result, _ = await runtime.score(request(chunks), deadline=deadline)
    except TurnScoreError as exc:
        if _is_request_level(exc):
            raise
        if len(chunks) == 1:
            spec, members = chunks[0]
            if len(members) > 1 and _is_rollout_error(exc):
                # one sample over a limit must not cost its group-mates their rewards
                for member in members:
                    await _score_batch(runtime, top, [(spec, [member])], deadline)
                return
            for sample, _ in members:
                sample.error = exc.message
            return
        # one bad group must not cost the others their rewards: score each group on its own
        for chunk in chunks:
            await _score_batch(runtime, top, [chunk], deadline)
        return
    per_rollout = iter(getattr(result.stats, "rollout_warnings", None) or ())
    summary = result.body.get("summary") or {}
    for (_, members), group in zip(chunks, result.body["groups"], strict=True):
        for (sample, _), row in zip(members, group["rollouts"], strict=True):
            sample.row = row
            sample.summary = summary
            sample.warnings = next(per_rollout, 0)
