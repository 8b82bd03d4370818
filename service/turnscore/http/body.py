"""Request bodies: bounded streaming read, gzip with bomb protection, orjson decode, JSON nesting-depth check.

Nothing here builds Python objects for a body before its size is known to be within limits:

- the wire body is read chunk by chunk and refused (413) as soon as it exceeds ``max_body_bytes``;
- ``Content-Encoding: gzip`` is inflated incrementally with ``max_length``, so at most
  ``max_body_bytes + 1`` bytes are ever inflated: a gzip bomb costs one limit's worth of CPU and memory;
- the nesting depth is checked on the decoded containers, before anything else sees the document
  (orjson itself stops at 1024 levels; a body that does not decode is measured on its bytes, so a
  too-deep body is always a 413).
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import orjson

from turnscore.core.errors import InvalidRequest, LimitExceeded

from .errors import ApiError, body_too_large

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

    Iterative: a value from ``orjson.loads`` (which stops at 1024 levels) never exhausts the stack. It
    visits containers only, so text-heavy documents cost what their structure costs, not their bytes.
    """
    t = type(value)
    if t is not dict and t is not list:
        return 0
    deepest = 1
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        obj, d = pop()
        if d > deepest:
            deepest = d
        for v in obj.values() if type(obj) is dict else obj:
            t = type(v)
            if t is dict or t is list:
                push((v, d + 1))
    return deepest


def loads_within_depth(data: bytes | bytearray, max_depth: int, path: str = "body", offset: int = 0) -> Any:
    """``orjson.loads``, then the nesting limit (counted from ``offset`` levels down): 413 beyond it.

    Parsing first is safe (the body is size-limited and orjson stops at 1024 levels) and checks the depth
    on the decoded containers instead of on every byte. Text that does not decode raises
    ``orjson.JSONDecodeError``, unless it is too deep (measured on the bytes: that is the 413).
    """
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        depth = json_depth(data)
        if depth + offset > max_depth:
            raise LimitExceeded("max_json_depth", max_depth, path, depth + offset) from None
        raise
    depth = value_depth(doc)
    if depth + offset > max_depth:
        raise LimitExceeded("max_json_depth", max_depth, path, depth + offset)
    return doc


def decode_json(data: bytes | bytearray, max_depth: int) -> dict[str, Any]:
    """``orjson.loads`` within the depth limit; the body must be a JSON object (large bodies: call it
    off-loop)."""
    try:
        doc = loads_within_depth(data, max_depth)
    except orjson.JSONDecodeError as exc:
        raise ApiError(
            400, "malformed_json", f"request body is not valid JSON: {exc}", {"path": "body"}
        ) from None
    if not isinstance(doc, dict):
        raise InvalidRequest("", f"request body must be a JSON object, got {type(doc).__name__}")
    return doc


class GzipInflater:
    """Incremental gzip decoder that never produces more than ``limit`` bytes (then raises 413)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.out = bytearray()
        self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._members = 0
        self._partial = False

    def feed(self, data: bytes) -> None:
        while data:
            try:
                piece = self._d.decompress(data, self.limit - len(self.out) + 1)
            except zlib.error as exc:
                raise ApiError(400, "bad_encoding", f"invalid gzip body: {exc}", {"path": "body"}) from None
            self.out += piece
            if len(self.out) > self.limit:
                raise body_too_large("max_body_bytes", self.limit, None, encoding="gzip")
            if self._d.eof:  # a gzip member ended; concatenated members are valid gzip
                self._members += 1
                self._partial = False
                data = self._d.unused_data
                self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            else:
                self._partial = True
                data = self._d.unconsumed_tail

    def finish(self) -> bytes:
        if self._members == 0 or self._partial:
            raise ApiError(400, "bad_encoding", "invalid gzip body: truncated stream", {"path": "body"})
        return bytes(self.out)


async def read_body(
    stream: AsyncIterator[bytes],
    *,
    content_encoding: str | None,
    content_length: str | None,
    max_bytes: int,
) -> tuple[bytes | bytearray, int]:
    """Read the whole body within ``max_bytes`` (wire and decoded); returns (decoded body, wire bytes)."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        gz = None
    elif encoding in ("gzip", "x-gzip"):
        gz = GzipInflater(max_bytes)
    else:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"unsupported Content-Encoding {encoding!r}; use gzip or none",
            {"path": "headers.content-encoding", "supported": ["gzip", "identity"]},
        )
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise ApiError(400, "bad_request", "invalid Content-Length header") from None
        if declared > max_bytes:
            raise body_too_large("max_body_bytes", max_bytes, declared)
    wire = 0
    # identity bodies accumulate in one growing buffer (realloc; chunks are dropped at once and their
    # memory reused), so a large body is held once instead of as chunks plus their joined copy
    body = bytearray()
    async for chunk in stream:
        if not chunk:
            continue
        wire += len(chunk)
        if wire > max_bytes:
            raise body_too_large("max_body_bytes", max_bytes, None)
        if gz is not None:
            gz.feed(chunk)
        else:
            body += chunk
    if gz is not None:
        return gz.finish(), wire
    return body, wire
