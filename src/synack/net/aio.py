"""asyncio driver: synack's Host on a TUN device, with streams and an asyncio.Transport.

A `Stack` owns one TUN device and one sans-I/O Host and moves packets between them on an asyncio
event loop, the way aioquic's asyncio layer drives `QuicConnection`:

- a reader callback (`loop.add_reader`) reads every waiting packet, feeds each to
  `host.receive_packet(data, now)`, writes what the host answered by itself (SYN-ACKs, ACKs),
  then services the connections and writes `host.packets_to_send()` to the device;
- one `loop.call_at` handle is kept on `host.next_deadline()` and re-armed after every batch;
- program calls (write, close, connect) schedule one flush with `loop.call_soon`, so a burst of
  writes leaves in one batch; calls made from a protocol callback during a pass leave at the end
  of that pass.

`now` is `loop.time()` (monotonic seconds) throughout, so deadlines map onto `call_at` unchanged.

On top: `SynackTransport`, a real `asyncio.Transport` (an unmodified `asyncio.Protocol` runs on it),
and `open_connection` / `start_server`, which return asyncio's own StreamReader / StreamWriter wired
to that transport exactly as asyncio wires them to a socket.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TextIO

from synack.net.tun import TUN_F_CSUM, Tun, TunLink, open_tun_link
from synack.tcp import events as ev
from synack.tcp.state import State

if TYPE_CHECKING:
    from synack.host import Host

# (timestamp_ns, ip_packet, outgoing)
Tap = Callable[[int, bytes, bool], None]
# (connection, event)
EventHook = Callable[[Any, ev.Event], None]
# (connection, old state, new state, cause): called by the host at the moment of the transition
TransitionHook = Callable[[Any, State, State, str], None]

_READ_BATCH = 256  # packets read from the device before the connections are serviced
_WRITE_CHUNK = 256 * 1024  # program writes are queued in pieces of at most this size


class Stack:
    """One Host on one TUN device, driven by an asyncio loop."""

    def __init__(
        self,
        host: Host,
        tun: Tun,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        tap: Tap | None = None,
        on_event: EventHook | None = None,
        on_transition: TransitionHook | None = None,
        outgoing_filter: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.host = host
        if on_transition is not None:
            host.on_transition = on_transition
        # Fault injection for demos: returns False for an outgoing packet that must be lost.
        self.outgoing_filter = outgoing_filter
        self.tun = tun
        self.loop = loop or asyncio.get_running_loop()
        self.tap = tap
        self._on_event: EventHook | None = None
        self.on_event = on_event
        self._transports: dict[Any, SynackTransport] = {}
        self._watched: dict[Any, None] = {}  # connections whose events are drained (no transport)
        self._servers: dict[int, SynackServer] = {}
        self._inbox: list[bytes] = []  # read (and shown) while writing, not yet received
        # Connections to service on the next pass besides those the host reports touched (a
        # transport's close() or resume_reading(), a newly watched connection).
        self._kicked: dict[Any, None] = {}
        host.take_news()  # start tracking touched connections
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._flush_scheduled = False
        self._processing = False  # inside _process: kicks join the running pass
        self._closed = False
        # A device with the virtio-net header offloads TCP checksums both ways: the kernel hands
        # over segments with a partial checksum that need no check (it made them), and completes
        # ours (NEEDS_CSUM, csum_start = IP header length, csum_offset = 16).
        self._partial = tun.vnet_hdr
        host.checksum_offload = tun.vnet_hdr
        if tun.vnet_hdr:
            tun.set_offload(TUN_F_CSUM)
            tun.trust_partial = True
        self.loop.add_reader(tun.fileno(), self._on_readable)

    @property
    def on_event(self) -> EventHook | None:
        """Called with every event of every connection (StateChanged included)."""
        return self._on_event

    @on_event.setter
    def on_event(self, hook: EventHook | None) -> None:
        self._on_event = hook
        # Without a hook nobody reads StateChanged events: connections need not make them.
        self.host.state_events = hook is not None

    # ---- construction ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        link: TunLink | None = None,
        *,
        name: str = "synack%d",
        device: Tun | None = None,
        config: Any = None,
        tap: Tap | None = None,
        on_event: EventHook | None = None,
        on_transition: TransitionHook | None = None,
        outgoing_filter: Callable[[bytes], bool] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        checksum_offload: bool = False,
    ) -> Stack:
        """A Host at synack's address of `link` on a new TUN device (kernel side configured),
        or on `device`, already opened with `open_tun_link(link)`. `checksum_offload` opens the
        new device with the virtio-net header, so the kernel computes and checks TCP checksums."""
        from synack.host import Host

        link = link or TunLink()
        if config is None:
            config = default_config(link.mtu, ipaddress.ip_address(link.synack_address).version)
        if device is not None:
            tun = device
        else:
            tun = open_tun_link(link, name=name, vnet_hdr=checksum_offload)
        try:
            # RFC 6528 §3: on a real wire the ISN function's key must not be guessable.
            host = Host([ipaddress.ip_address(link.synack_address)], config=config,
                        secret=os.urandom(16))
            stack = cls(
                host, tun, loop=loop, tap=tap, on_event=on_event, on_transition=on_transition,
                outgoing_filter=outgoing_filter,
            )
        except BaseException:
            tun.close()
            raise
        global _default_stack
        _default_stack = stack
        return stack

    def close(self) -> None:
        """Stop moving packets and close the device (connections are abandoned as they are)."""
        if self._closed:
            return
        self._closed = True
        for transport in list(self._transports.values()):
            transport._stack_closed()
        self.loop.remove_reader(self.tun.fileno())
        if self._timer is not None:
            self._timer.cancel()
        self.tun.close()
        global _default_stack
        if _default_stack is self:
            _default_stack = None

    def now(self) -> float:
        return self.loop.time()

    def busy(self) -> bool:
        """True while some connection is neither closed nor in TIME-WAIT."""
        conns = [*self._transports, *self._watched]
        return any(c.state not in (State.CLOSED, State.TIME_WAIT) for c in conns)

    async def settle(self, timeout: float = 5.0) -> bool:
        """Wait until no connection is mid-close (every one CLOSED or in TIME-WAIT)."""
        end = self.loop.time() + timeout
        while self.busy():
            if self.loop.time() >= end:
                return False
            await asyncio.sleep(0.01)
        return True

    # ---- packet movement ------------------------------------------------------------------------

    def _on_readable(self) -> None:
        tun, host, tap = self.tun, self.host, self.tap
        now = self.loop.time()
        if self._inbox:
            inbox, self._inbox = self._inbox, []
            for early in inbox:
                host.receive_packet(early, now)
        receive = host.receive_packet
        if tap is None:
            for packet in tun.read_many(_READ_BATCH):
                receive(packet, now)
        else:
            for packet in tun.read_many(_READ_BATCH):
                tap(time.time_ns(), packet, False)
                receive(packet, now)
        # What the host answered by itself (a SYN-ACK, an ACK) leaves before the programs run,
        # so the peer can go on meanwhile; the order on the wire is the same either way.
        self._send()
        self._process()

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.host.handle_timer(self.loop.time())
        self._process()

    def kick(self, conn: Any = None) -> None:
        """Service connections (`conn` too, even if the host has no news of it) and send what
        the host has, soon (once per loop iteration; at the end of this pass if one is running,
        as when a protocol writes from `data_received`)."""
        if conn is not None:
            self._kicked[conn] = None
        if not self._flush_scheduled and not self._processing and not self._closed:
            self._flush_scheduled = True
            self.loop.call_soon(self._process)

    def _process(self) -> None:
        self._flush_scheduled = False
        if self._closed:
            return
        self._processing = True
        try:
            self._service()
            if self._kicked:  # kicked while servicing: one more pass now, not a loop turn later
                self._service()
        finally:
            self._processing = False
        if self._kicked:
            self.kick()  # kicked again in that pass: the next loop turn takes it
        self._send()
        self._arm_timer()

    def _send(self) -> None:
        packets = self.host.packets_to_send()
        if not packets:
            return
        tun, tap, keep = self.tun, self.tap, self.outgoing_filter
        partial = self._partial
        if tap is None and keep is None:
            tun.write_many(packets, partial=partial)
            return
        for packet in packets:
            if keep is not None and not keep(packet):
                continue
            # With checksum offload the host leaves IPv4 TCP checksums partial (IPv6: complete).
            if tap is None:
                tun.write(packet, partial=partial and packet[0] == 0x45)
                continue
            tap(time.time_ns(), packet, True)
            tun.write(packet, partial=partial and packet[0] == 0x45)
            # The kernel answers inside write(): show its replies now, in the order a capture on
            # the device sees them; the host gets them on the next turn of the loop.
            while (reply := tun.read()) is not None:
                tap(time.time_ns(), reply, False)
                self._inbox.append(reply)
        if self._inbox:
            self.loop.call_soon(self._on_readable)

    def _arm_timer(self) -> None:
        """Keep one loop timer at or before the host's next deadline.

        A timer already armed earlier than the deadline is left alone: it fires, finds nothing
        due, and re-arms. Delayed-ACK and retransmission deadlines move on nearly every packet,
        and this saves a cancel and a new `call_at` each time.
        """
        deadline = self.host.next_deadline()
        if deadline is None:
            return
        at = self._timer_at
        if at is not None and at <= deadline:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self.loop.call_at(deadline, self._on_timer)

    # ---- connections ----------------------------------------------------------------------------

    def _service(self) -> None:
        """Accept new connections, then let the transport (or watcher) of every connection the
        host touched handle that connection's events: work per pass follows the connections
        that had news, not the number held open."""
        accepted = []
        if self._servers and self.host.acceptable:
            accept = self.host.accept
            for port, server in list(self._servers.items()):
                while (conn := accept(port)) is not None:
                    server._accepted(conn)
                    accepted.append(conn)
        news = self.host.take_news()
        for conn in accepted:
            # Just serviced in full; a program call there that has more to do kicks it.
            news.pop(conn, None)
        if self._kicked:
            news.update(self._kicked)
            self._kicked = {}
        transports, watched = self._transports, self._watched
        for conn in news:  # touches made while servicing are news for the next pass
            transport = transports.get(conn)
            if transport is not None:
                transport._service()
            elif conn in watched:
                self._drain_watched(conn)

    def _drain_watched(self, conn: Any) -> None:
        while (event := conn.next_event()) is not None:
            self._report(conn, event)
        if conn.state in _ENDED:
            # TIME-WAIT lives on in the host as a compact record that answers by itself.
            self._watched.pop(conn, None)

    def _report(self, conn: Any, event: ev.Event) -> None:
        if self._on_event is not None:
            self._on_event(conn, event)

    def _forget(self, conn: Any, *, keep_watching: bool) -> None:
        self._transports.pop(conn, None)
        if keep_watching:
            self._watched[conn] = None

    def watch(self, conn: Any) -> None:
        """Drain and report a connection's events without a transport (e.g. an abandoned one)."""
        self._watched[conn] = None
        self.kick(conn)

    async def create_connection(
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        host: str,
        port: int,
        *,
        local_port: int | None = None,
    ) -> tuple[SynackTransport, asyncio.BaseProtocol]:
        """Like `loop.create_connection`: an active open to (host, port) over synack."""
        conn = self.host.connect(
            ipaddress.ip_address(host), port, self.loop.time(), local_port=local_port
        )
        protocol = protocol_factory()
        transport = SynackTransport(self, conn, protocol)
        waiter: asyncio.Future[None] = self.loop.create_future()
        transport._waiter = waiter
        self._transports[conn] = transport
        self.kick(conn)
        try:
            await waiter
        except asyncio.CancelledError:
            transport.abort()
            raise
        return transport, protocol

    async def create_server(
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        port: int,
        *,
        backlog: int = 128,
    ) -> SynackServer:
        """Like `loop.create_server`: listen on `port` of synack's address."""
        if port in self._servers:
            raise OSError(98, f"port {port} already has a server")
        self.host.listen(port, backlog)
        server = SynackServer(self, port, protocol_factory)
        self._servers[port] = server
        return server

    async def open_connection(
        self, host: str, port: int, *, limit: int = 2**16, local_port: int | None = None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Like `asyncio.open_connection`, over synack."""
        reader = asyncio.StreamReader(limit=limit, loop=self.loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=self.loop)
        transport, _ = await self.create_connection(
            lambda: protocol, host, port, local_port=local_port
        )
        writer = asyncio.StreamWriter(transport, protocol, reader, self.loop)
        return reader, writer

    async def start_server(
        self,
        client_connected_cb: Callable[
            [asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None] | None
        ],
        port: int,
        *,
        limit: int = 2**16,
        backlog: int = 128,
    ) -> SynackServer:
        """Like `asyncio.start_server`, over synack."""
        loop = self.loop

        def factory() -> asyncio.BaseProtocol:
            reader = asyncio.StreamReader(limit=limit, loop=loop)
            return asyncio.StreamReaderProtocol(reader, client_connected_cb, loop=loop)

        return await self.create_server(factory, port, backlog=backlog)


_default_stack: Stack | None = None


def default_config(mtu: int, version: int = 4) -> Any:
    """TcpConfig for an IPv4 or IPv6 link of `mtu`: MSS = MTU less the IP and TCP headers (40 or
    60 bytes, RFC 9293 §3.7.1), and buffers of at least 32 segments so a 64 KiB-MTU link keeps
    more than one segment in flight (Linux's defaults otherwise)."""
    from synack.tcp.config import TcpConfig

    config = TcpConfig(mss=mtu - (40 if version == 4 else 60))
    config.rcv_buf = max(config.rcv_buf, 32 * config.mss)
    config.snd_buf = max(config.snd_buf, 32 * config.mss)
    return config


def _stack(stack: Stack | None) -> Stack:
    if stack is not None:
        return stack
    if _default_stack is None:
        raise RuntimeError("no synack Stack is open: call Stack.open() first or pass stack=")
    return _default_stack


async def open_connection(
    host: str, port: int, *, stack: Stack | None = None, limit: int = 2**16
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """`asyncio.open_connection` over synack (the last opened Stack unless `stack` is given)."""
    return await _stack(stack).open_connection(host, port, limit=limit)


async def start_server(
    client_connected_cb: Callable[
        [asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None] | None
    ],
    host: str | None = None,
    port: int = 0,
    *,
    stack: Stack | None = None,
    limit: int = 2**16,
    backlog: int = 128,
) -> SynackServer:
    """`asyncio.start_server` over synack; `host` must be synack's address or None."""
    return await _stack(stack).start_server(client_connected_cb, port, limit=limit, backlog=backlog)


class SynackServer(asyncio.AbstractServer):
    """A listening port; every accepted connection gets `protocol_factory()` and a transport."""

    def __init__(
        self, stack: Stack, port: int, protocol_factory: Callable[[], asyncio.BaseProtocol]
    ) -> None:
        self._stack = stack
        self.port = port
        self._factory = protocol_factory
        self._serving = True
        self._closed: asyncio.Future[None] = stack.loop.create_future()
        self.sockets: tuple[Any, ...] = ()

    def _accepted(self, conn: Any) -> None:
        if not self._serving:
            conn.abort(self._stack.now())
            self._stack.watch(conn)
            return
        transport = SynackTransport(self._stack, conn, self._factory())
        self._stack._transports[conn] = transport
        transport._service()

    def close(self) -> None:
        """Stop listening: connections not yet accepted are reset, later SYNs answered with RST
        (RFC 9293 §3.10.7.1); accepted connections go on."""
        if self._serving:
            self._serving = False
            stack = self._stack
            if stack._servers.get(self.port) is self:
                del stack._servers[self.port]
                if not stack._closed:
                    stack.host.unlisten(self.port, stack.now())
                    stack.kick()
        if not self._closed.done():
            self._closed.set_result(None)

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._stack.loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        return None

    async def serve_forever(self) -> None:
        await self.wait_closed()

    def close_clients(self) -> None:
        for transport in list(self._stack._transports.values()):
            transport.close()

    def abort_clients(self) -> None:
        for transport in list(self._stack._transports.values()):
            transport.abort()


_FIN_RECEIVED = frozenset({State.CLOSE_WAIT, State.LAST_ACK, State.CLOSING, State.TIME_WAIT})
_ENDED = frozenset({State.CLOSED, State.TIME_WAIT})


class SynackTransport(asyncio.Transport):
    """An `asyncio.Transport` over one synack Connection."""

    # Initial values of the flags (class attributes: a new transport stores only what changes).
    _waiter: asyncio.Future[None] | None = None
    _made = False
    _lost = False
    _closing = False
    _close_sent = False
    _eof_wanted = False
    _eof_sent = False
    _eof_pending = False
    _eof_delivered = False
    _readable = False
    _reading = True
    _buffered = 0
    _high = 64 * 1024
    _low = 16 * 1024
    _protocol_paused = False
    _in_service = False  # inside `_service`: the stack sends what a write queues after it

    def __init__(self, stack: Stack, conn: Any, protocol: asyncio.BaseProtocol) -> None:
        super().__init__()
        self._stack = stack
        self._conn = conn
        conn.nodelay = True  # as asyncio's own TCP transports set TCP_NODELAY (no Nagle)
        self._protocol = protocol
        self._chunks: collections.deque[bytes] = collections.deque()

    @property
    def connection(self) -> Any:
        """The underlying `synack.tcp.connection.Connection`."""
        return self._conn

    # ---- events from the stack ------------------------------------------------------------------

    def _service(self) -> None:
        self._in_service = True
        try:
            self._serve()
        finally:
            self._in_service = False

    def _serve(self) -> None:
        """Handle the connection's events, then move data both ways."""
        conn = self._conn
        report = self._stack._on_event
        while (event := conn.next_event()) is not None:
            if report is not None:
                report(conn, event)
            if isinstance(event, ev.DataReceived):
                self._readable = True
            elif isinstance(event, ev.SendSpaceAvailable):
                pass  # the pump below retries the queued writes
            elif isinstance(event, ev.EndOfStream):
                self._eof_pending = True
            elif isinstance(event, ev.Connected):
                self._connection_made()
            elif isinstance(event, ev.ConnectionFailed):
                self._failed(event.error)
                return
            elif isinstance(event, ev.ConnectionClosed):
                self._finished()
                return
        if not self._made and conn.state.synchronized:
            self._connection_made()
        if self._made and not self._lost:
            self._pump_reads()
            self._pump_writes()

    def _connection_made(self) -> None:
        if self._made or self._lost:
            return
        self._made = True
        self._protocol.connection_made(self)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _failed(self, error: OSError) -> None:
        self._stack._forget(self._conn, keep_watching=True)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)
            self._lost = True
            return
        if self._made:
            self._lose(error)

    def _finished(self) -> None:
        self._stack._forget(self._conn, keep_watching=False)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(self._conn.error or ConnectionRefusedError("refused"))
            self._lost = True
            return
        if self._made and not self._lost:
            self._pump_reads()
            self._lose(self._conn.error)

    def _stack_closed(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionAbortedError("the synack stack was closed"))
            self._lost = True
        elif self._made:
            self._lose(ConnectionAbortedError("the synack stack was closed"))

    def _lose(self, error: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._chunks.clear()
        self._buffered = 0
        self._protocol.connection_lost(error)

    def _pump_reads(self) -> None:
        if not self._reading or self._eof_delivered:
            return
        if self._readable:
            self._readable = False
            try:
                data = self._conn.receive()
            except OSError as exc:  # reset: the error surfaces once the data is exhausted
                self._lose(exc)
                return
            if data:
                self._protocol.data_received(data)  # type: ignore[attr-defined]
                if self._lost or not self._reading:
                    return
        if not self._eof_pending and self._conn.state in _FIN_RECEIVED:
            self._eof_pending = True
        if self._eof_pending:
            self._eof_delivered = True
            keep_open = False
            if isinstance(self._protocol, asyncio.Protocol):
                keep_open = bool(self._protocol.eof_received())
            if not keep_open:
                self.close()

    def _pump_writes(self) -> None:
        conn = self._conn
        chunks = self._chunks
        if chunks:
            now = self._stack.now()
            while chunks:
                chunk = chunks[0]
                try:
                    n = conn.send(chunk, now)
                except OSError:  # reset or shut down under us: the bytes can never leave
                    chunks.clear()
                    self._buffered = 0
                    break
                self._buffered -= n
                if n == len(chunk):
                    chunks.popleft()
                else:
                    if n:
                        chunks[0] = chunk[n:]
                    break
            if self._protocol_paused and self._buffered <= self._low:
                self._protocol_paused = False
                self._protocol.resume_writing()
        if chunks:
            return
        if self._closing and not self._close_sent:
            self._close_sent = True
            conn.close(self._stack.now())
            self._stack._forget(conn, keep_watching=True)
            self._stack.kick(self._conn)
            self._stack.loop.call_soon(self._lose, None)
        elif self._eof_wanted and not self._eof_sent:
            self._eof_sent = True
            conn.shutdown(self._stack.now())
            self._stack.kick(self._conn)

    # ---- asyncio.Transport ----------------------------------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return _address(self._conn.remote)
        if name == "sockname":
            return _address(self._conn.local)
        if name == "connection":
            return self._conn
        return default

    def is_closing(self) -> bool:
        return self._closing or self._lost

    def close(self) -> None:
        """Send what is queued, then FIN (RFC 9293 §3.10.4); connection_lost(None) follows."""
        if self._closing or self._lost:
            return
        self._closing = True
        if self._made:
            self._pump_writes()
        self._stack.kick(self._conn)

    def abort(self) -> None:
        """Reset the connection at once (RFC 9293 §3.10.5 ABORT)."""
        if self._lost:
            return
        self._closing = True
        self._conn.abort(self._stack.now())
        self._stack._forget(self._conn, keep_watching=True)
        self._stack.kick(self._conn)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionAbortedError("aborted"))
            self._lost = True
            return
        self._stack.loop.call_soon(self._lose, None)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def is_reading(self) -> bool:
        return self._reading and not self._lost

    def pause_reading(self) -> None:
        """Stop handing data to the protocol; TCP's receive window closes behind it."""
        self._reading = False

    def resume_reading(self) -> None:
        if self._reading:
            return
        self._reading = True
        self._readable = True
        self._stack.kick(self._conn)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is None:
            high = 64 * 1024 if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high, self._low = high, low

    def get_write_buffer_size(self) -> int:
        return self._buffered

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._eof_wanted or self._closing:
            raise RuntimeError("cannot write after write_eof() or close()")
        if self._lost or not data:
            return
        if self._made and not self._chunks and type(data) is bytes and len(data) <= _WRITE_CHUNK:
            # Nothing queued: straight to the connection, as `_pump_writes` would send it.
            try:
                n = self._conn.send(data, self._stack.now())
            except OSError:  # reset or shut down under us: the bytes can never leave
                n = len(data)
            if n < len(data):
                self._chunks.append(data[n:])
                self._buffered += len(data) - n
            if not self._in_service:  # else the pass running now sends it
                self._stack.kick(self._conn)
        else:
            if type(data) is bytes and len(data) <= _WRITE_CHUNK:
                self._chunks.append(data)  # immutable: no copy needed
                self._buffered += len(data)
            else:
                view = memoryview(data).cast("B")
                for i in range(0, len(view), _WRITE_CHUNK):
                    self._chunks.append(bytes(view[i : i + _WRITE_CHUNK]))
                self._buffered += len(view)
            if self._made:
                self._pump_writes()
                if not self._in_service:  # else the pass running now sends it
                    self._stack.kick(self._conn)
        if not self._protocol_paused and self._buffered > self._high:
            self._protocol_paused = True
            self._protocol.pause_writing()

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        self.write(b"".join(list_of_data))

    def write_eof(self) -> None:
        """Half-close: FIN after the queued data (RFC 9293 §3.10.4, CLOSE as shutdown)."""
        if self._eof_wanted or self._closing:
            return
        self._eof_wanted = True
        if self._made:
            self._pump_writes()
        self._stack.kick(self._conn)

    def can_write_eof(self) -> bool:
        return True


def _address(endpoint: Any) -> tuple[str, int] | None:
    if endpoint is None:
        return None
    addr, port = endpoint
    return str(addr), int(port)


class WireTrace:
    """Shows a Stack's traffic: tcpdump lines for every packet, `#` lines for state changes, and
    a capture file (LINKTYPE_RAW, as tcpdump writes for a TUN device).

    Use `tap` and `on_transition` as the Stack's hooks.
    """

    def __init__(
        self,
        out: TextIO | None = None,
        pcap: str | None = None,
        *,
        packets: bool = True,
        states: bool = True,
    ) -> None:
        from synack.capture.tcpdump import TcpdumpFormatter
        from synack.capture.writer import open_writer

        self.out = out or sys.stdout
        self.packets = packets
        self.states = states
        self.formatter = TcpdumpFormatter()
        self.capture = open_writer(pcap, LINKTYPE_RAW) if pcap else None
        self.lines: list[str] = []

    def tap(self, timestamp_ns: int, packet: bytes, outgoing: bool) -> None:
        if self.capture is not None:
            self.capture.write(timestamp_ns, packet)
        if self.packets:
            line = self.formatter.format(timestamp_ns, LINKTYPE_RAW, packet)
            if line is not None:
                self.lines.append(line)
                print(line, file=self.out, flush=True)

    def on_transition(self, conn: Any, old: State, new: State, cause: str) -> None:
        """Print a state change as it happens, between the packets that cause and follow it."""
        if self.states:
            print(f"# {describe(conn)}: {old} -> {new} ({cause})", file=self.out, flush=True)

    def close(self) -> None:
        if self.capture is not None:
            self.capture.close()
            self.capture = None


LINKTYPE_RAW = 101  # raw IPv4/IPv6, what tcpdump records on a TUN device


def describe(conn: Any) -> str:
    """`192.0.2.2.8080 > 192.0.2.1.41234`, the way tcpdump names the two ends."""
    local, remote = _address(conn.local), _address(conn.remote)
    if local is None or remote is None:
        return "synack"
    return f"{local[0]}.{local[1]} > {remote[0]}.{remote[1]}"
