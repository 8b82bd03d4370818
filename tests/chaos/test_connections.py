"""Findings 4, 5 and 10: connections that never finish their headers are closed (header timeout), open
connections are capped below the file limit, responses nobody reads are dropped (send timeout), and slow
request bodies hold no admission slot."""

from __future__ import annotations

import contextlib
import socket
import sys
import time

import orjson

from tests.support.probes import raw_http_request, wait_until
from tests.support.serve import CLI, HOST, ServeProcess, ServiceFactory
from tests.support.workloads import score_request, weather_rollouts


def _connect(port: int, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10)
    sock.connect((HOST, port))
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed (or reset) ``sock`` (reads whatever it sent first)."""
    sock.settimeout(0.05)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except OSError:
        return True
    return True


def test_silent_and_trickling_connections_are_closed(service_factory: ServiceFactory) -> None:
    svc = service_factory("--header-timeout", "1")
    silent = [_connect(svc.port) for _ in range(300)]
    partial = [_connect(svc.port) for _ in range(100)]
    for sock in partial:
        sock.sendall(b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Le")
    try:
        assert svc.get("/healthz", timeout=5).status_code == 200  # reachable meanwhile
        t0 = time.monotonic()
        assert wait_until(lambda: all(_closed_by_server(s) for s in silent + partial), timeout=10)
        assert time.monotonic() - t0 < 5
        http = svc.readyz()["http"]["connections"]
        assert http["open"] <= 2, http
        assert http["closed_header_timeout"] >= 400, http
        assert svc.get("/healthz").status_code == 200
    finally:
        for sock in silent + partial:
            sock.close()


def test_connection_cap_stays_below_the_file_limit(tmp_path: object) -> None:
    """Under a 256-descriptor limit, 400 silent connections: the ones beyond the cap are answered 503
    and closed, the process never runs out of descriptors, and it serves again once the silent ones are
    timed out."""
    svc = ServeProcess(
        None,
        "--no-access-log",
        "--header-timeout",
        "2",
        command=["prlimit", "--nofile=256:256", sys.executable, "-c", CLI],
    )
    svc.start(timeout=90)
    socks: list[socket.socket] = []
    try:
        cap = svc.readyz()["http"]["connections"]["max_connections"]
        assert cap == 192
        refused = 0
        for _ in range(400):
            try:
                sock = _connect(svc.port)
            except OSError:
                refused += 1  # the kernel's accept queue was full: refused, never accepted
                continue
            socks.append(sock)
        answered = []
        for sock in socks:
            sock.settimeout(0.5)
            with contextlib.suppress(OSError):
                data = sock.recv(65536)
                if data:
                    answered.append(data)
        assert len(answered) >= 400 - cap - refused - 20, (len(answered), refused)
        for data in answered:
            head, _, body = data.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 503"), head
            assert b"retry-after: 1" in head
            assert orjson.loads(body)["error"]["details"]["limit"] == "max_connections"
        for sock in socks:
            sock.close()
        socks.clear()
        assert wait_until(lambda: svc.get("/healthz", timeout=2).status_code == 200, timeout=10)
        assert svc.proc is not None and svc.proc.poll() is None
        assert "Too many open files" not in svc.logs()
    finally:
        for sock in socks:
            sock.close()
        svc.stop(timeout=10)


def test_unread_responses_are_dropped(service_factory: ServiceFactory) -> None:
    svc = service_factory("--send-timeout", "1", "--max-rollouts-per-group", "1024")
    group = score_request()["groups"][0]
    big = {
        "explain": True,
        "groups": [dict(group, id=str(i), rollouts=weather_rollouts() * 256) for i in range(24)],
    }
    body = orjson.dumps(big)
    clients = []
    for _ in range(3):
        sock = _connect(svc.port, rcvbuf=4096)
        sock.sendall(
            b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        clients.append(sock)
    try:

        def aborted() -> bool:
            return int(svc.readyz()["http"]["connections"]["aborted_send_timeout"]) >= len(clients)

        assert wait_until(aborted, timeout=60, interval=0.2)
        assert svc.readyz()["http"]["connections"]["open"] <= 1
        for sock in clients:  # what the client gets when it reads at last: a truncated answer, then reset
            sock.settimeout(5)
            got = b""
            with contextlib.suppress(OSError):
                while chunk := sock.recv(1 << 20):
                    got += chunk
            head, _, rest = got.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            assert length > 4 * 1024 * 1024  # the answer was big
            assert len(rest) < length
    finally:
        for sock in clients:
            sock.close()
    assert svc.get("/healthz").status_code == 200


def test_slow_readers_get_their_whole_response(service_factory: ServiceFactory) -> None:
    """The send timeout is about progress: a client reading a big answer slowly (one read every half
    send_timeout, for several send_timeouts in all) gets all of it."""
    svc = service_factory("--send-timeout", "1", "--max-rollouts-per-group", "1024")
    group = score_request()["groups"][0]
    big = {
        "explain": True,
        "groups": [dict(group, id=str(i), rollouts=weather_rollouts() * 256) for i in range(24)],
    }
    body = orjson.dumps(big)
    sock = _connect(svc.port, rcvbuf=65536)
    try:
        sock.sendall(
            b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        sock.settimeout(30)
        got = sock.recv(1 << 16)
        head, _, rest = got.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        t0 = time.monotonic()
        while len(rest) < length:
            time.sleep(0.5)
            deadline = len(rest) + (1 << 20)
            while len(rest) < min(deadline, length):
                chunk = sock.recv(1 << 16)
                assert chunk, f"closed after {len(rest)} of {length} bytes"
                rest += chunk
        assert time.monotonic() - t0 > 3  # several send timeouts long
        assert orjson.loads(rest)["groups"][23]["id"] == "23"
    finally:
        sock.close()
    assert svc.readyz()["http"]["connections"]["aborted_send_timeout"] == 0


def test_slow_bodies_hold_no_admission_slot(service_factory: ServiceFactory) -> None:
    svc = service_factory("--max-inflight", "2", "--body-timeout", "30")
    body = orjson.dumps(score_request())
    slow = [raw_http_request(svc.port, "/v1/score", body) for _ in range(6)]
    try:
        for sock in slow:
            sock.sendall(body[:10])  # and then nothing for a while
        assert wait_until(lambda: svc.readyz()["receiving"] == 6, timeout=10)
        for _ in range(8):
            r = svc.post("/v1/score", content=body, headers={"content-type": "application/json"})
            assert r.status_code == 200, r.text
        assert svc.readyz()["inflight"] == 0
    finally:
        for sock in slow:
            sock.close()
    assert wait_until(lambda: svc.readyz()["receiving"] == 0, timeout=10)
