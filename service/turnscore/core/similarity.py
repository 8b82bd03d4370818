"""Similarity S between predicted and gold calls (SCORING.md §2).

``S = S_tn * (S_tn + S_pn + S_pc) / (2 + |N_g|)``: S is 0 unless names match, so only pairs that share a
name are visited; argument values are compared through hashable keys (see :mod:`values`).

When the compiled core is active (:mod:`native`), the same tables and S come from the extension
(:func:`native_pair`); a trace or rollout it cannot key (see native/src/matching) stays on this path.
"""

from __future__ import annotations

from collections.abc import Hashable
from types import ModuleType
from typing import Any

import numpy as np

from . import native
from .calls import Call
from .gold import CompiledGold
from .values import KEY_FUNCS

Entry = tuple[int, int, float]


class PredTables:
    """Predicted calls of one rollout with their lookup keys, computed once (when first needed: the
    compiled core needs none of them) and reused per reference."""

    __slots__ = ("_arg_keys", "_names", "_native", "_values", "calls", "case_sensitive")

    def __init__(self, calls: list[Call], case_sensitive: bool) -> None:
        self.calls = calls
        self.case_sensitive = case_sensitive
        self._names: list[str] | None = None
        self._arg_keys: list[frozenset[str]] | None = None
        self._values: dict[str, list[dict[str, Hashable]]] = {}
        self._native: dict[str, Any] = {}

    @property
    def names(self) -> list[str]:
        if self._names is None:
            calls = self.calls
            self._names = [c.name for c in calls] if self.case_sensitive else [c.name.lower() for c in calls]
        return self._names

    @property
    def arg_keys(self) -> list[frozenset[str]]:
        if self._arg_keys is None:
            self._arg_keys = [frozenset(c.arguments) for c in self.calls]
        return self._arg_keys

    def values(self, mode: str) -> list[dict[str, Hashable]]:
        got = self._values.get(mode)
        if got is None:
            key = KEY_FUNCS[mode]
            got = [{k: key(v) for k, v in c.arguments.items()} for c in self.calls]
            self._values[mode] = got
        return got

    def native_table(self, ext: ModuleType, mode: str) -> Any:
        """The extension's table of these calls (``None``: a value needs the Python path)."""
        got = self._native.get(mode, False)
        if got is False:
            got = self._native[mode] = ext.pred_table(self.calls, mode, self.case_sensitive)
        return got


def native_pair(
    ext: ModuleType, pred: PredTables, gold: CompiledGold, mode: str, case_sensitive: bool
) -> tuple[Any, Any] | None:
    """The extension's (predicted, gold) tables, or ``None`` when either needs the Python path."""
    p = pred.native_table(ext, mode)
    if p is None:
        return None
    g = gold.native_table(ext, mode, case_sensitive)
    return None if g is None else (p, g)


def pair_similarity(
    p_keys: frozenset[str], p_vals: dict[str, Hashable], g_keys: frozenset[str], g_sets: dict[str, Any]
) -> float:
    """S for a pair whose names match."""
    union = len(p_keys | g_keys)
    common = p_keys & g_keys
    s_pn = len(common) / union if union else 1.0
    s_pc = 0
    for k in common:
        if p_vals[k] in g_sets[k]:
            s_pc += 1
    return (1.0 + s_pn + s_pc) / (2 + len(g_keys))


def entries(pred: PredTables, gold: CompiledGold, mode: str, case_sensitive: bool) -> list[Entry]:
    """Every (i, j, S_ij) with S_ij > 0, in (i, j) order."""
    index = gold.name_index(case_sensitive)
    out: list[Entry] = []
    if not index:
        return out
    g_keys = gold.arg_keys
    g_sets = gold.value_sets(mode)
    p_vals: list[dict[str, Hashable]] | None = None
    for i, name in enumerate(pred.names):
        js = index.get(name)
        if js is None:
            continue
        if p_vals is None:
            p_vals = pred.values(mode)
        pk, pv = pred.arg_keys[i], p_vals[i]
        for j in js:
            out.append((i, j, pair_similarity(pk, pv, g_keys[j], g_sets[j])))
    return out


def matrix(pred: PredTables, gold: CompiledGold, mode: str, case_sensitive: bool) -> np.ndarray:
    """The dense m x n S matrix."""
    ext = native.module()
    if ext is not None:
        pair = native_pair(ext, pred, gold, mode, case_sensitive)
        if pair is not None:
            s = np.frombuffer(ext.matrix(*pair), dtype=np.float64)  # a bytearray: writable
            return s.reshape(len(pred.calls), len(gold.calls))
    s = np.zeros((len(pred.calls), len(gold.calls)))
    for i, j, v in entries(pred, gold, mode, case_sensitive):
        s[i, j] = v
    return s
