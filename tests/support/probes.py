"""Reading what a running server says: the Prometheus text format, HTTP/1.1 over a raw socket, polling."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable

# -- Prometheus text format -------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Samples:
    """Samples of one exposition: ``{name: [(labels, value), ...]}``."""

    def __init__(self, data: dict[str, list[tuple[dict[str, str], float]]]) -> None:
        self.data = data

    def names(self) -> set[str]:
        return set(self.data)

    def label_names(self, name: str) -> set[str]:
        return {k for labels, _ in self.data.get(name, []) for k in labels}

    def value(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels`` (0 when none)."""
        return sum(
            v for got, v in self.data.get(name, []) if all(got.get(k) == want for k, want in labels.items())
        )


def parse_metrics(text: str) -> Samples:
    data: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m is None:
            raise ValueError(f"unparsable exposition line: {line!r}")
        labels = dict(_LABEL.findall(m.group(3) or ""))
        data.setdefault(m.group(1), []).append((labels, float(m.group(4))))
    return Samples(data)


# -- raw HTTP/1.1 -----------------------------------------------------------------------------------


def raw_http_request(
    port: int, path: str, body: bytes, headers: dict[str, str] | None = None
) -> socket.socket:
    """Open a connection and send the request head only; the caller sends ``body`` (maybe slowly)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    head.append(f"Content-Length: {len(body)}")
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    return sock


def read_http_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one HTTP/1.1 response (Content-Length framed) from ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before a response head: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length]


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
