"""Similarity S (SCORING.md §2) and the value_match modes."""

from __future__ import annotations

import pytest
from turnscore.core.calls import Call
from turnscore.core.gold import compile_gold
from turnscore.core.similarity import PredTables, entries, matrix
from turnscore.core.values import values_equal


def sim(pred: dict, gold: dict, mode: str = "exact", case_sensitive: bool = False, accepted=None) -> float:
    g = compile_gold({"calls": [gold], "accepted_values": accepted})
    p = PredTables([Call(pred["name"], pred.get("arguments", {}))], case_sensitive)
    return float(matrix(p, g, mode, case_sensitive)[0, 0])


def test_worked_example_is_three_quarters():
    gold = {"name": "get_weather", "arguments": {"city": "Beijing", "date": "today"}}
    pred = {"name": "get_weather", "arguments": {"city": "Beijing", "date": "tomorrow"}}
    assert sim(pred, gold) == pytest.approx(0.75)
    assert sim(pred, gold) == (1 + 1 + 1) / (1 + 1 + 2)


def test_name_mismatch_is_zero_and_names_are_case_insensitive_by_default():
    gold = {"name": "get_weather", "arguments": {"city": "Beijing"}}
    assert sim({"name": "get_time", "arguments": {"city": "Beijing"}}, gold) == 0.0
    assert sim({"name": "Get_Weather", "arguments": {"city": "Beijing"}}, gold) == 1.0
    assert sim({"name": "Get_Weather", "arguments": {"city": "Beijing"}}, gold, case_sensitive=True) == 0.0


def test_jaccard_of_argument_names_and_empty_arguments():
    gold = {"name": "f", "arguments": {"a": 1, "b": 2}}
    # N_p = {a, c}: Jaccard 1/3, one correct value -> (1 + 1/3 + 1) / 4
    assert sim({"name": "f", "arguments": {"a": 1, "c": 2}}, gold) == pytest.approx((1 + 1 / 3 + 1) / 4)
    # both empty: S_pn = 1, so S = (1 + 1 + 0) / 2 = 1
    assert sim({"name": "f", "arguments": {}}, {"name": "f", "arguments": {}}) == 1.0
    # predicted empty, gold not: S = 1 / 4
    assert sim({"name": "f", "arguments": {}}, gold) == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("a", "b", "exact", "normalized", "python"),
    [
        (1, 1.0, True, True, True),
        (True, 1, False, False, True),
        (False, 0, False, False, True),
        ("1", 1, False, True, False),
        (" New  York ", "new york", False, True, False),
        ("Straße", "STRASSE", False, True, False),
        ([1, {"x": "a"}], [1.0, {"x": "a"}], True, True, True),
        ([1, 2], [2, 1], False, False, False),
        ({"a": [1, 2]}, {"a": [1, 2]}, True, True, True),
        (None, "null", False, False, False),
        ("1e3", 1000, False, True, False),
        ("1_000", 1000, False, False, False),
        ("abc", "abc", True, True, True),
    ],
)
def test_value_match_modes(a, b, exact, normalized, python):
    assert values_equal(a, b, "exact") is exact
    assert values_equal(a, b, "normalized") is normalized
    assert values_equal(a, b, "python") is python
    assert values_equal(a, b, "python") is (a == b)


def test_accepted_values_count_as_correct():
    gold = {"name": "f", "arguments": {"unit": "celsius", "city": "Paris"}}
    pred = {"name": "f", "arguments": {"unit": "C", "city": "Paris"}}
    assert sim(pred, gold) == pytest.approx(3 / 4)
    assert sim(pred, gold, accepted=[{"unit": ["celsius", "C"]}]) == 1.0


def test_accepted_values_in_bfcl_dotted_form():
    g = compile_gold(
        {
            "turns": [[{"name": "f", "arguments": {"x": 1}}], [{"name": "g", "arguments": {"y": "a"}}]],
            "accepted_values": {"1.0.y": ["a", "b"]},
        }
    )
    assert g.accepted == (None, {"y": ["a", "b"]})
    p = PredTables([Call("g", {"y": "b"})], False)
    assert entries(p, g, "exact", False) == [(0, 1, 1.0)]


def test_entries_only_visit_name_matches():
    g = compile_gold({"calls": [{"name": "a", "arguments": {}}, {"name": "b", "arguments": {}}]})
    p = PredTables([Call("b", {}), Call("c", {}), Call("a", {"z": 1})], False)
    assert entries(p, g, "exact", False) == [(0, 1, 1.0), (2, 0, 0.5)]
