"""A TCP proxy on loopback for outage tests: forwards to a real server; on command refuses, stalls, cuts."""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
from types import TracebackType
from typing import Self

from mailbot.demo.servers import free_port

_POLL = 0.05  # seconds; how quickly the threads notice a new command


class _Pair:
    """One client connection and its upstream connection (None while stalled from the start)."""

    def __init__(self, client: socket.socket, upstream: socket.socket | None) -> None:
        self.client = client
        self.upstream = upstream
        self.stalled = upstream is None
        self.closed = False

    def close(self, *, reset: bool) -> None:
        """Close both ends; `reset` sends RST (SO_LINGER 0) like a crashed server or a cut cable."""
        self.closed = True
        for sock in (self.client, self.upstream):
            if sock is None:
                continue
            if reset:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                sock.close()


class Proxy:
    """Forwards `127.0.0.1:port` to a target server; `refuse()`, `stall()`, `cut()` simulate outages.

    - `refuse()`: nobody listens on the port any more (connection refused); `forward()` listens again.
    - `stall()`: connections are accepted but nothing is forwarded either way, also on open connections
      (a hung server or a black-holed network): the client only notices by its own timeout.
    - `cut()`: every open connection is reset at once (a server restart, a network cut).
    - `cut_after(n)` / `stall_after(n)`: the same, once `n` more bytes went from the server to the client
      (exactly `n` are delivered), to hit a pass in the middle.
    """

    def __init__(
        self, target_host: str, target_port: int, host: str = "127.0.0.1", source: str | None = None
    ) -> None:
        self.host = host
        self.source = source  # the address the server sees, e.g. 127.0.0.9 (penalties stay with it)
        self.port = free_port(host)
        self.target = (target_host, target_port)
        self.accepted = 0  # connections accepted so far
        self._lock = threading.Lock()
        self._pairs: list[_Pair] = []
        self._listener: socket.socket | None = None
        self._stall_new = False
        self._budget: int | None = None  # bytes server -> client until the trigger
        self._trigger = "cut"
        self._running = False
        self._threads: list[threading.Thread] = []

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Listen and start forwarding; returns self."""
        self._running = True
        self._listen()
        return self

    def stop(self) -> None:
        """Close everything and wait for the threads."""
        self._running = False
        self._unlisten()
        self.cut()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- commands -----------------------------------------------------------------------------------------

    def forward(self) -> None:
        """Back to normal for new connections: listen (again) and forward; stalled ones stay stalled."""
        with self._lock:
            self._stall_new = False
            self._budget = None
        if self._listener is None:
            self._listen()

    def refuse(self) -> None:
        """Stop listening: new connections are refused; open ones are reset (the server is gone)."""
        self._unlisten()
        self.cut()

    def stall(self) -> None:
        """Accept but never answer, and stop forwarding on open connections."""
        with self._lock:
            self._stall_new = True
            for pair in self._pairs:
                pair.stalled = True

    def cut(self) -> None:
        """Reset every open connection now."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            pair.close(reset=True)

    def cut_after(self, nbytes: int) -> None:
        """Reset every connection once `nbytes` more bytes went from the server to the client."""
        with self._lock:
            self._budget, self._trigger = nbytes, "cut"

    def stall_after(self, nbytes: int) -> None:
        """Stall every connection (and new ones) once `nbytes` more bytes went from server to client."""
        with self._lock:
            self._budget, self._trigger = nbytes, "stall"

    # -- machinery ----------------------------------------------------------------------------------------

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(64)
        listener.settimeout(_POLL)
        self._listener = listener
        self._spawn(self._accept_loop, listener)

    def _unlisten(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown() first: a socket still polled by the accept thread would otherwise keep listening
            # (and queue connections) until that poll returns.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while self._running and self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by refuse()/stop()
            client.setblocking(True)
            self.accepted += 1
            with self._lock:
                stall = self._stall_new
            upstream = None
            if not stall:
                try:
                    source = (self.source, 0) if self.source else None
                    upstream = socket.create_connection(self.target, timeout=5, source_address=source)
                except OSError:
                    client.close()
                    continue
            pair = _Pair(client, upstream)
            with self._lock:
                self._pairs.append(pair)
            self._spawn(self._pump, pair)

    def _pump(self, pair: _Pair) -> None:
        """Copy bytes both ways until one side closes, honouring stall and the byte budget."""
        with selectors.DefaultSelector() as selector:
            selector.register(pair.client, selectors.EVENT_READ, "up")
            if pair.upstream is not None:
                selector.register(pair.upstream, selectors.EVENT_READ, "down")
            while self._running and not pair.closed:
                if pair.stalled:
                    threading.Event().wait(_POLL)  # hold the connection open, read nothing
                    continue
                try:
                    ready = selector.select(_POLL)
                except (OSError, ValueError):
                    break
                for key, _ in ready:
                    if not self._copy(pair, key.data):
                        pair.close(reset=False)
                        break
        with self._lock:
            if pair in self._pairs:
                self._pairs.remove(pair)

    def _copy(self, pair: _Pair, direction: str) -> bool:
        assert pair.upstream is not None
        source, sink = (pair.client, pair.upstream) if direction == "up" else (pair.upstream, pair.client)
        try:
            data = source.recv(65536)
        except OSError:
            return False
        if not data:
            return False
        trigger = None
        if direction == "down":
            with self._lock:
                if self._budget is not None:
                    if len(data) >= self._budget:
                        data, trigger = data[: self._budget], self._trigger
                        self._budget = None
                    else:
                        self._budget -= len(data)
        try:
            sink.sendall(data)
        except OSError:
            return False
        if trigger == "cut":
            self.cut()
            return False
        if trigger == "stall":
            self.stall()
        return True
