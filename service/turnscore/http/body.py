"""Request bodies: bounded streaming read, gzip with bomb protection, JSON nesting-depth check, orjson decode.

Nothing here builds Python objects for a body before its size and depth are known to be within limits:

- the wire body is read chunk by chunk and refused (413) as soon as it exceeds ``max_body_bytes``;
- ``Content-Encoding: gzip`` is inflated incrementally with ``max_length``, so at most
  ``max_body_bytes + 1`` bytes are ever inflated: a gzip bomb costs one limit's worth of CPU and memory;
- the nesting depth is measured on the bytes (vectorized, strings skipped) before ``orjson.loads``;
  on text-heavy bodies it costs about half of ``orjson.loads`` itself.
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
_BACKSLASH = ord("\\")
_SPACE = ord(" ")
_COUNT_FIRST_BYTES = 64 * 1024  # above this, counting brackets costs more than it saves


def _blank_escapes(data: bytes | bytearray) -> bytearray:
    """A copy of ``data`` with every backslash escape's backslash and escaped character made a space.

    In a run of backslashes the 1st, 3rd, ... escape the next character, so escaped quotes disappear
    and every remaining ``"`` delimits a string (vectorized on the backslash positions only).
    """
    buf = bytearray(data)
    view = np.frombuffer(buf, dtype=np.uint8)
    slashes = np.flatnonzero(view == _BACKSLASH)
    run_start = np.empty(slashes.size, dtype=bool)
    run_start[0] = True
    np.not_equal(slashes[1:], slashes[:-1] + 1, out=run_start[1:])
    starts = np.flatnonzero(run_start)
    offset = np.arange(slashes.size) - np.repeat(starts, np.diff(starts, append=slashes.size))
    escaped = slashes[(offset & 1) == 0] + 1
    view[slashes] = _SPACE
    view[escaped[escaped < view.size]] = _SPACE
    return buf


def json_depth(data: bytes | bytearray) -> int:
    """Maximum nesting depth of arrays/objects in JSON text (brackets inside strings ignored).

    Exact for valid JSON; for invalid JSON some number (``orjson`` rejects the text afterwards).
    Cost: one copy of the body when it holds escapes, one ``translate``, then numpy on the few
    bytes that are brackets or quotes.
    """
    if b"\\" in data:
        data = _blank_escapes(data)
    kept = np.frombuffer(data.translate(None, _DROP), dtype=np.uint8)
    if kept.size == 0:
        return 0
    inside = (np.cumsum(kept == ord('"'), dtype=np.uint8) & 1).astype(bool)  # uint8 wraps; parity survives
    delta = _DEPTH_DELTA[kept]
    delta[inside] = 0
    return int(np.cumsum(delta, dtype=np.int32).max(initial=0))


def within_depth(data: bytes | bytearray, max_depth: int) -> bool:
    """Cheap sufficient test: at most ``max_depth`` opening brackets (only worth it on small bodies)."""
    return len(data) <= _COUNT_FIRST_BYTES and data.count(b"[") + data.count(b"{") <= max_depth


def check_depth(data: bytes, max_depth: int) -> None:
    if within_depth(data, max_depth):
        return
    depth = json_depth(data)
    if depth > max_depth:
        raise LimitExceeded("max_json_depth", max_depth, "body", depth)


def decode_json(data: bytes, max_depth: int) -> dict[str, Any]:
    """Depth check + ``orjson.loads``; the body must be a JSON object (large bodies: call it off-loop)."""
    check_depth(data, max_depth)
    try:
        doc = orjson.loads(data)
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
) -> tuple[bytes, int]:
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
    parts: list[bytes] = []
    async for chunk in stream:
        if not chunk:
            continue
        wire += len(chunk)
        if wire > max_bytes:
            raise body_too_large("max_body_bytes", max_bytes, None)
        if gz is not None:
            gz.feed(chunk)
        else:
            parts.append(chunk)
    if gz is not None:
        return gz.finish(), wire
    return b"".join(parts), wire
