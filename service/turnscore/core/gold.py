"""Gold traces: validation, normalization, ``gold_ref`` and the per-mode lookup tables used in matching."""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from types import ModuleType
from typing import Any

import orjson

from . import keys, native
from .calls import Call, TooDeep, call_from_obj, call_or_none
from .errors import InvalidRequest, LimitExceeded, TurnScoreError
from .limits import MAX_GOLD_CALLS, MAX_NESTED_JSON_DEPTH
from .text import answer_tokens
from .values import KEY_FUNCS


class CompiledGold:
    """A normalized gold trace plus the tables matching needs, built once and cached by ``ref``."""

    __slots__ = (
        "_answer_tokens",
        "_arg_keys",
        "_name_index",
        "_native",
        "_value_sets",
        "accepted",
        "answer",
        "calls",
        "canonical",
        "nbytes",
        "ref",
        "turn_sizes",
    )

    def __init__(
        self,
        calls: list[Call],
        answer: str | None,
        accepted: list[dict[str, list[Any]] | None] | None,
        turn_sizes: list[int] | None,
    ) -> None:
        self.calls: tuple[Call, ...] = tuple(calls)
        self.answer = answer
        self.accepted = tuple(accepted) if accepted is not None else None
        self.turn_sizes = turn_sizes
        norm = {
            "calls": [{"name": c.name, "arguments": c.arguments} for c in calls],
            "answer": answer,
            "accepted_values": accepted,
            "turn_sizes": turn_sizes,
        }
        self.canonical: bytes = orjson.dumps(norm, option=orjson.OPT_SORT_KEYS)
        self.ref = "sha256:" + hashlib.sha256(self.canonical).hexdigest()
        self.nbytes = 4 * len(self.canonical) + 512
        # what only the Python core's matching and outcome read: built on first use (see the properties)
        self._arg_keys: tuple[frozenset[str], ...] | None = None
        self._answer_tokens: frozenset[str] | None = None
        self._value_sets: dict[str, tuple[dict[str, frozenset[Hashable]], ...]] = {}
        self._name_index: dict[bool, dict[str, tuple[int, ...]]] = {}
        self._native: dict[tuple[str, bool], Any] = {}

    @property
    def arg_keys(self) -> tuple[frozenset[str], ...]:
        """Each call's argument names."""
        got = self._arg_keys
        if got is None:
            got = self._arg_keys = tuple(frozenset(c.arguments) for c in self.calls)
        return got

    @property
    def answer_tokens(self) -> frozenset[str] | None:
        """The answer's tokens (``None`` without an answer)."""
        got = self._answer_tokens
        if got is None and self.answer is not None:
            got = self._answer_tokens = frozenset(answer_tokens(self.answer))
        return got

    # -- tables -----------------------------------------------------------------------------------
    def value_sets(self, mode: str) -> tuple[dict[str, frozenset[Hashable]], ...]:
        """For each gold call: argument name -> keys of every value accepted as correct under ``mode``."""
        got = self._value_sets.get(mode)
        if got is None:
            key = KEY_FUNCS[mode]
            out = []
            for j, call in enumerate(self.calls):
                acc = self.accepted[j] if self.accepted is not None else None
                sets: dict[str, frozenset[Hashable]] = {}
                for k, v in call.arguments.items():
                    keys = {key(v)}
                    if acc is not None and k in acc:
                        keys.update(key(x) for x in acc[k])
                    sets[k] = frozenset(keys)
                out.append(sets)
            got = tuple(out)
            self._value_sets[mode] = got
        return got

    def name_index(self, case_sensitive: bool) -> dict[str, tuple[int, ...]]:
        """Gold call indices by (optionally case-folded) name."""
        got = self._name_index.get(case_sensitive)
        if got is None:
            idx: dict[str, list[int]] = {}
            for j, call in enumerate(self.calls):
                idx.setdefault(call.name if case_sensitive else call.name.lower(), []).append(j)
            got = {k: tuple(v) for k, v in idx.items()}
            self._name_index[case_sensitive] = got
        return got

    def native_table(self, ext: ModuleType, mode: str, case_sensitive: bool) -> Any:
        """The compiled extension's table of this trace for ``mode`` and name case (built once, cached with
        the trace); ``None`` when a value needs the Python path (core/native.py)."""
        key = (mode, case_sensitive)
        try:
            return self._native[key]
        except KeyError:
            got = self._native[key] = ext.gold_table(self.calls, self.accepted, mode, case_sensitive)
            return got

    # -- serialization ----------------------------------------------------------------------------
    def to_json(self) -> bytes:
        """Canonical JSON of the normalized trace (what a shared cache stores)."""
        return self.canonical

    @classmethod
    def from_json(cls, data: bytes | str) -> CompiledGold:
        """Rebuild from :meth:`to_json` output; ``ValueError`` on anything that is not a valid trace."""
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(obj, dict) or set(obj) != {"calls", "answer", "accepted_values", "turn_sizes"}:
            raise ValueError("not a normalized gold trace")
        try:
            gold = compile_gold(obj, "gold", max_calls=None)
        except TurnScoreError as exc:
            raise ValueError(exc.message) from None
        if gold.canonical != orjson.dumps(obj, option=orjson.OPT_SORT_KEYS):
            raise ValueError("trace is not in normalized form")
        return gold


def _native_calls(flat: list[Any]) -> list[Call] | None:
    """The calls of ``flat`` (the trace's call objects in order) read by the native core
    (``parse.structured_calls``: the same key checks and reading), or ``None`` when it is off or any call
    is not valid: Python then reads them and raises the error of the first bad one."""
    m = native.module()
    if m is None or type(flat) is not list:
        return None
    got = m.structured_calls(flat, Call, call_or_none, MAX_NESTED_JSON_DEPTH)
    if got is None or got[1]:
        return None
    calls: list[Call] = got[0]
    return calls


def _python_calls(sources: list[tuple[str, list[Any]]]) -> list[Call]:
    """The calls of ``sources`` (each a JSON path and its list of call objects), validated."""
    calls: list[Call] = []
    for prefix, part in sources:
        for j, call_obj in enumerate(part):
            cpath = f"{prefix}[{j}]"
            keys.check_call(call_obj, cpath)
            try:
                call = call_from_obj(call_obj)
            except TooDeep:
                raise InvalidRequest(
                    f"{cpath}.arguments", f"arguments nested deeper than {MAX_NESTED_JSON_DEPTH}"
                ) from None
            if call is None:
                raise InvalidRequest(cpath, "expected an object with a string 'name' and 'arguments'")
            calls.append(call)
    return calls


def _accepted_from_dotted(
    raw: dict[str, Any], turn_sizes: list[int], path: str
) -> list[dict[str, list[Any]] | None]:
    """BFCL-style ``{"<turn>.<call>.<param>": [values]}`` to the list form parallel to the flat calls."""
    offsets = [0]
    for s in turn_sizes:
        offsets.append(offsets[-1] + s)
    out: list[dict[str, list[Any]] | None] = [None] * offsets[-1]
    for key, vals in raw.items():
        parts = key.split(".", 2)
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            raise InvalidRequest(f"{path}.{key}", "expected a key '<turn>.<call>.<param>'")
        t, c, param = int(parts[0]), int(parts[1]), parts[2]
        if t >= len(turn_sizes) or c >= turn_sizes[t]:
            raise InvalidRequest(f"{path}.{key}", "names a call that the gold trace does not have")
        if not isinstance(vals, list):
            raise InvalidRequest(f"{path}.{key}", "expected a list of accepted values")
        j = offsets[t] + c
        slot = out[j]
        if slot is None:
            slot = out[j] = {}
        slot[param] = vals
    return out


def _accepted(
    raw: Any, n_calls: int, turn_sizes: list[int] | None, path: str
) -> list[dict[str, list[Any]] | None] | None:
    if raw is None:
        return None
    if isinstance(raw, dict):
        return _accepted_from_dotted(raw, turn_sizes or [n_calls], path)
    if not isinstance(raw, list):
        raise InvalidRequest(path, "expected null, a list parallel to calls, or an object")
    if len(raw) != n_calls:
        raise InvalidRequest(path, f"has {len(raw)} items but the gold trace has {n_calls} calls")
    out: list[dict[str, list[Any]] | None] = []
    for j, item in enumerate(raw):
        if item is None:
            out.append(None)
            continue
        if not isinstance(item, dict):
            raise InvalidRequest(f"{path}[{j}]", "expected null or an object {arg: [values]}")
        for k, vals in item.items():
            if not isinstance(vals, list):
                raise InvalidRequest(f"{path}[{j}].{k}", "expected a list of accepted values")
        out.append(dict(item))
    return out


def gold_trace(obj: Any, path: str = "gold") -> tuple[dict[str, Any], str, str]:
    """The gold trace an object stands for, the JSON path of the trace and of its ``accepted_values``.

    ``obj`` is a gold trace (``calls`` or ``turns``, ``answer``, ``accepted_values``), or a whole gold-data
    record (tests/data/README.md: ``{"id", "source", ..., "gold": {"turns", "answer"}, "accepted_values"}``),
    whose trace is its ``gold`` with the record's ``accepted_values``: the record and that trace have one
    ``gold_ref``. The one reading of records, for every endpoint and the offline CLI.
    """
    if not isinstance(obj, dict):
        raise InvalidRequest(path, "expected a gold trace object (or a gold-data record)")
    if "gold" not in obj:
        keys.check(obj, keys.GOLD_TRACE, path)
        return obj, path, f"{path}.accepted_values"
    keys.check(obj, keys.GOLD_RECORD, path)
    inner = obj["gold"]
    ipath = f"{path}.gold"
    if not isinstance(inner, dict):
        raise InvalidRequest(ipath, "expected a gold trace object")
    keys.check(inner, keys.GOLD_TRACE, ipath)
    accepted = obj.get("accepted_values")
    if accepted is None:
        return inner, ipath, f"{ipath}.accepted_values"
    if inner.get("accepted_values") is not None:
        raise InvalidRequest(f"{path}.accepted_values", "given both in the record and in its gold")
    return {**inner, "accepted_values": accepted}, ipath, f"{path}.accepted_values"


def turn_sizes_of(ts: Any, n_calls: int, path: str) -> list[int]:
    """A gold trace's ``turn_sizes`` checked against its ``n_calls`` calls (``path``: the trace's)."""
    if (
        not isinstance(ts, list)
        or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in ts)
        or sum(ts) != n_calls
    ):
        raise InvalidRequest(f"{path}.turn_sizes", "expected call counts per turn summing to calls")
    return list(ts)


def compile_gold(obj: Any, path: str = "gold", max_calls: int | None = MAX_GOLD_CALLS) -> CompiledGold:
    """Validate and compile one gold trace (``calls`` or ``turns``, ``answer``, ``accepted_values``) or
    gold-data record (see :func:`gold_trace`).

    More than ``max_calls`` calls (``None``: no limit) is a :class:`LimitExceeded` (``max_gold_calls``),
    raised before any call is read. The JSON paths of the call lists (:func:`_sources`) are built only
    when Python reads the calls."""
    trace, path, av_path = gold_trace(obj, path)
    get = trace.get
    calls_obj, turns, answer = get("calls"), get("turns"), get("answer")
    if calls_obj is None and turns is None and answer is None:
        raise InvalidRequest(path, "a gold trace needs calls, turns or an answer (got none of them)")
    if calls_obj is not None and turns is not None:
        raise InvalidRequest(path, "expected one of calls, turns (got both)")
    turn_sizes: list[int] | None = None
    flat: list[Any] = []  # the call objects in call order
    if calls_obj is not None:
        if not isinstance(calls_obj, list):
            raise InvalidRequest(f"{path}.calls", "expected a list of calls")
        flat = calls_obj
        ts = get("turn_sizes")
        if ts is not None:
            turn_sizes = turn_sizes_of(ts, len(calls_obj), path)
    elif turns is not None:
        if get("turn_sizes") is not None:
            raise InvalidRequest(f"{path}.turn_sizes", "only with calls (turns give their own sizes)")
        if not isinstance(turns, list):
            raise InvalidRequest(f"{path}.turns", "expected a list of turns (each a list of calls)")
        for t, turn in enumerate(turns):
            if not isinstance(turn, list):
                raise InvalidRequest(f"{path}.turns[{t}]", "expected a list of calls")
        turn_sizes = [len(turn) for turn in turns]
        flat = turns[0] if len(turns) == 1 else [c for turn in turns for c in turn]
    n_calls = len(flat)
    if max_calls is not None and n_calls > max_calls:
        raise LimitExceeded("max_gold_calls", max_calls, path, n_calls)
    got = _native_calls(flat) if n_calls else None
    calls = got if got is not None else _python_calls(_sources(trace, path))
    if answer is not None and not isinstance(answer, str):
        raise InvalidRequest(f"{path}.answer", "expected a string or null")
    accepted = _accepted(get("accepted_values"), len(calls), turn_sizes, av_path)
    return CompiledGold(calls, answer, accepted, turn_sizes)


def _sources(trace: dict[str, Any], path: str) -> list[tuple[str, list[Any]]]:
    """The call lists of a trace :func:`compile_gold` checked, each with its JSON path, in call order."""
    if trace.get("calls") is not None:
        return [(f"{path}.calls", trace["calls"])]
    return [(f"{path}.turns[{t}]", turn) for t, turn in enumerate(trace.get("turns") or [])]
