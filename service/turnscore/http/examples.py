"""Example bodies of /openapi.json (the request of docs/API.md; answers computed by the core itself)."""

from __future__ import annotations

from typing import Any

from turnscore.core import engine
from turnscore.core.errors import TurnScoreError

_ARGS = {"city": "Beijing", "date": "today"}
_CALL: dict[str, Any] = {"name": "get_weather", "arguments": _ARGS}
_TEXT = (
    "<think>ok</think>\n<tool_call>\n"
    '{"name": "get_weather", "arguments": {"city": "Beijing", "date": "today"}}'
    "\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n15\n</tool_response><|im_end|>\n"
    "<|im_start|>assistant\n<think>done</think>\n<answer>15 degrees, wear a jacket</answer>"
)

SCORE: dict[str, Any] = {
    "preset": "matchtir-km",
    "config": {"unmatched_penalty": 0.5, "gamma": 0.9},
    "step": 120,
    "explain": True,
    "groups": [
        {
            "id": "prompt-17",
            "gold": {"calls": [_CALL], "answer": "15 degrees, wear a jacket", "accepted_values": None},
            "rollouts": [
                {
                    "turns": [
                        {
                            "tool_calls": [
                                {
                                    "name": "get_weather",
                                    "arguments": {**_ARGS, "date": "tomorrow"},
                                }
                            ]
                        },
                        {"answer": "15 degrees"},
                    ]
                },
                {"text": _TEXT},
                {
                    "messages": [
                        {
                            "role": "assistant",
                            "content": "",
                            "tool_calls": [
                                {
                                    "type": "function",
                                    "function": {"name": "get_time", "arguments": '{"tz": "UTC"}'},
                                }
                            ],
                        },
                        {"role": "tool", "content": "12:00"},
                        {"role": "assistant", "content": "<answer>noon</answer>"},
                    ]
                },
            ],
        }
    ],
}

SCORE_RECORD: dict[str, Any] = {
    "preset": "matchtir-km",
    "groups": [
        {
            "id": "record",
            "gold": {
                "id": "bfcl:example",
                "source": "bfcl_v4/multi_turn_base",
                "gold": {"turns": [[_CALL]], "answer": None},
                "accepted_values": {"0.0.date": ["today", ""]},
            },
            "rollouts": [{"text": _TEXT}],
        }
    ],
}

ADVANTAGES: dict[str, Any] = {
    "preset": "matchtir-km",
    "step": 120,
    "groups": [
        {
            "id": "prompt-17",
            "rollouts": [
                {"turn_rewards": [0.75, 0.0], "outcome_reward": 0.5714},
                {"turn_rewards": [1.0, 0.0], "outcome_reward": 1.0},
            ],
        }
    ],
}

OPENRLHF: dict[str, Any] = {
    "query": ["<|im_start|>user\nweather in Beijing?<|im_end|>\n<|im_start|>assistant\n" + _TEXT],
    "prompts": ["<|im_start|>user\nweather in Beijing?<|im_end|>\n<|im_start|>assistant\n"],
    "labels": [{"calls": [_CALL], "answer": "15 degrees, wear a jacket"}],
}
OPENRLHF_ANSWER: dict[str, Any] = {
    "rewards": [2.0],
    "scores": [2.0],
    "extra_logs": {
        "turnscore_outcome_reward": [1.0],
        "turnscore_turn_reward_sum": [1.0],
        "turnscore_num_turns": [2.0],
        "turnscore_num_calls": [1.0],
        "turnscore_malformed_calls": [0.0],
        "turnscore_warnings": [0.0],
        "turnscore_errors": [0.0],
        # the request's summary, one key per field (API.md)
        "turnscore/rollouts": [1.0],
        "turnscore/turns_mean": [2.0],
        "turnscore/calls": [1.0],
        "turnscore/malformed_calls": [0.0],
        "turnscore/gold_calls": [1.0],
        "turnscore/matched_calls": [1.0],
        "turnscore/exact_calls": [1.0],
        "turnscore/redundant_calls": [0.0],
        "turnscore/covered_gold": [1.0],
        "turnscore/missed_gold": [0.0],
        "turnscore/call_precision": [1.0],
        "turnscore/call_recall": [1.0],
        "turnscore/call_f1": [1.0],
        "turnscore/redundant_ratio": [0.0],
        "turnscore/answer_rate": [1.0],
        "turnscore/outcome_mean": [1.0],
        "turnscore/return_mean": [2.0],
        "turnscore/return_std": [0.0],
        "turnscore/advantage_abs_mean": [0.0],
    },
}

_TYPO = {**SCORE, "prest": "toolrl"}


def _error(request: dict[str, Any]) -> dict[str, Any]:
    try:
        engine.score(request)
    except TurnScoreError as exc:
        return exc.to_dict()
    raise AssertionError("the example request was expected to fail")  # pragma: no cover


def request_examples() -> dict[str, dict[str, Any]]:
    """Per path: OpenAPI ``examples`` of its request body."""
    return {
        "/v1/score": {
            "api": {"summary": "The API.md request (three rollout forms)", "value": SCORE},
            "record": {"summary": "A whole gold-data record as gold", "value": SCORE_RECORD},
        },
        "/v1/advantages": {"rewards": {"summary": "Per-turn rewards the trainer holds", "value": ADVANTAGES}},
        "/v1/openrlhf": {"remote_rm": {"summary": "OpenRLHF --remote_rm_url", "value": OPENRLHF}},
    }


def response_examples() -> dict[str, dict[str, Any]]:
    """Per path: the 200 answer to its first request example, and a 422 (an unknown key)."""
    return {
        "/v1/score": {"200": engine.score(SCORE).body, "422": _error(_TYPO)},
        "/v1/advantages": {"200": engine.advantages(ADVANTAGES).body, "422": _error(_TYPO)},
        "/v1/openrlhf": {"200": OPENRLHF_ANSWER, "422": _error(_TYPO)},
    }
