"""Synthetic rollouts from real gold traces, for tests, examples and benchmarks.

Gold traces (gold-data records, tests/data/README.md) are perturbed into plausible model rollouts —
dropped, extra, renamed, wrong-valued and repeated calls, malformed blocks, answers of varying
quality — and rendered in any of the three input forms (``text``, ``messages``, ``turns``).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from .core.gold import gold_trace

SEP = "\n<|im_start|>assistant\n"
FORMS = ("text", "messages", "turns")
MALFORMED = "__malformed__"  # a call dict key: render() writes that call as one that does not parse


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    with open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                yield orjson.loads(line)


def load_traces(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Every record of the given JSONL files (or of every ``*.jsonl`` in a given directory)."""
    out: list[dict[str, Any]] = []
    for p in paths:
        p = Path(p)
        files = sorted(p.glob("*.jsonl")) if p.is_dir() else [p]
        for f in files:
            out.extend(read_jsonl(f))
    return out


def gold_of(record: dict[str, Any]) -> dict[str, Any]:
    """The API gold trace of a record (the core's reading: its ``gold`` with its ``accepted_values``),
    without the record's descriptive fields (smaller requests; the same ``gold_ref`` as the record)."""
    trace, _, _ = gold_trace(record)
    return {"accepted_values": None, **trace}


def _wrong(value: Any, rng: random.Random) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + rng.choice([1, -1, 10])
    if isinstance(value, str):
        return value[::-1] + "x" if value else "x"
    if isinstance(value, list):
        return value[:-1] if value else ["x"]
    return "x"


def perturb_call(call: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    call = copy.deepcopy(call)
    args = call.setdefault("arguments", {})
    kind = rng.random()
    if kind < 0.15:
        call["name"] = call["name"] + "_v2"
    elif kind < 0.45 and args:
        k = rng.choice(sorted(args))
        args[k] = _wrong(args[k], rng)
    elif kind < 0.6 and args:
        del args[rng.choice(sorted(args))]
    elif kind < 0.7:
        args["extra_arg"] = rng.randint(0, 9)
    return call


def perturb_turns(
    gold_turns: list[list[dict[str, Any]]], rng: random.Random, quality: float
) -> list[list[dict[str, Any]]]:
    """Predicted calls per turn: gold calls kept (maybe perturbed), dropped, repeated, or joined by extras."""
    out: list[list[dict[str, Any]]] = []
    for turn in gold_turns:
        pred: list[dict[str, Any]] = []
        for call in turn:
            r = rng.random()
            if r < (1 - quality) * 0.3:
                continue  # dropped
            pred.append(copy.deepcopy(call) if rng.random() < quality else perturb_call(call, rng))
            if rng.random() < 0.05:
                pred.append(copy.deepcopy(pred[-1]))  # repeated
        if rng.random() < (1 - quality) * 0.3:
            pred.append({"name": rng.choice(["search", "lookup", "noop"]), "arguments": {"q": "x"}})
        if len(pred) > 1 and rng.random() < 0.2:
            rng.shuffle(pred)
        out.append(pred)
    if len(out) > 1 and rng.random() < (1 - quality) * 0.3:
        out.pop(rng.randrange(len(out)))
    return out


def perturb_answer(answer: str | None, rng: random.Random, quality: float) -> str:
    if answer is None:
        return "I am done."
    words = answer.split()
    if rng.random() < quality or not words:
        return answer
    keep = [w for w in words if rng.random() < quality]
    return " ".join([*keep, "maybe"])


def _block(call: dict[str, Any]) -> str:
    return "<tool_call>\n" + orjson.dumps(call).decode() + "\n</tool_call>"


def _malformed_block(call: dict[str, Any]) -> str:
    return "<tool_call>\n{" + str(call.get("name", "")) + ": oops\n</tool_call>"


def _structured(call: dict[str, Any]) -> dict[str, Any]:
    """A call as ``turns``/``messages`` carry it; a :data:`MALFORMED` one has no name (a malformed call)."""
    if call.get(MALFORMED):
        return {"arguments": call.get("arguments", {})}
    return call


def render(
    turns: list[list[dict[str, Any]]],
    answer: str | None,
    form: str,
    rng: random.Random,
    malformed_rate: float = 0.02,
    filler_chars: int = 0,
) -> dict[str, Any]:
    """A rollout object in ``form``: one assistant turn per call list, then an answer turn.

    A call marked :data:`MALFORMED` is written as a call that does not parse (in every form).

    ``filler_chars``: about that many characters of ``<think>`` text per assistant turn (``text`` and
    ``messages``; ``turns`` has no free text).
    """
    if form == "turns":
        return {"turns": [{"tool_calls": [_structured(c) for c in t]} for t in turns] + [{"answer": answer}]}
    if form == "messages":
        msgs: list[dict[str, Any]] = []
        for k, t in enumerate(turns):
            tcs = [
                {
                    "id": f"c{k}_{j}",
                    "type": "function",
                    "function": {
                        **({} if c.get(MALFORMED) else {"name": c["name"]}),
                        "arguments": orjson.dumps(c.get("arguments", {})).decode(),
                    },
                }
                for j, c in enumerate(t)
            ]
            msgs.append({"role": "assistant", "content": "", "tool_calls": tcs})
            msgs.extend({"role": "tool", "tool_call_id": tc["id"], "content": "ok"} for tc in tcs)
        msgs.append({"role": "assistant", "content": f"<answer>{answer}</answer>"})
        if filler_chars > 0:  # the reasoning text goes in each assistant message's content
            think = "<think>" + "reasoning " * (filler_chars // 10) + "</think>\n"
            for msg in msgs:
                if msg["role"] == "assistant":
                    msg["content"] = think + msg["content"]
        return {"messages": msgs}
    pieces = []
    filler = "reasoning " * (filler_chars // 10)
    for t in turns:
        blocks = []
        for c in t:
            if c.get(MALFORMED):
                blocks.append(_malformed_block(c))
            elif rng.random() < malformed_rate:
                blocks.append("<tool_call>\n{" + c["name"] + ": oops\n</tool_call>")
            else:
                blocks.append(_block(c))
        pieces.append(
            f"<think>{filler}</think>\n"
            + "\n".join(blocks)
            + "<|im_end|>\n<|im_start|>user\n<tool_response>\nok\n</tool_response><|im_end|>"
        )
    pieces.append(f"<think>{filler}</think>\n<answer>{answer}</answer><|im_end|>")
    return {"text": SEP.join(pieces)}


def make_group(
    record: dict[str, Any],
    group_size: int,
    rng: random.Random,
    forms: tuple[str, ...] = FORMS,
    filler_chars: int = 0,
) -> dict[str, Any]:
    """A request group for ``record``: ``group_size`` rollouts of mixed quality in the given forms."""
    gold = gold_of(record)
    rollouts = []
    for _ in range(group_size):
        quality = rng.random()
        turns = perturb_turns(gold["turns"], rng, quality)
        answer = perturb_answer(gold["answer"], rng, quality)
        rollouts.append(render(turns, answer, rng.choice(forms), rng, filler_chars=filler_chars))
    return {"id": record.get("id"), "gold": gold, "rollouts": rollouts}


def make_request(
    records: list[dict[str, Any]],
    groups: int,
    group_size: int,
    seed: int = 0,
    forms: tuple[str, ...] = FORMS,
    preset: str | None = None,
    filler_chars: int = 0,
) -> dict[str, Any]:
    rng = random.Random(seed)
    picked = [records[rng.randrange(len(records))] for _ in range(groups)]
    req: dict[str, Any] = {"groups": [make_group(r, group_size, rng, forms, filler_chars) for r in picked]}
    if preset is not None:
        req["preset"] = preset
    return req


# -- deterministic perturbations of a gold trace (the ranking properties, SCORING.md §9) --------------

# One mistake each: a gold call dropped, an unrelated call added, a gold call repeated, a gold call with a
# wrong name, with one wrong argument value, written so that it does not parse; a wrong final answer.
PERTURBATIONS = ("dropped", "extra", "duplicated", "wrong_name", "wrong_value", "malformed", "wrong_answer")
SPLITS = ("gold", "one_per_turn", "one_turn")

Turns = list[list[dict[str, Any]]]
Site = tuple[int, int]  # (turn, call) of the call a perturbation changes; (-1, -1) for the answer


def split(turns: Turns, how: str) -> Turns:
    """The same calls in another turn split: ``gold`` (as given, empty turns dropped), ``one_per_turn``,
    ``one_turn`` (all calls in one turn; no turn when there are no calls)."""
    flat = [c for t in turns for c in t]
    if how == "one_per_turn":
        return [[c] for c in flat]
    if how == "one_turn":
        return [flat] if flat else []
    if how == "gold":
        return [list(t) for t in turns if t]
    raise ValueError(f"unknown split {how!r}")


def sites(turns: Turns, answer: str | None, kind: str) -> list[Site]:
    """Where ``kind`` applies: every call (``wrong_value``: every call with arguments), the end of the
    last turn for ``extra``, the answer for ``wrong_answer`` (when there is a gold answer)."""
    if kind == "wrong_answer":
        return [(-1, -1)] if answer and answer.strip() else []
    if kind == "extra":
        return [(max(len(turns) - 1, 0), len(turns[-1]) if turns else 0)]
    return [
        (t, c)
        for t, turn in enumerate(turns)
        for c, call in enumerate(turn)
        if kind != "wrong_value" or call.get("arguments")
    ]


def accepted_at(record: dict[str, Any], site: Site) -> dict[str, list[Any]]:
    """The accepted values of the gold call at ``site`` (argument -> values), from BFCL's dotted form."""
    raw = record.get("accepted_values")
    if not isinstance(raw, dict):
        return {}
    prefix = f"{site[0]}.{site[1]}."
    return {k[len(prefix) :]: v for k, v in raw.items() if k.startswith(prefix) and isinstance(v, list)}


def _accepts(values: list[Any], value: Any) -> bool:
    return any(v == value and isinstance(v, bool) == isinstance(value, bool) for v in values)


def perturb(
    turns: Turns,
    answer: str | None,
    kind: str,
    site: Site,
    rng: random.Random,
    accepted: dict[str, list[Any]] | None = None,
) -> tuple[Turns, str | None]:
    """``turns`` and ``answer`` with one mistake of ``kind`` at ``site`` (inputs are not modified).

    ``accepted``: the accepted values of the call at ``site``; a ``wrong_value`` is never one of them (nor
    the gold value)."""
    turns = copy.deepcopy(turns)
    t, c = site
    if kind == "wrong_answer":
        return turns, perturb_answer(answer, rng, 0.0)  # quality 0: none of the gold words, plus "maybe"
    if kind == "extra":
        extra = {"name": rng.choice(["search", "lookup", "noop"]) + "_extra", "arguments": {"q": "x"}}
        if not turns:
            return [[extra]], answer
        turns[t].insert(c, extra)
        return turns, answer
    call = turns[t][c]
    if kind == "dropped":
        del turns[t][c]
    elif kind == "duplicated":
        turns[t].insert(c + 1, copy.deepcopy(call))
    elif kind == "wrong_name":
        call["name"] = call["name"] + "_v2"
    elif kind == "wrong_value":
        args = call["arguments"]
        key = rng.choice(sorted(args))
        wrong = _wrong(args[key], rng)
        if _accepts([args[key], *(accepted or {}).get(key, [])], wrong):
            wrong = "wrong value"  # e.g. a flipped boolean where both are accepted
        args[key] = wrong
    elif kind == "malformed":
        call[MALFORMED] = True
    else:
        raise ValueError(f"unknown perturbation {kind!r}")
    return turns, answer


def random_perturbation(
    turns: Turns, answer: str | None, rng: random.Random, count: int
) -> tuple[Turns, str | None, list[str]]:
    """Up to ``count`` perturbations of random kinds at random sites, applied one after another."""
    kinds: list[str] = []
    for _ in range(count):
        options = [(k, s) for k in PERTURBATIONS for s in sites(turns, answer, k)]
        options = [
            (k, s)
            for k, s in options
            if not (k != "extra" and s[0] >= 0 and turns[s[0]][s[1]].get(MALFORMED))
        ]
        if not options:
            break
        kind, site = options[rng.randrange(len(options))]
        turns, answer = perturb(turns, answer, kind, site, rng)
        kinds.append(kind)
    return turns, answer, kinds


def ranking_group(
    record: dict[str, Any], rng: random.Random, combos: int = 4, form: str = "text"
) -> tuple[dict[str, Any], list[str]]:
    """One request group for ``record`` and the label ``<what>@<split>`` of each rollout: the exact gold in
    every split of :data:`SPLITS` (``gold``), every single perturbation at every site (its kind; the splits
    taken in turn), then ``combos`` rollouts of 2-3 random perturbations (kinds joined by ``+``)."""
    gold = gold_of(record)
    turns: Turns = [list(t) for t in gold["turns"]]
    answer = gold["answer"]
    rollouts: list[dict[str, Any]] = []
    labels: list[str] = []

    def add(t: Turns, a: str | None, label: str, how: str) -> None:
        rollouts.append(render(split(t, how), a, form, rng, malformed_rate=0.0))
        labels.append(f"{label}@{how}")

    for how in SPLITS:
        add(turns, answer, "gold", how)
    for kind in PERTURBATIONS:
        for site in sites(turns, answer, kind):
            changed, changed_answer = perturb(turns, answer, kind, site, rng, accepted_at(record, site))
            add(changed, changed_answer, kind, SPLITS[len(rollouts) % len(SPLITS)])
    for _ in range(combos):
        changed, changed_answer, kinds = random_perturbation(turns, answer, rng, rng.choice([2, 3]))
        if len(kinds) > 1:
            add(changed, changed_answer, "+".join(kinds), SPLITS[len(rollouts) % len(SPLITS)])
    return {"id": record.get("id"), "gold": gold, "rollouts": rollouts}, labels
