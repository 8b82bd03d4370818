"""The nesting depth of a decoded JSON value walked by the extension (native/src/depth.rs ``value_depth``,
runtime/decode.py ``document_depth``) against the Python walk (``decode.value_depth``): the real gold
traces in all three rollout forms, whole requests and every container in them, the issue's request,
hypothesis-built values, deep nesting, leaves that only look like containers (subclasses, tuples); the
Python core never calls it, and ``loads_within_depth`` raises the same depth errors on both cores."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from turnscore import workload
from turnscore.core import native
from turnscore.core.errors import LimitExceeded
from turnscore.runtime import decode
from turnscore.runtime.decode import document_depth, loads_within_depth, value_depth

from tests.native.test_engine_parity import build
from tests.native.test_parse_parity import core
from tests.support.gold import gold_records
from tests.support.native import answers, require_native


def _ext() -> Any:
    require_native()
    with core("native"):
        m = native.module()
    assert m is not None
    return m


def _parts(value: Any) -> Iterator[Any]:
    """``value`` and every container inside it."""
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from _parts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _parts(v)


def _same(value: Any) -> int:
    want = value_depth(value)
    assert _ext().value_depth(value) == want
    return want


@pytest.mark.parametrize("form", workload.FORMS)
def test_every_gold_trace_in_every_form(form: str) -> None:
    request = orjson.loads(orjson.dumps(build(gold_records(), form)))
    depths = {_same(part) for part in _parts(request)}
    assert len(depths) > 4  # containers of many depths were compared, not only the whole request


def test_issue_request() -> None:
    from bench.native import issue_request

    assert _same(orjson.loads(orjson.dumps(issue_request(64)))) >= 5


tricky_text = st.text(alphabet=st.sampled_from(list('[]{}"\\ab\n\u00e9\U0001f600/')), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | tricky_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(tricky_text, children, max_size=4),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_hypothesis_values(value: Any) -> None:
    _same(value)
    _same(orjson.loads(orjson.dumps(value)))


@pytest.mark.parametrize("n", [0, 1, 2, 63, 64, 65, 1000, 100_000])
def test_deep_nesting(n: int) -> None:
    deep_list: Any = 1
    deep_dict: Any = "x"
    for _ in range(n):
        deep_list, deep_dict = [0, deep_list, {}], {"a": deep_dict, "b": []}
    assert _same(deep_list) == _same(deep_dict) == n + (n > 0)  # {} and [] one level below the deepest


class Sub(dict):  # type: ignore[type-arg]
    pass


def test_leaves_that_look_like_containers() -> None:
    for value in (
        "[[1]]",
        b"[]",
        (1, [2]),
        Sub(a=[1]),
        {"a": (1, [2]), "b": Sub(c=[[]])},
        [set(), frozenset()],
    ):
        _same(value)
    assert _same({"a": Sub(c=[[]]), "b": [(1, [2])]}) == 2


def test_the_python_core_never_calls_it(monkeypatch: pytest.MonkeyPatch) -> None:
    m = _ext()
    with core("native"):
        ran = answers(monkeypatch, m, "value_depth")
        assert document_depth([[1]]) == 2 and document_depth("x") == 0
        assert ran == [True, True]
    with core("python"):
        assert document_depth([[1], {"a": {}}]) == 3
        assert ran == [True, True]


@pytest.mark.parametrize("name", ["python", "native"])
def test_depth_errors_are_the_same_on_both_cores(name: str) -> None:
    _ext()
    with core(name):
        assert loads_within_depth(b"[" * 64 + b"]" * 64, 64) is not None
        with pytest.raises(LimitExceeded) as exc:
            loads_within_depth(bytearray(b"[" * 65 + b"]" * 65), 64)
        assert exc.value.details["actual"] == 65 and exc.value.details["path"] == "body"
        with pytest.raises(LimitExceeded) as exc:
            loads_within_depth(b'{"x": [[1]]}', 6, "groups[0].gold", 4)
        assert exc.value.details["actual"] == 7 and exc.value.details["path"] == "groups[0].gold"
        assert loads_within_depth(b'["' + b"[" * 500 + b'"]', 4) == ["[" * 500]
        assert decode.decode_json(b'{"a": "\\"[[[[["}', 1) == {"a": '"[[[[['}
        assert decode.decode_json(orjson.dumps({"a": [[[{}]]]}), 5)["a"] == [[[{}]]]
