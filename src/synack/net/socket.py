"""A blocking, socket-like interface to synack on a TUN device, for scripts.

Design: one background thread runs an asyncio loop that owns the TUN device and the Host (the same
`synack.net.aio.Stack` the asyncio interfaces use). Every blocking call submits a small coroutine to
that loop and waits for its result, with the socket's timeout. The alternative, driving the Host
synchronously with `select` on the TUN fd inside each call, would leave TCP deaf between calls:
retransmissions, delayed ACKs, TIME-WAIT re-ACKs and the kernel's window probes must be answered
while the script is busy elsewhere, and several sockets (a listener and its clients) share one Host.
A thread that always runs the loop gives all of that for the price of one thread hand-off per call.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import random
import threading
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any, TypeVar

from synack.net.aio import Stack, SynackTransport
from synack.net.tun import TunLink

T = TypeVar("T")

AF_INET = 2
SOCK_STREAM = 1
SHUT_RD, SHUT_WR, SHUT_RDWR = 0, 1, 2
SOL_SOCKET = 1
SO_KEEPALIVE = 9
IPPROTO_TCP = 6
TCP_NODELAY = 1
TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT = 4, 5, 6
# The socket options synack honours: (level, name) -> the connection setting they change.
_OPTIONS = {
    (IPPROTO_TCP, TCP_NODELAY): "nodelay",
    (SOL_SOCKET, SO_KEEPALIVE): "keepalive",
    (IPPROTO_TCP, TCP_KEEPIDLE): "keepalive_idle",
    (IPPROTO_TCP, TCP_KEEPINTVL): "keepalive_interval",
    (IPPROTO_TCP, TCP_KEEPCNT): "keepalive_probes",
}
_RECV_HIGH = 1 << 20  # receive-side bytes buffered before reading pauses (the window closes)


class Network:
    """A TUN device, a Host and the thread whose event loop drives them."""

    def __init__(self, link: TunLink | None = None, *, name: str = "synack%d", **stack_args: Any):
        self.link = link or TunLink()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="synack", daemon=True)
        self._thread.start()

        async def make() -> Stack:
            return Stack.open(self.link, name=name, loop=self.loop, **stack_args)

        try:
            self.stack = self.call(make(), None)
        except BaseException:
            self._stop()
            raise
        self._used_ports: set[int] = set()

    @property
    def address(self) -> str:
        return self.link.synack_address

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
        """Run `coro` on the loop; wait at most `timeout` seconds (0: only if ready at once)."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout if timeout is None or timeout > 0 else 0.001)
        except concurrent.futures.TimeoutError:
            future.cancel()
            if timeout == 0:
                raise BlockingIOError(11, "operation would block") from None
            raise TimeoutError("timed out") from None

    def ephemeral_port(self) -> int:
        while True:
            port = random.randint(49152, 65535)
            if port not in self._used_ports:
                self._used_ports.add(port)
                return port

    def close(self) -> None:
        async def shut() -> None:
            self.stack.close()

        if self._thread.is_alive():
            self.call(shut(), 5)
        self._stop()

    def _stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_default: Network | None = None


def default_network() -> Network:
    """The Network sockets use when none is given (opened on first use with the default link)."""
    global _default
    if _default is None:
        _default = Network()
    return _default


def set_default_network(network: Network | None) -> None:
    global _default
    _default = network


class _Pipe(asyncio.Protocol):
    """Loop-side state of one connected socket: received bytes, EOF, error, write pressure."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: SynackTransport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: Exception | None = None
        self.lost = False
        self.paused = False
        self._changed = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, SynackTransport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _RECV_HIGH and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._changed.set()

    def eof_received(self) -> bool:
        self.eof = True
        self._changed.set()
        return True  # keep the write side open (half-close)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.error = exc
        self._changed.set()
        self._writable.set()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    async def read(self, n: int) -> bytes:
        while not self.buffer:
            if self.eof or self.lost:
                if self.error is not None and not self.eof:
                    raise self.error
                return b""
            self._changed.clear()
            await self._changed.wait()
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        if self.paused and len(self.buffer) < _RECV_HIGH // 2 and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return data

    async def write(self, data: bytes) -> int:
        if self.error is not None:
            raise self.error
        if self.lost or self.transport is None or self.transport.is_closing():
            raise BrokenPipeError(32, "Broken pipe")
        await self._writable.wait()
        if self.error is not None:
            raise self.error
        if self.lost:
            raise BrokenPipeError(32, "Broken pipe")
        self.transport.write(data)
        return len(data)


class socket:
    """A TCP socket whose TCP is synack (AF_INET, SOCK_STREAM only)."""

    def __init__(
        self,
        family: int = AF_INET,
        type: int = SOCK_STREAM,
        proto: int = 0,
        *,
        network: Network | None = None,
    ) -> None:
        if family != AF_INET or type != SOCK_STREAM:
            raise OSError(97, "synack sockets are AF_INET / SOCK_STREAM only")
        self.network = network or default_network()
        self._timeout: float | None = None
        self._local_port: int | None = None
        self._pipe: _Pipe | None = None
        self._accepted: asyncio.Queue[_Pipe] | None = None
        self._server: Any = None
        self._closed = False
        # Options set by setsockopt (see _OPTIONS); the others follow the connection's settings
        # (TCP_NODELAY off, so Nagle's algorithm runs, RFC 9293 §3.7.4, as on a kernel socket;
        # keep-alives off, §3.8.4).
        self._options: dict[str, Any] = {}

    # ---- options --------------------------------------------------------------------------------

    def settimeout(self, value: float | None) -> None:
        if value is not None and value < 0:
            raise ValueError("Timeout value out of range")
        self._timeout = value

    def gettimeout(self) -> float | None:
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        self._timeout = None if flag else 0.0

    def setsockopt(self, level: int, optname: int, value: int | bytes, *args: Any) -> None:
        """TCP_NODELAY (Nagle's algorithm off or on), SO_KEEPALIVE and TCP_KEEPIDLE /
        TCP_KEEPINTVL / TCP_KEEPCNT (seconds, seconds, probes); accepted sockets inherit them
        from their listener, as on Linux. Other options (SO_REUSEADDR and friends) are accepted
        and have no meaning here."""
        name = _OPTIONS.get((level, optname))
        if name is None:
            return
        number = int.from_bytes(value, "little") if isinstance(value, bytes) else int(value)
        setting: Any = float(number) if name in ("keepalive_idle", "keepalive_interval") else (
            number if name == "keepalive_probes" else bool(number))
        self._options[name] = setting
        conn = self.connection
        if conn is not None:
            stack = self.network.stack

            async def apply() -> None:
                _apply_options(conn, {name: setting}, stack.now())
                stack.kick(conn)

            self.network.call(apply(), None)

    def getsockopt(self, level: int, optname: int, *args: Any) -> int:
        """The options `setsockopt` honours, as the connection has them; others: 0."""
        name = _OPTIONS.get((level, optname))
        if name is None:
            return 0
        conn = self.connection
        if conn is not None:
            held = conn.nodelay if name == "nodelay" else conn.keepalive if name == "keepalive" \
                else getattr(conn.config, name)
            return int(held)
        return int(self._options.get(name, 0))

    def fileno(self) -> int:
        return -1

    # ---- addresses ------------------------------------------------------------------------------

    def bind(self, address: tuple[str, int]) -> None:
        host, port = address
        if host not in ("", "0.0.0.0", self.network.address):
            raise OSError(99, f"cannot bind to {host}: synack's address is {self.network.address}")
        self._local_port = port or self.network.ephemeral_port()

    def getsockname(self) -> tuple[str, int]:
        if self._pipe is not None and self._pipe.transport is not None:
            name = self._pipe.transport.get_extra_info("sockname")
            if name is not None:
                return (str(name[0]), int(name[1]))
        return self.network.address, self._local_port or 0

    def getpeername(self) -> tuple[str, int]:
        pipe = self._connected()
        assert pipe.transport is not None
        peer = pipe.transport.get_extra_info("peername")
        return (str(peer[0]), int(peer[1]))

    # ---- client ---------------------------------------------------------------------------------

    def connect(self, address: tuple[str, int]) -> None:
        if self._pipe is not None:
            raise OSError(106, "Transport endpoint is already connected")
        host, port = address
        host = str(ipaddress.ip_address(host))
        stack = self.network.stack
        pipe = _Pipe(self.network.loop)

        options = dict(self._options)

        async def go() -> None:
            await stack.create_connection(lambda: pipe, host, port, local_port=self._local_port)
            assert pipe.transport is not None
            # Before the program writes a byte: this socket's options, else the settings'.
            _apply_options(pipe.transport.connection, options, stack.now())

        self.network.call(go(), self._timeout)
        self._pipe = pipe

    def connect_ex(self, address: tuple[str, int]) -> int:
        try:
            self.connect(address)
        except OSError as exc:
            return exc.errno or 1
        return 0

    # ---- server ---------------------------------------------------------------------------------

    def listen(self, backlog: int = 128) -> None:
        if self._local_port is None:
            raise OSError(22, "bind() before listen()")
        queue: asyncio.Queue[_Pipe] = asyncio.Queue()
        loop = self.network.loop
        stack = self.network.stack
        port = self._local_port

        def factory() -> asyncio.BaseProtocol:
            pipe = _Pipe(loop)
            queue.put_nowait(pipe)
            return pipe

        async def go() -> Any:
            return await stack.create_server(factory, port, backlog=backlog)

        self._server = self.network.call(go(), None)
        self._accepted = queue

    def accept(self) -> tuple[socket, tuple[str, int]]:
        if self._accepted is None:
            raise OSError(22, "listen() before accept()")
        queue = self._accepted

        options = dict(self._options)
        stack = self.network.stack

        async def go() -> _Pipe:
            pipe = await queue.get()
            assert pipe.transport is not None
            _apply_options(pipe.transport.connection, options, stack.now())  # the listener's
            return pipe

        pipe = self.network.call(go(), self._timeout)
        child = socket(network=self.network)
        child._pipe = pipe
        child._local_port = self._local_port
        child._options = options
        assert pipe.transport is not None
        peer = pipe.transport.get_extra_info("peername")
        return child, (str(peer[0]), int(peer[1]))

    # ---- data -----------------------------------------------------------------------------------

    def _connected(self) -> _Pipe:
        if self._closed:
            raise OSError(9, "Bad file descriptor")
        if self._pipe is None:
            raise OSError(107, "Transport endpoint is not connected")
        return self._pipe

    def send(self, data: bytes | bytearray | memoryview) -> int:
        return self.network.call(self._connected().write(bytes(data)), self._timeout)

    def sendall(self, data: bytes | bytearray | memoryview) -> None:
        self.send(data)

    def recv(self, bufsize: int) -> bytes:
        return self.network.call(self._connected().read(bufsize), self._timeout)

    def recv_into(self, buffer: bytearray | memoryview, nbytes: int = 0) -> int:
        data = self.recv(nbytes or len(buffer))
        memoryview(buffer)[: len(data)] = data
        return len(data)

    def shutdown(self, how: int) -> None:
        pipe = self._connected()

        async def go() -> None:
            if pipe.transport is None:
                return
            if how in (SHUT_WR, SHUT_RDWR):
                pipe.transport.write_eof()
            if how in (SHUT_RD, SHUT_RDWR):
                pipe.eof = True
                pipe.buffer.clear()

        self.network.call(go(), None)

    def close(self) -> None:
        """Close (RFC 9293 §3.10.4): queued data, then FIN; TCP finishes in the background."""
        if self._closed:
            return
        self._closed = True
        pipe, server = self._pipe, self._server

        async def go() -> None:
            if pipe is not None and pipe.transport is not None:
                pipe.transport.close()
            if server is not None:
                server.close()

        if pipe is not None or server is not None:
            self.network.call(go(), None)

    def abort(self) -> None:
        """Reset the connection at once (RFC 9293 §3.10.5), like SO_LINGER 0 then close()."""
        pipe = self._connected()
        self._closed = True

        async def go() -> None:
            if pipe.transport is not None:
                pipe.transport.abort()

        self.network.call(go(), None)

    @property
    def connection(self) -> Any:
        """The synack Connection behind this socket (for its state), or None."""
        if self._pipe is None or self._pipe.transport is None:
            return None
        return self._pipe.transport.connection

    def __enter__(self) -> socket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _apply_options(conn: Any, options: dict[str, Any], now: float) -> None:
    """Give a connection a socket's options: its own copy of the settings for the keep-alive
    times, TCP_NODELAY (the settings' value when not set: asyncio's transport turns Nagle off,
    a socket does not) and SO_KEEPALIVE."""
    times = {name: value for name, value in options.items() if name.startswith("keepalive_")}
    if times:
        config = replace(conn.config)
        for name, value in times.items():
            setattr(config, name, value)
        conn.config = config
    conn.set_nodelay(options.get("nodelay", conn.config.nodelay), now)
    if "keepalive" in options or (times and conn.keepalive):
        conn.set_keepalive(options.get("keepalive", conn.keepalive), now)


def create_connection(
    address: tuple[str, int], timeout: float | None = None, *, network: Network | None = None
) -> socket:
    """Like `socket.create_connection`, over synack."""
    sock = socket(network=network)
    sock.settimeout(timeout)
    sock.connect(address)
    return sock
