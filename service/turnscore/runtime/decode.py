"""JSON documents within the nesting-depth limit (``max_json_depth``), for every transport.

The depth is checked right after decoding, before anything else sees the document (orjson itself stops at
1024 levels; text that does not decode is measured on its bytes, so a too-deep document is always a
``LimitExceeded``, never a parse error), on the decoded containers (:func:`value_depth`; compiled when the
native core is active). The caller has already bounded the size of the text.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from turnscore.core import native
from turnscore.core.errors import ErrorKind, InvalidRequest, LimitExceeded

from .errors import ServiceError

#: documents above this size (bytes) are depth-checked and decoded in the scoring pool, off the event loop
OFFLOOP_DECODE_BYTES = 256 * 1024

_DEPTH_DELTA = np.zeros(256, dtype=np.int8)
_DEPTH_DELTA[[ord("["), ord("{")]] = 1
_DEPTH_DELTA[[ord("]"), ord("}")]] = -1
_KEEP = b'[]{}"'
_DROP = bytes(c for c in range(256) if c not in _KEEP)


def json_depth(data: bytes | bytearray) -> int:
    """Maximum nesting depth of arrays/objects in JSON text (brackets inside strings ignored).

    Exact for valid JSON; for invalid JSON some number. Used on text ``orjson`` rejected (is it too deep,
    or malformed?).
    """
    if (
        b"\\" in data
    ):  # remove escaped backslashes, then escaped quotes: every remaining '"' delimits a string
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    kept = np.frombuffer(data.translate(None, _DROP), dtype=np.uint8)
    if kept.size == 0:
        return 0
    inside = (np.cumsum(kept == ord('"'), dtype=np.uint8) & 1).astype(bool)  # uint8 wraps; parity survives
    delta = _DEPTH_DELTA[kept]
    delta[inside] = 0
    return int(np.cumsum(delta, dtype=np.int32).max(initial=0))


def value_depth(value: Any) -> int:
    """Nesting depth of a decoded JSON value (an object or array is 1 deeper than its members, a scalar 0).

    Level by level (breadth first, no recursion): a value from ``orjson.loads`` (which stops at 1024 levels)
    never exhausts the stack. It visits containers only, so text-heavy documents cost what their structure
    costs, not their bytes.
    """
    d, lst = dict, list
    if value.__class__ is not d and value.__class__ is not lst:
        return 0
    depth = 0
    level = [value]
    while level:
        depth += 1
        below: list[Any] = []
        push = below.append
        for obj in level:
            for v in obj.values() if obj.__class__ is d else obj:
                c = v.__class__
                if c is d or c is lst:
                    push(v)
        level = below
    return depth


def document_depth(doc: Any) -> int:
    """:func:`value_depth` of ``doc``: the same walk compiled (``turnscore_native.value_depth``) when the
    native core is active, else the Python one."""
    m = native.module()
    fn = getattr(m, "value_depth", None)  # None: the Python core, or an extension built without it
    return value_depth(doc) if fn is None else int(fn(doc))


def loads_within_depth(data: bytes | bytearray, max_depth: int, path: str = "body", offset: int = 0) -> Any:
    """``orjson.loads``, then the nesting limit (counted from ``offset`` levels down): ``LimitExceeded``
    beyond it.

    Parsing first is safe (the body is size-limited and orjson stops at 1024 levels); the depth of what
    decoded is :func:`document_depth`. Text that does not decode raises
    ``orjson.JSONDecodeError``, unless it is too deep (measured on the bytes: that is the ``LimitExceeded``).
    """
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        depth = json_depth(data)
        if depth + offset > max_depth:
            raise LimitExceeded("max_json_depth", max_depth, path, depth + offset) from None
        raise
    depth = document_depth(doc)
    if depth + offset > max_depth:
        raise LimitExceeded("max_json_depth", max_depth, path, depth + offset)
    return doc


def decode_json(data: bytes | bytearray, max_depth: int) -> dict[str, Any]:
    """``orjson.loads`` within the depth limit; the body must be a JSON object (large bodies: call it
    off-loop)."""
    try:
        doc = loads_within_depth(data, max_depth)
    except orjson.JSONDecodeError as exc:
        raise ServiceError(
            ErrorKind.BAD_REQUEST,
            "malformed_json",
            f"request body is not valid JSON: {exc}",
            {"path": "body"},
        ) from None
    if not isinstance(doc, dict):
        raise InvalidRequest("", f"request body must be a JSON object, got {type(doc).__name__}")
    return doc
