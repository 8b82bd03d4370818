"""The compiled scoring after assignment (native/src/score*.rs) gives what the Python reference gives.

- answer normalization and the outcome metrics (core/text.py) on arbitrary Unicode strings (hypothesis);
- whole ``engine.score`` bodies under settings the presets do not all combine: several references per group
  (the best one chosen), ``gold_share`` turn rewards, a malformed-call penalty, ``em`` outcomes, outcomes
  placed on answer turns, trajectory schemes (numpy's pairwise sum over more than 8 calls), greedy,
  Hungarian and OT assignment, with and without ``explain``; a check that the compiled path really ran,
  and that an answer it cannot read hands the request back to Python.
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from turnscore import workload
from turnscore.core import engine, native, rewards, text

from bench.workloads import long_horizon_records
from tests.native.test_engine_parity import differences
from tests.support.gold import gold_records
from tests.support.native import answers, require_native

#: characters normalization treats specially, beside arbitrary Unicode: ASCII punctuation, every character
#: ``str.split()`` calls whitespace, and some whose ``lower()`` is special (İ, final sigma, Kelvin sign)
SPECIAL = string.punctuation + "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f"
SPECIAL += "\u205f\u3000\u200b\u180eİΣσςKÅßﬁ"
TEXTS = st.text(st.sampled_from(SPECIAL) | st.characters(), max_size=40) | st.text(
    st.sampled_from(SPECIAL + "abcAB 12"), max_size=40
)


@pytest.fixture(scope="module")
def ext() -> Any:
    """The extension module itself (its functions, whichever core the process selected)."""
    require_native()
    import turnscore_native

    return turnscore_native


@pytest.fixture
def restore_core() -> Iterator[None]:
    before = native.active()
    yield
    native.select(before)


@pytest.fixture
def compiled_runs(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """One entry per call of ``rewards._score_native``: whether the compiled scoring answered (not None).

    The per-stage compiled path is what these tests check (the fallback of the one-call hard assignment,
    which tests/native/test_fused_parity.py checks): the one-call path is turned off."""
    monkeypatch.setattr(rewards, "FUSED", False)
    return answers(monkeypatch, rewards, "_score_native")


def _python_tokens(s: str) -> list[str] | None:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return None  # lone surrogates: the extension hands these back to Python
    return text.answer_tokens(s)


@settings(max_examples=400, deadline=None)
@given(s=TEXTS)
def test_answer_tokens_match_python(ext: Any, s: str) -> None:
    assert ext.answer_tokens(s) == _python_tokens(s)


@settings(max_examples=400, deadline=None)
@given(
    pred=st.none() | TEXTS, gold=st.none() | TEXTS, shared=TEXTS, metric=st.sampled_from(["f1", "em", "none"])
)
def test_outcome_score_matches_python(
    ext: Any, pred: str | None, gold: str | None, shared: str, metric: str
) -> None:
    if pred is not None and gold is not None:  # answers with tokens in common, and equal ones
        pred, gold = pred + " " + shared, shared + "," + gold
    got = ext.outcome_score(pred, gold, metric)
    if _python_tokens(pred or "") is None or _python_tokens(gold or "") is None:
        assert got is None
        return
    tokens = frozenset(text.answer_tokens(gold)) if gold is not None else None
    assert got == text.outcome_score(pred, tokens, gold, metric)
    if gold is not None:
        same = ext.outcome_score(gold.upper(), gold, metric)
        assert same == text.outcome_score(gold.upper(), tokens, gold, metric)


_WORDS = [f"w{i}" for i in range(300)]
#: (pred, gold): repeated tokens, case, punctuation, empty and punctuation-only answers, non-ASCII ones,
#: long answers (hundreds of distinct tokens: the token tables grow and probe), token order (EM)
OUTCOME_CASES = [
    ("a a a b", "a b b"),
    ("The Cat, the cat; THE CAT!", "the cat"),
    ("cat the", "the cat"),
    ("", "x"),
    ("x", ""),
    ("!!! ...", "!!!"),
    ("  ", "a"),
    ("Straße İstanbul ΣΑΣ", "strasse i̇stanbul σας"),
    ("café\u00a0au lait", "Café au-lait"),
    ("ﬁne K\u212a", "fine kk"),
    (" ".join(_WORDS), " ".join(reversed(_WORDS[:150]))),
    (" ".join(_WORDS * 3), ",".join(_WORDS[100:] + ["zzz"] * 5)),
    ("481.50 camera maybe", "Camera 481 50"),
    ("481.50", "481,50"),
    # every ASCII character (controls that are not whitespace are token characters), tokens across the
    # 64-byte blocks the tokenizer reads, a token longer than a block
    ("".join(map(chr, range(128))) * 3, "\x00\x01\x02\x03\x04\x05\x06\x07\x08 0123456789 \x7f"),
    ("x" * 63 + " " + "Y" * 70 + "." + "z" * 150, "X" * 63 + " " + "y" * 70),
]


@pytest.mark.parametrize("metric", ["f1", "em"])
@pytest.mark.parametrize(("pred", "gold"), OUTCOME_CASES)
def test_outcome_score_cases(ext: Any, pred: str, gold: str, metric: str) -> None:
    for p, g in ((pred, gold), (gold, pred), (pred.upper(), gold), (pred, gold.upper())):
        tokens = frozenset(text.answer_tokens(g))
        assert ext.outcome_score(p, g, metric) == text.outcome_score(p, tokens, g, metric), (p, g)


OVERRIDES: list[dict[str, Any]] = [
    {},
    {"assignment": "greedy"},
    {"turn_reward": "gold_share", "malformed_penalty": 0.5},
    {"outcome": "em", "outcome_placement": "answer_turn"},
    {"reward_scheme": "trajectory+outcome", "unmatched_penalty": 0.0},
    {"reward_scheme": "trajectory", "assignment": "greedy", "malformed_penalty": "unmatched"},
    {"assignment": "ot", "reward_scheme": "trajectory+outcome", "turn_reward": "gold_share"},
    {"assignment": "ot", "row_normalize": True, "malformed_penalty": 0.25},
]


def _request(seed: int) -> dict[str, Any]:
    """Groups of several references (one long trace of 8-16 calls, two real ones) with rollouts perturbed
    from the first, in every form, the first's calls answering its answer in upper case (EM/F1 of 1), and
    the second's calls."""
    rng = random.Random(seed)
    real = gold_records(sample=True)
    longs = long_horizon_records(12, seed=seed, min_calls=8, max_calls=16, recs=real)
    groups = []
    for rec in longs:
        group = workload.make_group(rec, 6, rng)
        gold = group.pop("gold")
        others = [r["gold"] for r in rng.sample(real, 2)]
        group["references"] = [gold, *others]
        exact = [[dict(c) for c in turn] for turn in gold["turns"]]
        group["rollouts"].append(workload.render(exact, gold["answer"].upper(), "text", rng, 0.0))
        other = [[dict(c) for c in turn] for turn in others[0]["turns"]]  # best matched by reference 1
        group["rollouts"].append(workload.render(other, others[0]["answer"], "messages", rng, 0.0))
        groups.append(group)
    return {"explain": True, "groups": groups}


@pytest.mark.parametrize("explain", [True, False])
@pytest.mark.parametrize(
    "config", OVERRIDES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "km"
)
def test_score_bodies_match_python(
    ext: Any, config: dict[str, Any], explain: bool, compiled_runs: list[bool], restore_core: None
) -> None:
    """Without ``explain`` the compiled path builds no assignment arrays: the summaries' call counts come
    from the extension alone."""
    request = {**_request(18), "preset": "matchtir-km", "config": config, "explain": explain}
    native.select("python")
    ref = engine.score(request)
    assert not compiled_runs  # the Python core never calls the extension
    native.select("native")
    got = engine.score(request)
    assert compiled_runs == [True]
    found = list(differences(ref.body, got.body, "body"))
    assert not found, f"{len(found)} differences, first: {found[:5]}"
    assert got.stats.malformed_calls == ref.stats.malformed_calls > 0
    assert got.body["summary"]["matched_calls"] > 0
    assert all(("matches" in r) == explain for g in got.body["groups"] for r in g["rollouts"])
    references = [r["reference"] for g in got.body["groups"] for r in g["rollouts"]]
    assert len(set(references)) > 1  # the choice among references is exercised
    calls = [r["num_calls"] for g in got.body["groups"] for r in g["rollouts"]]
    assert max(calls) > 8  # numpy's pairwise sum differs from a plain one from 8 values up


def test_answers_python_must_decide_fall_back(
    ext: Any, compiled_runs: list[bool], restore_core: None
) -> None:
    """A predicted answer that is not UTF-8 (a lone surrogate: possible in a request built in Python) is
    handed back: the request is scored by the Python path, with the Python core's body."""
    request = _request(7)
    rollouts = request["groups"][0]["rollouts"]
    rollouts.append({"turns": [{"tool_calls": []}, {"answer": "caf\ud800 AU lait"}]})
    request = {**request, "preset": "matchtir-km"}
    native.select("python")
    ref = engine.score(request)
    native.select("native")
    got = engine.score(request)
    assert compiled_runs == [False]
    assert not list(differences(ref.body, got.body, "body"))
