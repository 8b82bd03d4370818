"""HTTP transport (httpx): the API's operations as JSON requests to one or several base URLs."""

from __future__ import annotations

import gzip
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import httpx

from .. import settings
from .._json import dumps, loads
from .._retry import parse_retry_after
from .._version import __version__
from ..errors import ConnectionFailed, error_from_response
from .base import DEFAULT_TIMEOUT, AsyncTransport, EndpointRing, Operation, Transport

__all__ = ["AsyncHttpTransport", "HttpTransport", "parse_urls"]

ROUTES: dict[Operation, tuple[str, str]] = {
    Operation.SCORE: ("POST", "/v1/score"),
    Operation.ADVANTAGES: ("POST", "/v1/advantages"),
    Operation.OPENRLHF: ("POST", "/v1/openrlhf"),
    Operation.PRESETS: ("GET", "/v1/presets"),
    Operation.HEALTH: ("GET", "/healthz"),
    Operation.READY: ("GET", "/readyz"),
}

USER_AGENT = f"turnscore-client/{__version__}"
TimeoutSetting = float | httpx.Timeout | None


def parse_urls(base_url: str | Sequence[str] | None) -> list[str]:
    """One URL, a comma-separated string or a list; ``None`` reads ``TURNSCORE_URL`` (else localhost:8000)."""
    if base_url is None:
        base_url = settings.URL.get() or settings.DEFAULT_URL
    parts = base_url.split(",") if isinstance(base_url, str) else list(base_url)
    urls = [p.strip().rstrip("/") for p in parts if p and p.strip()]
    if not urls:
        raise ValueError("at least one base URL is required")
    for u in urls:
        if not u.startswith(("http://", "https://")):
            raise ValueError(f"base URL must start with http:// or https://: {u!r}")
    return urls


class HttpRequest(NamedTuple):
    """An operation ready to send: method, path, encoded body and its headers."""

    method: str
    path: str
    content: bytes | None
    headers: dict[str, str]


def encode(operation: Operation, body: Any, gzip_min_bytes: int | None) -> HttpRequest:
    """The request of ``operation``: the body as JSON, gzipped from ``gzip_min_bytes`` bytes on."""
    method, path = ROUTES[operation]
    if body is None:
        return HttpRequest(method, path, None, {})
    data = dumps(body)
    headers = {"Content-Type": "application/json"}
    if gzip_min_bytes is not None and len(data) >= gzip_min_bytes:
        data = gzip.compress(data, compresslevel=5)
        headers["Content-Encoding"] = "gzip"
    return HttpRequest(method, path, data, headers)


def _decode(resp: httpx.Response) -> Any:
    try:
        return loads(resp.content)
    except ValueError:  # json.JSONDecodeError and orjson.JSONDecodeError
        return resp.text


def _answer(resp: httpx.Response, url: str) -> Any:
    """The decoded body of a 2xx answer; any other answer raises its typed error."""
    if resp.is_success:
        return _decode(resp)
    retry_after = parse_retry_after(resp.headers.get("Retry-After"))
    raise error_from_response(resp.status_code, _decode(resp), url=url, retry_after=retry_after)


def _no_answer(e: httpx.TransportError, url: str) -> ConnectionFailed:
    return ConnectionFailed(f"{type(e).__name__}: {e}", url=url)


class _Options:
    """What both HTTP transports share: the base URLs, the httpx client's arguments, gzip and timeouts."""

    def __init__(
        self,
        base_url: str | Sequence[str] | None,
        api_key: str | None,
        timeout: TimeoutSetting,
        headers: Mapping[str, str] | None,
        gzip_min_bytes: int | None,
        max_connections: int,
        transport: Any,
    ) -> None:
        self.ring = EndpointRing(parse_urls(base_url))
        self.timeout = timeout
        self.gzip_min_bytes = gzip_min_bytes
        api_key = api_key if api_key is not None else settings.API_KEY.get()
        all_headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if api_key:
            all_headers["Authorization"] = f"Bearer {api_key}"
        all_headers.update(headers or {})
        self.httpx_options: dict[str, Any] = {
            "timeout": timeout,
            "headers": all_headers,
            "transport": transport,
            "limits": httpx.Limits(max_connections=max_connections),
        }

    def attempt_timeout(self, left: float | None) -> Any:
        """The configured timeout, each phase cut to ``left`` seconds (the rest of the deadline)."""
        if left is None:
            return httpx.USE_CLIENT_DEFAULT
        base = self.timeout if isinstance(self.timeout, httpx.Timeout) else httpx.Timeout(self.timeout)
        read = base.read if base.read is not None else left
        return httpx.Timeout(
            connect=min(base.connect or left, left), read=min(read, left), write=base.write, pool=base.pool
        )


class HttpTransport(Transport):
    """Synchronous HTTP transport over ``httpx.Client`` (thread-safe).

    ``base_url``: one URL, several (list or comma-separated; one per call, round-robin) or ``None`` for
    ``$TURNSCORE_URL``. ``api_key`` (default ``$TURNSCORE_API_KEY``) is sent as ``Authorization: Bearer``;
    ``headers`` are added to every request; request bodies are gzipped from ``gzip_min_bytes`` bytes on;
    ``transport`` is an httpx transport (e.g. ``httpx.MockTransport``) under the client.
    """

    def __init__(
        self,
        base_url: str | Sequence[str] | None = None,
        *,
        api_key: str | None = None,
        timeout: TimeoutSetting = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        gzip_min_bytes: int | None = None,
        max_connections: int = 10,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._options = _Options(
            base_url, api_key, timeout, headers, gzip_min_bytes, max_connections, transport
        )
        self.endpoints = self._options.ring.endpoints
        self._http = httpx.Client(**self._options.httpx_options)

    def prepare(self, operation: Operation, body: Any) -> HttpRequest:
        return encode(operation, body, self._options.gzip_min_bytes)

    def call(self, operation: Operation, request: HttpRequest, timeout: float | None) -> Any:
        url = self._options.ring.next() + request.path
        try:
            resp = self._http.request(
                request.method,
                url,
                content=request.content,
                headers=request.headers,
                timeout=self._options.attempt_timeout(timeout),
            )
        except httpx.TransportError as e:
            raise _no_answer(e, url) from e
        return _answer(resp, url)

    def close(self) -> None:
        self._http.close()


class AsyncHttpTransport(AsyncTransport):
    """Asynchronous twin of :class:`HttpTransport` over ``httpx.AsyncClient`` (same arguments)."""

    def __init__(
        self,
        base_url: str | Sequence[str] | None = None,
        *,
        api_key: str | None = None,
        timeout: TimeoutSetting = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        gzip_min_bytes: int | None = None,
        max_connections: int = 10,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._options = _Options(
            base_url, api_key, timeout, headers, gzip_min_bytes, max_connections, transport
        )
        self.endpoints = self._options.ring.endpoints
        self._http = httpx.AsyncClient(**self._options.httpx_options)

    def prepare(self, operation: Operation, body: Any) -> HttpRequest:
        return encode(operation, body, self._options.gzip_min_bytes)

    async def call(self, operation: Operation, request: HttpRequest, timeout: float | None) -> Any:
        url = self._options.ring.next() + request.path
        try:
            resp = await self._http.request(
                request.method,
                url,
                content=request.content,
                headers=request.headers,
                timeout=self._options.attempt_timeout(timeout),
            )
        except httpx.TransportError as e:
            raise _no_answer(e, url) from e
        return _answer(resp, url)

    async def aclose(self) -> None:
        await self._http.aclose()
