"""Request builders of the suites (beyond ``turnscore.workload``, which perturbs gold traces into rollouts).

- hand-written requests: the weather group (tests/service), a CPU-heavy OT request, a 2**60 argument, random
  ``/v1/advantages`` requests (tests/grpc), the client protocol's small groups (tests/client);
- rollouts rendered from gold records: Qwen/Hermes response text, three rollouts of different quality
  (tests/client, client/tests_trainers);
- the verl groups: rollouts as OpenAI chat messages of 1 to 5 turns, ToolAgentLoop-like response masks
  (client/tests_verl).

Standard library only at import time (the trainer environments read it too; they have no service).
"""

from __future__ import annotations

import json
import os
import random
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# -- hand-written requests --------------------------------------------------------------------------


def weather_gold(city: str = "Beijing", answer: str = "15 degrees, wear a jacket") -> dict[str, Any]:
    return {
        "calls": [{"name": "get_weather", "arguments": {"city": city, "date": "today"}}],
        "answer": answer,
    }


def weather_rollouts(city: str = "Beijing") -> list[dict[str, Any]]:
    call = {"name": "get_weather", "arguments": {"city": city, "date": "tomorrow"}}
    return [
        {"turns": [{"tool_calls": [call]}, {"answer": "15 degrees"}]},
        {
            "text": '<think>x</think>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "'
            + city
            + '", "date": "today"}}\n</tool_call>\n<|im_start|>assistant\n'
            + "<answer>15 degrees, wear a jacket</answer>"
        },
        {
            "messages": [
                {"role": "assistant", "content": "", "tool_calls": [call]},
                {"role": "tool", "content": "15"},
            ]
        },
        {"text": "<tool_call>{not json}</tool_call>"},
    ]


def score_request(**groups_kw: Any) -> dict[str, Any]:
    return {"groups": [{"id": "p", "gold": weather_gold(), "rollouts": weather_rollouts(), **groups_kw}]}


def heavy_request(max_iter: int = 10_000, groups: int = 6, rollouts: int = 8) -> dict[str, Any]:
    """A small body of many Sinkhorn iterations (optimal transport, tiny threshold): with the defaults
    ~0.2 s of CPU on the Python core and ~0.05 s on the compiled one; 96 groups x 16 take ~7 s and ~2 s
    (compiled: 2.2 s on the Intel VM of 2026-12-01, up to twice that on slower machines)."""
    rng = random.Random(0)
    n = 16
    gold = [{"name": f"tool_{k % 4}", "arguments": {"a": k, "b": str(k % 3)}} for k in range(n)]

    def rollout() -> dict[str, Any]:
        calls = [
            {
                "name": f"tool_{rng.randrange(4)}",
                "arguments": {"a": rng.randrange(16), "b": str(rng.randrange(3))},
            }
            for _ in range(n)
        ]
        return {"turns": [{"tool_calls": calls[k : k + 4]} for k in range(0, n, 4)]}

    return {
        "preset": "matchtir-ot",
        "config": {"ot_max_iter": max_iter, "ot_stop_thr": 1e-300, "reg": 0.01},
        "groups": [
            {"gold": {"calls": gold}, "rollouts": [rollout() for _ in range(rollouts)]} for _ in range(groups)
        ],
    }


def big_int_group() -> dict[str, Any]:
    """A group whose gold argument is 2**60: a double-based encoding could not tell 2**60 from 2**60 + 1."""
    gold = {"calls": [{"name": "transfer", "arguments": {"amount": 2**60, "to": "acct-1"}}], "answer": "done"}
    exact = {"turns": [{"tool_calls": gold["calls"]}, {"answer": "done"}]}
    off_by_one = {
        "turns": [
            {"tool_calls": [{"name": "transfer", "arguments": {"amount": 2**60 + 1, "to": "acct-1"}}]},
            {"answer": "done"},
        ]
    }
    as_float = {
        "turns": [
            {"tool_calls": [{"name": "transfer", "arguments": {"amount": 1.0 * 2**60, "to": "acct-1"}}]},
            {"answer": "done"},
        ]
    }
    return {"id": 17, "gold": gold, "rollouts": [exact, off_by_one, as_float]}


def random_advantages_request(seed: int, preset: str | None = None) -> dict[str, Any]:
    rng = random.Random(seed)
    groups = []
    for g in range(3):
        rollouts = []
        for _ in range(4):
            n = rng.randint(0, 4)
            rollouts.append(
                {
                    "turn_rewards": [round(rng.uniform(-1, 1), 6) for _ in range(n)],
                    "outcome_reward": rng.choice([0, 1, 0.5, rng.random()]),
                    "trajectory_reward": rng.random(),
                }
            )
        groups.append({"id": f"g{g}" if g else 3.5, "rollouts": rollouts})
    req: dict[str, Any] = {"groups": groups, "step": seed}
    if preset is not None:
        req["preset"] = preset
    return req


def make_group(i: int, turns: int = 2, gold_name: str = "get_weather") -> dict[str, Any]:
    """A small group for the client's protocol tests: a one-call gold, a matching and an answer rollout."""
    return {
        "id": f"g{i}",
        "gold": {"calls": [{"name": gold_name, "arguments": {"city": f"c{i}"}}], "answer": None},
        "rollouts": [
            {"turns": [{"tool_calls": [{"name": gold_name, "arguments": {"city": f"c{i}"}}]}] * turns},
            {"turns": [{"answer": "x"}]},
        ],
    }


# -- from gold records ------------------------------------------------------------------------------


def real_requests(records: list[dict[str, Any]], n: int, seed: int = 0, **kw: Any) -> list[dict[str, Any]]:
    """``n`` requests of 4 groups of 4 rollouts built by ``turnscore.workload`` from ``records``."""
    from turnscore.workload import make_request  # the service's package: not in the trainer environments

    return [make_request(records, groups=4, group_size=4, seed=seed + i, **kw) for i in range(n)]


def api_gold(record: dict[str, Any]) -> dict[str, Any]:
    """The API gold trace of a record, flattened to ``calls``."""
    calls = [c for turn in record["gold"]["turns"] for c in turn]
    return {"calls": calls, "answer": record["gold"].get("answer"), "accepted_values": None}


def qwen_text(turns: list[list[dict[str, Any]]], answer: str | None = None) -> str:
    """A decoded Qwen/Hermes multi-turn response: one assistant turn per gold turn, tool outputs between."""
    pieces = []
    for calls in turns:
        body = "".join(f"<tool_call>\n{json.dumps(c)}\n</tool_call>" for c in calls)
        pieces.append(
            f"<think>ok</think>\n{body}<|im_end|>\n<|im_start|>user\n<tool_response>\n{{}}\n</tool_response>"
        )
    if answer is not None:
        pieces.append(f"<think>done</think>\n<answer>{answer}</answer><|im_end|>")
    return "<|im_end|>\n<|im_start|>assistant\n".join(pieces)


def qwen_response(turns: list[list[dict[str, Any]]]) -> str:
    """:func:`qwen_text` of the tool-call turns, closed by ``<|im_end|>`` (a complete generation)."""
    return qwen_text(turns) + "<|im_end|>"


def chat_prompt(question: str) -> str:
    system = "<|im_start|>system\nYou call tools.<|im_end|>\n"
    return f"{system}<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"


def rollouts_for(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Three rollouts of different quality for a gold record, in the three input forms."""
    turns = [t for t in record["gold"]["turns"] if t]
    answer = record["gold"].get("answer")
    perfect = {"turns": [{"tool_calls": t} for t in turns] + ([{"answer": answer}] if answer else [])}
    wrong_args = {
        "text": qwen_text(
            [[{"name": c["name"], "arguments": {"zz_unknown": 1}} for c in t] for t in turns[:1]]
        )
    }
    messages = {
        "messages": [
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "nope", "arguments": "{}"}}],
            },
            {"role": "tool", "content": "error"},
        ]
    }
    return [perfect, wrong_args, messages]


# -- verl: chat-message rollouts --------------------------------------------------------------------

WEATHER = {"name": "get_weather", "arguments": {"city": "Beijing", "date": "today"}}
HOTEL = {"name": "search_hotels", "arguments": {"city": "Beijing", "stars": 5}}
FLIGHT = {"name": "book_flight", "arguments": {"from": "SHA", "to": "PEK", "day": "friday"}}


def _call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "arguments": arguments}}


def _turn(*calls: dict[str, Any], content: str = "") -> dict[str, Any]:
    return {"role": "assistant", "content": content, "tool_calls": list(calls)}


def _answer(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": f"<think>done</think><answer>{text}</answer>"}


def verl_groups() -> list[dict[str, Any]]:
    """Three groups: 4 rollouts (3, 1, 2, 4 turns), 3 rollouts (2, 2, 5 turns), 1 rollout (singleton);
    each rollout a list of chat messages."""
    g1 = {"calls": [WEATHER, HOTEL], "answer": "15 degrees, hotel booked"}
    g2 = {"calls": [FLIGHT], "answer": "flight booked for friday"}
    return [
        {
            "id": "prompt-a",
            "gold": g1,
            "rollouts": [
                [
                    _turn(_call("get_weather", city="Beijing", date="tomorrow")),
                    _turn(_call("search_hotels", city="Beijing", stars=5)),
                    _answer("15 degrees, hotel booked"),
                ],
                [_answer("no idea")],
                [
                    _turn(
                        _call("get_weather", city="Beijing", date="today"),
                        _call("search_hotels", city="Paris"),
                    ),
                    _answer("15"),
                ],
                [
                    _turn(_call("lookup", q="x")),
                    _turn(_call("get_weather", city="beijing", date="today")),
                    _turn(),
                    _answer("15 degrees"),
                ],
            ],
        },
        {
            "id": "prompt-b",
            "gold": g2,
            "rollouts": [
                [
                    _turn(_call("book_flight", **{"from": "SHA", "to": "PEK", "day": "friday"})),
                    _answer("flight booked"),
                ],
                [_turn(_call("book_flight", **{"from": "SHA", "to": "PEK"})), _answer("booked for friday")],
                [
                    _turn(_call("search", q="flights")),
                    _turn(_call("book_flight", to="PEK")),
                    _turn(_call("book_flight", **{"from": "SHA", "to": "PEK", "day": "friday"})),
                    _turn(),
                    _answer("flight booked for friday"),
                ],
            ],
        },
        {
            "id": "prompt-c",
            "gold": g1,
            "rollouts": [[_turn(_call("get_weather", city="Beijing")), _answer("15")]],
        },
    ]


def verl_score_groups(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``/v1/score`` groups of :func:`verl_groups` (rollouts in the ``messages`` form)."""
    return [
        {"id": g["id"], "gold": g["gold"], "rollouts": [{"messages": r} for r in g["rollouts"]]}
        for g in groups
    ]


def response_mask(rng: np.random.Generator, turns: int, *, min_run: int = 2, max_run: int = 7) -> list[int]:
    """A ToolAgentLoop-like mask: assistant runs (1s) separated by tool observations (0s)."""
    out: list[int] = []
    for t in range(turns):
        out += [1] * int(rng.integers(min_run, max_run + 1))
        if t < turns - 1:
            out += [0] * int(rng.integers(1, 6))
    return out


def seed() -> int:
    """The random seed of the verl tests (``$TURNSCORE_TEST_SEED``, default 1234)."""
    return int(os.environ.get("TURNSCORE_TEST_SEED", "1234"))
