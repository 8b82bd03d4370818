"""Shared data for the verl tests: gold traces, rollouts of different turn counts, response masks."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

WEATHER = {"name": "get_weather", "arguments": {"city": "Beijing", "date": "today"}}
HOTEL = {"name": "search_hotels", "arguments": {"city": "Beijing", "stars": 5}}
FLIGHT = {"name": "book_flight", "arguments": {"from": "SHA", "to": "PEK", "day": "friday"}}


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "arguments": arguments}}


def turn(*calls: dict[str, Any], content: str = "") -> dict[str, Any]:
    return {"role": "assistant", "content": content, "tool_calls": list(calls)}


def answer(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": f"<think>done</think><answer>{text}</answer>"}


def groups() -> list[dict[str, Any]]:
    """Three groups: 4 rollouts (3, 1, 2, 4 turns), 3 rollouts (2, 2, 5 turns), 1 rollout (singleton)."""
    g1 = {"calls": [WEATHER, HOTEL], "answer": "15 degrees, hotel booked"}
    g2 = {"calls": [FLIGHT], "answer": "flight booked for friday"}
    return [
        {
            "id": "prompt-a",
            "gold": g1,
            "rollouts": [
                [
                    turn(call("get_weather", city="Beijing", date="tomorrow")),
                    turn(call("search_hotels", city="Beijing", stars=5)),
                    answer("15 degrees, hotel booked"),
                ],
                [answer("no idea")],
                [
                    turn(
                        call("get_weather", city="Beijing", date="today"), call("search_hotels", city="Paris")
                    ),
                    answer("15"),
                ],
                [
                    turn(call("lookup", q="x")),
                    turn(call("get_weather", city="beijing", date="today")),
                    turn(),
                    answer("15 degrees"),
                ],
            ],
        },
        {
            "id": "prompt-b",
            "gold": g2,
            "rollouts": [
                [
                    turn(call("book_flight", **{"from": "SHA", "to": "PEK", "day": "friday"})),
                    answer("flight booked"),
                ],
                [turn(call("book_flight", **{"from": "SHA", "to": "PEK"})), answer("booked for friday")],
                [
                    turn(call("search", q="flights")),
                    turn(call("book_flight", to="PEK")),
                    turn(call("book_flight", **{"from": "SHA", "to": "PEK", "day": "friday"})),
                    turn(),
                    answer("flight booked for friday"),
                ],
            ],
        },
        {
            "id": "prompt-c",
            "gold": g1,
            "rollouts": [[turn(call("get_weather", city="Beijing")), answer("15")]],
        },
    ]


def score_request(gs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"id": g["id"], "gold": g["gold"], "rollouts": [{"messages": r} for r in g["rollouts"]]} for g in gs
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
    return int(os.environ.get("TURNSCORE_TEST_SEED", "1234"))
