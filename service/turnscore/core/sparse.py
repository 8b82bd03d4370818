"""The five CSR kernels the batched Sinkhorn uses, with the signatures of scipy's compiled ones.

``scipy.sparse._sparsetools`` holds the C++ kernels behind ``scipy.sparse`` (``y += A @ x``,
CSR -> CSC, row/column scaling). Called directly they skip scipy's Python layers, which would dominate
on the small systems of Sinkhorn's slow tail (two products per iteration, up to 1000 iterations). The
module is private, so if a scipy release moves it, the same operations run through the public
``scipy.sparse`` API (same results, more overhead per call); ``COMPILED`` says which is in use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import sparse

Kernel = Callable[..., Any]


def _public_csr_matvec(nr: int, nc: int, p: Any, j: Any, x: Any, vec: Any, out: Any) -> None:
    out += sparse.csr_array((x, j, p), shape=(nr, nc)) @ vec


def _public_csc_matvec(nr: int, nc: int, p: Any, j: Any, x: Any, vec: Any, out: Any) -> None:
    out += sparse.csc_array((x, j, p), shape=(nr, nc)) @ vec


def _public_csr_tocsc(nr: int, nc: int, p: Any, j: Any, x: Any, tp: Any, tj: Any, tx: Any) -> None:
    t = sparse.csr_array((x, j, p), shape=(nr, nc)).tocsc()
    tp[:], tj[:], tx[:] = t.indptr, t.indices, t.data


def _public_csr_scale_rows(nr: int, nc: int, p: Any, j: Any, x: Any, s: Any) -> None:
    x *= np.repeat(s, np.diff(p))


def _public_csr_scale_columns(nr: int, nc: int, p: Any, j: Any, x: Any, s: Any) -> None:
    x *= s[j]


PUBLIC: dict[str, Kernel] = {
    "csr_matvec": _public_csr_matvec,
    "csc_matvec": _public_csc_matvec,
    "csr_tocsc": _public_csr_tocsc,
    "csr_scale_rows": _public_csr_scale_rows,
    "csr_scale_columns": _public_csr_scale_columns,
}


def _compiled() -> dict[str, Kernel] | None:
    try:
        from scipy.sparse import _sparsetools  # type: ignore[attr-defined]

        return {name: getattr(_sparsetools, name) for name in PUBLIC}
    except (ImportError, AttributeError):
        return None


_found = _compiled()
COMPILED = _found is not None
KERNELS: dict[str, Kernel] = _found if _found is not None else PUBLIC
csr_matvec = KERNELS["csr_matvec"]
csc_matvec = KERNELS["csc_matvec"]
csr_tocsc = KERNELS["csr_tocsc"]
csr_scale_rows = KERNELS["csr_scale_rows"]
csr_scale_columns = KERNELS["csr_scale_columns"]
