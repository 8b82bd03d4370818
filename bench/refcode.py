"""Loading and running the public MatchTIR reward function from a directory outside the repository.

Issue 18 measures turnscore against "the public MatchTIR reward function" (``compute_process_KM`` and
``compute_process_ot`` of ``Code/verl/utils/reward_score/tool.py`` in the public MatchTIR repository). Its
code never enters this repository: the bench imports it from a directory given with ``--matchtir-ref DIR``
or ``TURNSCORE_BENCH_MATCHTIR_REF`` (docs/PERFORMANCE.md says what goes there). ``DIR`` is put first on
``sys.path`` (``tool.py`` imports ``utils.parse_output``), ``DIR/deps``, when present, last. The function
takes the tokenizer and the response's token ids; ``DIR/ref_tokenizer.py`` may provide ``TOKENIZER``
(``encode(text, add_special_tokens=False)``), else :class:`PieceTokenizer` stands in.

Inputs are converted outside the timed region: the rollout's text is the decoded response, the gold calls
become ``[{"name", "parameters"}]`` as a JSON string (what the reward ``json.loads``), the token ids are
the tokenizer's encoding of the text.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV = "TURNSCORE_BENCH_MATCHTIR_REF"
#: the reference's function per matching kind, and turnscore's presets compared with it
FUNCTIONS = {"km": "compute_process_KM", "ot": "compute_process_ot"}
SEP = "\n<|im_start|>assistant\n"
END = "<|im_end|>"


def locate(arg: str | None) -> Path | None:
    """The reference directory from ``--matchtir-ref`` or the environment; None when neither is given."""
    raw = arg or os.environ.get(ENV)
    if not raw:
        return None
    path = Path(raw).expanduser().resolve()
    if not (path / "tool.py").is_file():
        raise SystemExit(f"bench reference: {path} has no tool.py (the MatchTIR reward_score/tool.py)")
    return path


class PieceTokenizer:
    """A stand-in tokenizer: Qwen's pre-tokenization pieces (special tokens, letter runs, single digits,
    newline runs, spaces, punctuation runs), each piece one id. Close to a BPE token count on English and
    JSON; the reference only looks for its separator's and ``<|im_end|>``'s ids."""

    _PIECE = re.compile(
        r"<\|im_start\|>|<\|im_end\|>|<\|endoftext\|>| ?[A-Za-z]+|\d|\s*\n+|\s+(?!\S)|\s+"
        r"|(?:(?!<\|)[^\sA-Za-z\d])+"  # punctuation runs, never into a special token
    )

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        v = self.vocab
        return [v.setdefault(p, len(v)) for p in self._PIECE.findall(text)]


@dataclass(slots=True)
class Reference:
    directory: Path
    functions: dict[str, Callable[..., list[float]]]
    tokenizer: Any
    tokenizer_name: str


def _module(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load(directory: Path) -> Reference:
    """Import ``DIR/tool.py`` (and ``DIR/ref_tokenizer.py`` when present)."""
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    deps = directory / "deps"
    if deps.is_dir() and str(deps) not in sys.path:
        sys.path.append(str(deps))
    tool = _module("matchtir_reference_tool", directory / "tool.py")
    functions = {kind: getattr(tool, name) for kind, name in FUNCTIONS.items()}
    tok_file = directory / "ref_tokenizer.py"
    if tok_file.is_file():
        return Reference(directory, functions, _module("matchtir_ref_tokenizer", tok_file).TOKENIZER, "ref")
    return Reference(directory, functions, PieceTokenizer(), "pieces")


@dataclass(slots=True)
class Item:
    """One rollout as the reference takes it."""

    response: str
    gold_calls: str  # JSON of [{"name", "parameters"}]
    answer: str
    ids: list[int]


def gold_calls_json(gold: dict[str, Any]) -> str:
    calls = [c for turn in gold.get("turns") or [] for c in turn] if "turns" in gold else gold["calls"]
    return json.dumps([{"name": c["name"], "parameters": c.get("arguments") or {}} for c in calls])


def items(request: dict[str, Any], tokenizer: Any) -> list[Item]:
    """Every rollout of a request of ``text`` rollouts, in request order."""
    out = []
    for group in request["groups"]:
        gold = group["gold"]
        calls, answer = gold_calls_json(gold), gold.get("answer") or ""
        for ro in group["rollouts"]:
            text = ro["text"]
            out.append(Item(text, calls, answer, tokenizer.encode(text, add_special_tokens=False)))
    return out


def call(fn: Callable[..., list[float]], it: Item, tokenizer: Any) -> list[float]:
    return fn(
        response=it.response,
        codes={},
        unsolved_set={},
        solve_rate=0.0,
        split="train",
        answer=it.answer,
        gt_tool_call=it.gold_calls,
        tokenizer=tokenizer,
        valid_response_ids=it.ids,
    )


def time_pass(fn: Callable[..., list[float]], its: list[Item], tokenizer: Any) -> tuple[float, float]:
    """(thread CPU seconds, wall seconds) of one pass over ``its``. The reference prints a line per call
    block that does not parse; that output goes to a buffer (as a trainer's log would take it)."""
    with contextlib.redirect_stdout(io.StringIO()):
        c0, w0 = time.thread_time(), time.perf_counter()
        for it in its:
            call(fn, it, tokenizer)
        return time.thread_time() - c0, time.perf_counter() - w0


def turn_values(scores: list[float], ids: list[int], tokenizer: Any) -> list[float]:
    """The reference's per-turn rewards back from its token-level list: each turn's reward sits on the
    last token of the turn's span (from the turn's start to its first ``<|im_end|>``)."""
    sep, end = (
        tokenizer.encode(SEP, add_special_tokens=False),
        tokenizer.encode(END, add_special_tokens=False),
    )
    starts = [0] + [i for i in range(len(ids) - len(sep) + 1) if ids[i : i + len(sep)] == sep]
    out = []
    for s in starts:
        e = next(
            (i + len(end) for i in range(s, len(ids) - len(end) + 1) if ids[i : i + len(end)] == end), None
        )
        out.append(scores[(e if e is not None else len(ids)) - 1])
    return out
