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


def render(
    turns: list[list[dict[str, Any]]],
    answer: str | None,
    form: str,
    rng: random.Random,
    malformed_rate: float = 0.02,
    filler_chars: int = 0,
) -> dict[str, Any]:
    """A rollout object in ``form``: one assistant turn per call list, then an answer turn.

    ``filler_chars``: about that many characters of ``<think>`` text per assistant turn (``text`` and
    ``messages``; ``turns`` has no free text).
    """
    if form == "turns":
        return {"turns": [{"tool_calls": t} for t in turns] + [{"answer": answer}]}
    if form == "messages":
        msgs: list[dict[str, Any]] = []
        for k, t in enumerate(turns):
            tcs = [
                {
                    "id": f"c{k}_{j}",
                    "type": "function",
                    "function": {
                        "name": c["name"],
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
            if rng.random() < malformed_rate:
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
