"""HTTP request bodies: bounded streaming read and gzip with bomb protection.

Nothing here builds Python objects for a body before its size is known to be within limits:

- the wire body is read chunk by chunk and refused (413) as soon as it exceeds ``max_body_bytes``;
- ``Content-Encoding: gzip`` is inflated incrementally with ``max_length``, so at most
  ``max_body_bytes + 1`` bytes are ever inflated: a gzip bomb costs one limit's worth of CPU and memory.

The bytes read are then decoded by ``turnscore.runtime.decode`` (JSON within the nesting-depth limit).
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from typing import Any

from turnscore.core.errors import ErrorKind
from turnscore.runtime.errors import ServiceError


def body_too_large(limit: str, maximum: int, actual: int | None = None, **extra: Any) -> ServiceError:
    details: dict[str, Any] = {"limit": limit, "max": maximum, "path": "body", "actual": actual, **extra}
    what = "decompressed body" if extra.get("encoding") == "gzip" else "body"
    return ServiceError(
        ErrorKind.TOO_LARGE, "limit_exceeded", f"{what} exceeds limit {limit}={maximum} bytes", details
    )


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
                raise ServiceError(
                    ErrorKind.BAD_REQUEST, "bad_encoding", f"invalid gzip body: {exc}", {"path": "body"}
                ) from None
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
            raise ServiceError(
                ErrorKind.BAD_REQUEST, "bad_encoding", "invalid gzip body: truncated stream", {"path": "body"}
            )
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
        raise ServiceError(
            ErrorKind.UNSUPPORTED_ENCODING,
            "unsupported_media_type",
            f"unsupported Content-Encoding {encoding!r}; use gzip or none",
            {"path": "headers.content-encoding", "supported": ["gzip", "identity"]},
        )
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise ServiceError(
                ErrorKind.BAD_REQUEST, "bad_request", "invalid Content-Length header"
            ) from None
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
