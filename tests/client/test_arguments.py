"""Wrong argument types raise the client's own typed error (``ClientUsageError``) saying what was expected,
before anything is sent; and the typed results carry every response field."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
import pytest
from turnscore_client import (
    AsyncTurnScoreClient,
    ClientUsageError,
    ErrorKind,
    Match,
    Operation,
    ToolRLScore,
    Transport,
    TurnScoreClient,
    TurnScoreError,
)
from turnscore_client.transports import AsyncLocalTransport, LocalTransport

from tests.support.gold import gold_records
from tests.support.workloads import make_group


class RecordingTransport(LocalTransport):
    """The in-process transport, noting every operation sent."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Operation] = []

    def call(self, operation: Operation, request: Any, timeout: float | None) -> Any:
        self.sent.append(operation)
        return super().call(operation, request, timeout)


@pytest.fixture
def client() -> Any:
    transport = RecordingTransport()
    with TurnScoreClient(transport=transport) as c:
        yield c


def usage_error(fn: Any, *args: Any, **kwargs: Any) -> ClientUsageError:
    with pytest.raises(ClientUsageError) as info:
        fn(*args, **kwargs)
    err = info.value
    assert isinstance(err, TurnScoreError) and isinstance(err, TypeError) and isinstance(err, ValueError)
    assert err.code == "invalid_argument" and err.kind is ErrorKind.INVALID and err.status is None
    assert "must be" in err.message
    return err


@pytest.mark.parametrize(
    ("groups", "argument", "says"),
    [
        (make_group(0), "groups", "wrap it in a list"),
        (json.dumps([make_group(0)]), "groups", "decode the JSON"),
        (3, "groups", "got int"),
        ([make_group(0), 7], "groups[1]", "got int"),
        ([make_group(0), [make_group(1)]], "groups[1]", "got list"),
    ],
)
def test_groups_that_are_not_a_list_of_dicts(client: Any, groups: Any, argument: str, says: str) -> None:
    for method in (client.score, client.advantages):
        err = usage_error(method, groups)
        assert err.argument == argument and says in err.message, err.message
    assert client.transport.sent == []  # nothing was sent


def test_config_as_a_json_object_string_is_parsed(client: Any) -> None:
    groups = [make_group(i) for i in range(2)]
    as_dict = client.score(groups, config={"gamma": 0.5, "unmatched_penalty": 0.25})
    as_text = client.score(groups, config='{"gamma": 0.5, "unmatched_penalty": 0.25}')
    assert as_text == as_dict and as_text.config["gamma"] == 0.5


@pytest.mark.parametrize(
    ("config", "says"),
    [("gamma=0.5", "not JSON"), ("[1, 2]", "holds a JSON list"), ('"x"', "holds a JSON str"), (3, "got int")],
)
def test_bad_config(client: Any, config: Any, says: str) -> None:
    err = usage_error(client.score, [make_group(0)], config=config)
    assert err.argument == "config" and says in err.message and "JSON object" in err.message
    assert client.transport.sent == []


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"step": 1.5}, "step"),
        ({"step": 2.0}, "step"),
        ({"step": "3"}, "step"),
        ({"step": True}, "step"),
        ({"step": -1}, "step"),
        ({"preset": 3}, "preset"),
        ({"explain": "yes"}, "explain"),
    ],
)
def test_bad_scalar_arguments(client: Any, kwargs: dict[str, Any], argument: str) -> None:
    err = usage_error(client.score, [make_group(0)], **kwargs)
    assert err.argument == argument and argument in str(err)
    assert client.transport.sent == []


def test_numpy_scalars_are_fine(client: Any) -> None:
    res = client.score([make_group(0)], step=np.int64(3), explain=np.bool_(True))
    assert res.effective["step"] == 3 and res.rollouts[0].matches is not None


def test_values_json_cannot_carry(client: Any) -> None:
    group = make_group(0)
    group["rollouts"][0]["turns"][0]["tool_calls"][0]["arguments"]["x"] = float("nan")
    err = usage_error(client.score, [group])
    assert "JSON" in err.message and err.argument == "request"
    group["rollouts"][0]["turns"][0]["tool_calls"][0]["arguments"]["x"] = object()
    usage_error(client.score, [group])


def test_openrlhf_lists(client: Any) -> None:
    err = usage_error(client.openrlhf, "one query", ["p"], [{}])
    assert err.argument == "queries"
    err = usage_error(client.openrlhf, ["q"], ["p", 3], [{}])
    assert err.argument == "prompts[1]"


def test_async_client_raises_the_same() -> None:
    async def main() -> None:
        async with AsyncTurnScoreClient(transport=AsyncLocalTransport()) as c:
            with pytest.raises(ClientUsageError, match="wrap it in a list"):
                await c.score(make_group(0))
            with pytest.raises(ClientUsageError, match="config must be"):
                await c.advantages([], config="[]")
            res = await c.score([make_group(0)], config='{"gamma": 0.5}')
            assert res.config["gamma"] == 0.5

    asyncio.run(main())


def test_a_users_transport_never_sees_bad_arguments() -> None:
    class Refusing(Transport):
        endpoints = ("refusing://",)

        def call(self, operation: Operation, request: Any, timeout: float | None) -> Any:
            raise AssertionError("sent")

    with TurnScoreClient(transport=Refusing()) as c:
        usage_error(c.score, make_group(0))


# -- typed results carry every field -----------------------------------------------------------------------


def test_results_carry_match_names_effective_toolrl_and_ids(client: Any) -> None:
    rec = gold_records(sample=True)[0]
    call = rec["gold"]["turns"][0][0]
    wrong = {"name": call["name"] + "_x", "arguments": call["arguments"]}
    groups = [
        {"id": 7, "gold": {"calls": [call]}, "rollouts": [{"turns": [{"tool_calls": [call, wrong]}]}]},
        {"id": "s:1", "gold": {"calls": [call]}, "rollouts": [{"turns": [{"answer": "no"}]}]},
    ]
    res = client.score(groups, explain=True, step=5)
    assert [g.id for g in res.groups] == [7, "s:1"]  # as sent, not stringified
    assert res.effective["step"] == 5
    assert res.effective["unmatched_penalty"] == res.config["unmatched_penalty"]
    matches = res.groups[0].rollouts[0].matches
    assert matches and all(isinstance(m, Match) for m in matches)
    assert [(m.name, m.gold) for m in matches] == [(call["name"], 0), (wrong["name"], None)]
    assert [m.reward for m in matches] == [m["reward"] for m in res.groups[0].rollouts[0].raw["matches"]]

    toolrl = client.score(groups, preset="toolrl", step=5)
    assert set(toolrl.effective["toolrl_bounds"]) >= {"format_max", "correctness_max"}
    for rollout in toolrl.rollouts:
        assert isinstance(rollout.toolrl, ToolRLScore)
        assert (rollout.toolrl.format, rollout.toolrl.correctness) == (
            rollout.raw["toolrl"]["format"],
            rollout.raw["toolrl"]["correctness"],
        )
    assert toolrl.rollouts[0].toolrl.correctness > toolrl.rollouts[1].toolrl.correctness


def test_adapters_take_config_like_the_client() -> None:
    from turnscore_client._adapters import env_config

    assert env_config('{"gamma": 0.5}') == {"gamma": 0.5} == env_config({"gamma": 0.5})
    with pytest.raises(ClientUsageError, match="config must be"):
        env_config("[1]")
