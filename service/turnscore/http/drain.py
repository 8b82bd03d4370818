"""Stop accepting first: on SIGTERM/SIGINT a worker closes the listening socket's door before uvicorn shuts
down, so no connection is accepted by the kernel and then reset.

uvicorn (one or ``--workers N`` processes sharing one listening socket) stops calling ``accept`` on
shutdown, but the kernel keeps completing handshakes into the socket's accept queue until the last process
holding the socket closes it, and then resets every connection still queued: clients that connected
successfully get a reset. :func:`install` (called in the lifespan, where uvicorn's signal handlers are in
place) wraps those handlers; on the first signal, before handing it to uvicorn:

1. a socket filter that drops every packet is attached to the listening socket (Linux ``SO_ATTACH_FILTER``),
   so no new handshake completes: a new client is not accepted (its SYN goes unanswered and it gets
   "connection refused" once the socket closes), in every worker at once since they share the socket;
2. this worker keeps accepting until the accept queue is empty (``TCP_INFO`` of a listening socket gives its
   length; at most :data:`DRAIN_SECONDS`), so every connection the kernel completed is served;
3. ``on_drain`` runs (the runtime starts answering ``Connection: close``), then uvicorn's handler: stop
   accepting, finish in-flight requests within ``graceful_timeout``.

On other systems (no ``SO_ATTACH_FILTER``) step 1 is skipped and the rest still applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger("turnscore.http")

SO_ATTACH_FILTER = 26
DRAIN_SECONDS = 1.0
#: one classic BPF instruction: ``ret #0`` (keep 0 bytes of every packet: drop it)
_DROP_ALL = (ctypes.c_uint16 * 4)(0x06, 0, 0, 0)


def listening_sockets(port: int, exclude: frozenset[int] = frozenset()) -> list[socket.socket]:
    """Duplicates of this process's listening TCP sockets on ``port`` (any port but ``exclude`` if 0)."""
    found: list[socket.socket] = []
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return found
    for fd in fds:
        try:
            dup = os.dup(fd)
        except OSError:
            continue
        try:
            sock = socket.socket(fileno=dup)
        except OSError:  # not a socket
            os.close(dup)
            continue
        keep = False
        with contextlib.suppress(OSError):
            if sock.type == socket.SOCK_STREAM and sock.family in (socket.AF_INET, socket.AF_INET6):
                listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
                bound = sock.getsockname()[1]
                keep = bool(listening) and (bound == port if port else bound not in exclude)
        if keep:
            found.append(sock)
        else:
            sock.close()
    return found


def refuse_new(sock: socket.socket) -> bool:
    """Attach the drop-everything filter; False where the system has no socket filters."""
    if not sys.platform.startswith("linux"):
        return False
    prog = struct.pack("HL", 1, ctypes.addressof(_DROP_ALL))
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, prog)
    except OSError as exc:
        log.warning("cannot stop new connections before shutdown", extra={"error": str(exc)})
        return False
    return True


def accept_queue(sock: socket.socket) -> int:
    """Connections the kernel completed that no process accepted yet (Linux; 0 elsewhere)."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    except (OSError, AttributeError):
        return 0
    return int(struct.unpack_from("I", info, 24)[0])  # tcpi_unacked = sk_ack_backlog when listening


async def drain(sockets: list[socket.socket], seconds: float = DRAIN_SECONDS) -> None:
    """Refuse new connections on ``sockets``, then wait (serving) until their accept queues are empty."""
    for sock in sockets:
        refuse_new(sock)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(accept_queue(s) for s in sockets):
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # the last accepted connections' requests reach the protocol


def install(port: int, on_drain: Callable[[], None], exclude: frozenset[int] = frozenset()) -> None:
    """Wrap the SIGTERM/SIGINT handlers in place (uvicorn's) with the drain above (main thread only)."""
    loop = asyncio.get_running_loop()
    sockets = listening_sockets(port, exclude)
    handlers: dict[int, Any] = {}
    tasks: set[asyncio.Task[None]] = set()
    started = False

    async def run_drain(sig: int, frame: FrameType | None) -> None:
        try:
            await drain(sockets)
        finally:
            on_drain()
            for sock in sockets:
                sock.close()
            handler = handlers.get(sig)
            if callable(handler):
                handler(sig, frame)

    def handle(sig: int, frame: FrameType | None) -> None:
        nonlocal started
        if started:  # a second signal goes straight to uvicorn (a second Ctrl-C forces the exit)
            handler = handlers.get(sig)
            if callable(handler):
                handler(sig, frame)
            return
        started = True

        def start() -> None:
            task = loop.create_task(run_drain(sig, frame))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        loop.call_soon_threadsafe(start)

    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            handlers[sig] = signal.getsignal(sig)
            signal.signal(sig, handle)
    except ValueError:  # not the main thread (e.g. an app run by a test client): nothing to wrap
        for sock in sockets:
            sock.close()
