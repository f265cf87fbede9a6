"""Socket programs on the simulated network.

A scenario's programs are `async def` functions that read like the socket programs of the seed
articles (`connect()`, `accept()`, `send()`, `recv()`, `shutdown()`, `close()`). They run on the
virtual clock: a blocking call suspends its program until the connection's events say it can
return, then the program resumes `latency` seconds later. Every call is logged with the state it
left the connection in (`client: connect() -> SYN_SENT`), and every state change a segment causes
is logged as it happens, so the transcript interleaves calls, transitions and wire lines.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass, replace
from typing import Any

from synack.net.sim import Network, Node
from synack.tcp.events import (
    ConnectionClosed,
    ConnectionFailed,
    EndOfStream,
    Event,
    StateChanged,
)
from synack.tcp.state import State

Logger = Callable[[str, str], None]
"""(actor, text) -> None: where calls and transitions are reported."""


class _Wait:
    """What a suspended program waits for: `check()` returns (ready, value) or raises."""

    __slots__ = ("check", "until")

    def __init__(self, check: Callable[[], tuple[bool, Any]], until: float | None = None) -> None:
        self.check = check
        self.until = until

    def __await__(self) -> Generator[_Wait, Any, Any]:
        value = yield self
        return value


@dataclass(slots=True)
class _Watched:
    """A connection whose events are pumped into the log (accepted or not yet)."""

    conn: Any
    actor: str
    eof: bool = False
    error: OSError | None = None
    closed: bool = False


class Endpoint:
    """One host's programs: its sockets, its suspended calls and its log name."""

    def __init__(
        self,
        net: Network,
        node: Node,
        actor: str,
        log: Logger,
        latency: float,
        transitions: list[tuple[str, State, State]] | None = None,
    ) -> None:
        self.net = net
        self.node = node
        self.actor = actor
        self.log = log
        self.latency = latency
        self.watched: list[_Watched] = []
        self.transitions = transitions if transitions is not None else []
        """(actor, old, new) of every state change of this host's connections, in order."""
        self.waiting: list[tuple[_Wait, Coroutine[Any, Any, Any]]] = []
        self.in_call: _Watched | None = None
        self.call_states: list[State] = []
        self.errors: list[BaseException] = []
        self.finished = 0
        self.started = 0
        self._checking = False
        net.after_activity.append(self._activity)
        self.host.on_transition = self._transition

    @property
    def host(self) -> Any:
        return self.node.host

    # -- programs ------------------------------------------------------------------------------

    def spawn(
        self, program: Callable[[Endpoint], Coroutine[Any, Any, Any]], at: float = 0.0
    ) -> None:
        """Start `program(self)` at virtual time `at`."""
        coro = program(self)
        self.started += 1
        self.net.call_at(at, self._step, coro, None, None)

    def socket(self) -> SimSocket:
        return SimSocket(self)

    def sleep(self, seconds: float) -> _Wait:
        until = self.net.now + seconds
        return _Wait(lambda: (self.net.now >= until, None), until)

    def _step(
        self, coro: Coroutine[Any, Any, Any], value: Any, exc: BaseException | None
    ) -> None:
        while True:
            try:
                wait = coro.send(value) if exc is None else coro.throw(exc)
            except StopIteration:
                self.finished += 1
                return
            except Exception as error:  # a program failed: keep it for the scenario
                self.errors.append(error)
                self.finished += 1
                return
            assert isinstance(wait, _Wait), wait
            value, exc = None, None
            try:
                ready, value = wait.check()
            except OSError as error:
                exc = error
                continue
            if ready:
                continue
            if wait.until is not None:
                self.net.call_at(wait.until, self._wake_sleep, wait, coro)
            self.waiting.append((wait, coro))
            return

    def _wake_sleep(self, wait: _Wait, coro: Coroutine[Any, Any, Any]) -> None:
        for i, (w, _) in enumerate(self.waiting):
            if w is wait:
                del self.waiting[i]
                self._step(coro, None, None)
                return

    def _activity(self, node: Node) -> None:
        if node is not self.node:
            return
        self.pump()
        if not self.waiting or self._checking:
            return
        self._checking = True
        try:
            self._check_waiting()
        finally:
            self._checking = False

    def _check_waiting(self) -> None:
        still: list[tuple[_Wait, Coroutine[Any, Any, Any]]] = []
        waiting, self.waiting = self.waiting, []
        for wait, coro in waiting:
            if wait.until is not None:
                still.append((wait, coro))
                continue
            try:
                ready, value = wait.check()
                exc: BaseException | None = None
            except OSError as error:
                ready, value, exc = True, None, error
            if ready:
                self.net.call_later(self.latency, self._step, coro, value, exc)
            else:
                still.append((wait, coro))
        self.waiting = still + self.waiting

    # -- connection events ---------------------------------------------------------------------

    def watch(self, conn: Any) -> _Watched:
        for w in self.watched:
            if w.conn is conn:
                return w
        w = _Watched(conn, self.actor)
        self.watched.append(w)
        if conn.on_transition is None:
            conn.on_transition = self._transition
        return w

    def pump(self) -> None:
        """Drain every watched connection's events into the log, and discover connections the
        host created by itself (a listener's embryonic connections)."""
        for w in self.watched:
            if w.closed:
                continue
            while True:
                event = w.conn.next_event()
                if event is None:
                    break
                self._event(w, event)

    def _transition(self, conn: Any, old: State, new: State, cause: str) -> None:
        """The host's (and our connections') state-change hook: log as it happens."""
        self.transitions.append((self.actor, old, new))
        in_call = self.in_call
        if in_call is not None and (in_call.conn is conn or in_call.conn is None):
            self.call_states.append(new)
        else:
            self.log(self.actor, f"{old} -> {new}" + (f"  ({cause})" if cause else ""))

    def _event(self, w: _Watched, event: Event) -> None:
        if isinstance(event, StateChanged):
            pass  # logged by _transition as it happened
        elif isinstance(event, EndOfStream):
            w.eof = True
        elif isinstance(event, ConnectionFailed):
            w.error = event.error
        elif isinstance(event, ConnectionClosed):
            w.closed = True

    def call(
        self, w: _Watched | None, text: str, fn: Callable[[], Any], created: list[Any] | None = None
    ) -> Any:
        """Run a socket call on the host now and log it with the state(s) it led to."""
        self.in_call, self.call_states = w, []
        try:
            result = self.net.interact(self.node, fn)
        finally:
            states = self.call_states
            self.in_call, self.call_states = None, []
        if not states and created:
            states = [created[0].state]  # transitions inside the call that made the connection
        if states:
            text += " -> " + " -> ".join(str(s) for s in states)
        self.log(self.actor, text)
        return result


def _addr(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(address)


class SimSocket:
    """A stream socket of one endpoint (`socket(AF_INET, SOCK_STREAM)` on the simulated host)."""

    def __init__(self, endpoint: Endpoint, watched: _Watched | None = None) -> None:
        self.ep = endpoint
        self.w = watched
        self.port: int | None = None

    @property
    def conn(self) -> Any:
        assert self.w is not None, "socket is not connected"
        return self.w.conn

    @property
    def state(self) -> State:
        if self.w is None:
            return State.LISTEN if self.port is not None else State.CLOSED
        state = self.w.conn.state
        assert isinstance(state, State)
        return state

    # -- passive open --------------------------------------------------------------------------

    def listen(self, port: int, backlog: int = 128) -> None:
        """bind() + listen(): the host answers SYNs to `port` from now on."""
        self.port = port
        self.ep.call(None, f"listen({port}) -> LISTEN",
                     lambda: self.ep.host.listen(port, backlog=backlog))

    async def accept(self) -> SimSocket:
        """Wait for a connection that completed its handshake (RFC 9293 §3.10.1 passive OPEN)."""
        assert self.port is not None, "accept() on a socket that is not listening"
        port = self.port
        ep = self.ep

        def check() -> tuple[bool, Any]:
            conn = ep.host.accept(port)
            return (conn is not None, conn)

        conn = await _Wait(check)
        ep.pump()
        w = ep.watch(conn)
        peer = conn.remote
        ep.log(ep.actor, f"accept() = {_endpoint_text(peer)} ({conn.state})")
        return SimSocket(ep, w)

    # -- active open ---------------------------------------------------------------------------

    async def connect(self, address: str, port: int, *, local_port: int | None = None) -> None:
        """Active OPEN (RFC 9293 §3.10.1): send a SYN, wait for the handshake to complete."""
        self.start_connect(address, port, local_port=local_port, blocking=True)
        await self.connected()

    def start_connect(
        self, address: str, port: int, *, local_port: int | None = None, blocking: bool = False
    ) -> None:
        """connect() on a non-blocking socket: send the SYN and return at once (EINPROGRESS)."""
        ep = self.ep
        holder: list[Any] = []

        def do() -> Any:
            conn = ep.host.connect(_addr(address), port, ep.net.now, local_port=local_port)
            holder.append(conn)
            return conn

        suffix = "" if blocking else " (non-blocking)"
        ep.call(_Watched(None, ep.actor), f"connect({address}:{port}){suffix}", do, holder)
        self.w = ep.watch(holder[0])

    async def connected(self) -> None:
        """Wait until the handshake completes (or fails: refused, reset, timed out)."""
        ep, w = self.ep, self.w
        assert w is not None

        def check() -> tuple[bool, Any]:
            if w.error is not None:
                raise w.error
            state = w.conn.state
            if state.synchronized:
                return True, None
            if state is State.CLOSED:
                raise w.conn.error or ConnectionResetError("connection closed")
            return False, None

        try:
            await _Wait(check)
        except OSError as error:
            ep.log(ep.actor, f"connect() fails: {type(error).__name__}")
            raise
        ep.log(ep.actor, f"connect() returns ({self.state})")

    def set_keepalive(self, idle: float, interval: float, probes: int) -> None:
        """setsockopt(SO_KEEPALIVE, 1) with TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT."""
        ep, w = self.ep, self.w
        assert w is not None
        conn = w.conn
        conn.config = replace(conn.config, keepalive_idle=idle, keepalive_interval=interval,
                              keepalive_probes=probes)
        ep.call(w, f"setsockopt(SO_KEEPALIVE, 1; TCP_KEEPIDLE {idle:g}, TCP_KEEPINTVL "
                   f"{interval:g}, TCP_KEEPCNT {probes})",
                lambda: conn.set_keepalive(True, ep.net.now))

    def set_nodelay(self, on: bool = True) -> None:
        """setsockopt(IPPROTO_TCP, TCP_NODELAY): turn Nagle's algorithm off (or back on)."""
        ep, w = self.ep, self.w
        assert w is not None
        ep.call(w, f"setsockopt(IPPROTO_TCP, TCP_NODELAY, {int(on)})",
                lambda: w.conn.set_nodelay(on, ep.net.now))

    # -- data ----------------------------------------------------------------------------------

    async def send(self, data: bytes) -> int:
        """sendall(): queue every byte, waiting for send-buffer space as needed."""
        ep, w = self.ep, self.w
        assert w is not None
        sent = ep.call(w, f"send({len(data)} bytes)", lambda: w.conn.send(data, ep.net.now))
        total = int(sent)
        while total < len(data):
            rest = data[total:]

            def check(rest: bytes = rest) -> tuple[bool, Any]:
                if w.error is not None:
                    raise w.error
                n = int(ep.net.interact(ep.node, lambda: w.conn.send(rest, ep.net.now)))  # type: ignore[call-overload]
                return (n > 0, n)

            total += int(await _Wait(check))
        return total

    async def recv(self, max_bytes: int = 65536) -> bytes:
        """Wait for bytes (or the end of the stream: b"")."""
        ep, w = self.ep, self.w
        assert w is not None

        def check() -> tuple[bool, Any]:
            data = ep.net.interact(ep.node, lambda: w.conn.receive(max_bytes, ep.net.now))
            assert isinstance(data, bytes)
            if data:
                return True, data
            ep.pump()
            if w.eof:
                return True, b""
            if w.error is not None:
                raise w.error
            if w.conn.state is State.CLOSED:
                raise w.conn.error or ConnectionResetError("connection closed")
            return False, None

        try:
            data = await _Wait(check)
        except OSError as error:
            ep.log(ep.actor, f"recv() fails: {type(error).__name__}")
            raise
        assert isinstance(data, bytes)
        ep.log(ep.actor, f"recv() = {len(data)} bytes" if data else "recv() = EOF")
        return data

    async def recv_until_eof(self) -> bytes:
        chunks = []
        while chunk := await self.recv():
            chunks.append(chunk)
        return b"".join(chunks)

    async def recv_exactly(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = await self.recv(n - len(buf))
            if not chunk:
                break
            buf += chunk
        return buf

    # -- close ---------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """shutdown(SHUT_WR): send FIN, keep receiving (half-close, RFC 9293 §3.6)."""
        w = self.w
        assert w is not None
        self.ep.call(w, "shutdown(SHUT_WR)", lambda: w.conn.shutdown(self.ep.net.now))

    def close(self) -> None:
        """close(): FIN after queued data (or RST if unread data is pending, as Linux)."""
        if self.w is None:
            if self.port is not None:
                port = self.port
                unlisten = getattr(self.ep.host, "unlisten", None) or getattr(
                    self.ep.host, "close_listener", None
                )
                if unlisten is not None:
                    self.ep.call(None, f"close() listener {port}", lambda: unlisten(port))
            return
        w = self.w
        self.ep.call(w, "close()", lambda: w.conn.close(self.ep.net.now))

    def abort(self) -> None:
        """close() with SO_LINGER {on, 0}: send RST and drop the connection (RFC 9293 §3.10.5)."""
        w = self.w
        assert w is not None
        self.ep.call(w, "close() with SO_LINGER 0", lambda: w.conn.abort(self.ep.net.now))


def _endpoint_text(remote: Any) -> str:
    if isinstance(remote, tuple) and len(remote) == 2:
        return f"{remote[0]}:{remote[1]}"
    return str(remote)
