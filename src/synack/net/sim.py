"""A deterministic discrete-event network for sans-I/O hosts.

Hosts (anything with `receive_packet(data, now)`, `packets_to_send()`, `next_deadline()` and
`handle_timer(now)`, such as `synack.host.Host`) are joined by links. Each direction of a link has a
one-way delay, an optional bandwidth (serialization delay behind a bounded FIFO queue) and
`Faults` (loss, reordering, duplication, corruption, scripted drops). Time is virtual: the network
jumps from one event to the next (a packet arrival, a host deadline, a program's call) and never
sleeps. All randomness comes from one `random.Random(seed)`, so the same seed gives the same bytes.

A `Tap` on a host's interface records every packet it sends and receives, with virtual timestamps,
the way tcpdump on that machine would; it writes pcap or pcapng.
"""

from __future__ import annotations

import heapq
import ipaddress
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from synack.net.faults import Faults
from synack.wire.fastinit import fast_frozen_init

LINKTYPE_RAW = 101
MAX_SPINS = 1000  # timer firings at one instant before a host is declared stuck
NS = 1_000_000_000

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class SimHost(Protocol):
    """The sans-I/O surface of `synack.host.Host` the network drives."""

    def receive_packet(self, data: bytes, now: float) -> None: ...

    def packets_to_send(self) -> list[bytes]: ...

    def next_deadline(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...


def _dst_key(data: bytes) -> bytes:
    """The destination address bytes of an IPv4/IPv6 packet (b"" if unreadable)."""
    if not data:
        return b""
    version = data[0] >> 4
    if version == 4 and len(data) >= 20:
        return data[16:20]
    if version == 6 and len(data) >= 40:
        return data[24:40]
    return b""


@dataclass(slots=True)
class Channel:
    """One direction of a link: FIFO serialization at `bandwidth` bits/s (None: infinite) behind a
    queue of at most `queue_limit` packets, then `delay` seconds of propagation, then faults."""

    delay: float = 0.0
    bandwidth: float | None = None
    queue_limit: int = 1000
    faults: Faults = field(default_factory=Faults)
    _finish: deque[float] = field(default_factory=deque)
    sent: int = 0
    dropped_queue: int = 0

    def departures(self, now: float, size: int) -> float | None:
        """When a packet of `size` bytes offered at `now` has left the wire's far end of the queue
        (None: tail-dropped because the queue is full)."""
        if self.bandwidth is None:
            return now
        finish = self._finish
        while finish and finish[0] <= now:
            finish.popleft()
        if len(finish) >= self.queue_limit:
            self.dropped_queue += 1
            return None
        start = finish[-1] if finish else now
        done = max(start, now) + size * 8 / self.bandwidth
        finish.append(done)
        return done


@dataclass(slots=True)
class Link:
    """A point-to-point link between two nodes; `ab` carries a->b, `ba` carries b->a."""

    a: Node
    b: Node
    ab: Channel
    ba: Channel

    def channel_from(self, node: Node) -> Channel:
        return self.ab if node is self.a else self.ba

    def peer_of(self, node: Node) -> Node:
        return self.b if node is self.a else self.a


class Node:
    """A host placed on the network: its addresses, its routes and its pending timer."""

    def __init__(
        self, net: Network, name: str, host: SimHost, addresses: list[Address], tx_delay: float
    ) -> None:
        self.net = net
        self.name = name
        self.host = host
        self.addresses = addresses
        self.tx_delay = tx_delay
        """Time the stack takes between an input (packet, timer, call) and its output leaving."""
        self.routes: dict[bytes, Link] = {}
        self.default: Link | None = None
        self.timer_at: float | None = None
        self.last_fire = -1.0
        self.spins = 0
        self.taps: list[Tap] = []
        self.received = 0
        self.sent = 0

    def route(self, data: bytes) -> Link | None:
        return self.routes.get(_dst_key(data), self.default)

    def __repr__(self) -> str:
        return f"Node({self.name!r})"


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class TapRecord:
    timestamp_ns: int
    data: bytes
    outgoing: bool


class Tap:
    """Records what crosses one node's interface (like tcpdump on that machine): packets it sends
    as they leave, packets it receives as they arrive (corrupted ones included, lost ones not)."""

    def __init__(self, net: Network, node: Node, link_type: int = LINKTYPE_RAW) -> None:
        if link_type != LINKTYPE_RAW:
            raise ValueError("only LINKTYPE_RAW (101) captures are supported")
        self.net = net
        self.node = node
        self.link_type = link_type
        self.records: list[TapRecord] = []
        self.listeners: list[Callable[[TapRecord], None]] = []

    def record(self, now: float, data: bytes, outgoing: bool) -> None:
        rec = TapRecord(self.net.timestamp_ns(now), data, outgoing)
        self.records.append(rec)
        for listener in self.listeners:
            listener(rec)

    def write(self, path: str | Path) -> None:
        """Write the capture: pcapng for a `.pcapng` path, microsecond pcap otherwise."""
        from synack.capture.writer import open_writer

        with open_writer(Path(path), self.link_type) as writer:
            for rec in self.records:
                writer.write(rec.timestamp_ns, rec.data)


class Network:
    """The event loop, the virtual clock and the seeded RNG.

    `now` is virtual time in seconds since the start; `start_ns` is the wall-clock epoch (ns) that
    time 0 maps to in captures, so a scenario can make its timestamps read like a real capture."""

    def __init__(self, seed: int = 0, *, start_ns: int = 0) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.start_ns = start_ns
        self.now = 0.0
        self.nodes: dict[str, Node] = {}
        self.links: list[Link] = []
        # Future events in a heap by (time, order); events for the current instant (a packet on
        # a zero-delay link, a program's next step) in a FIFO beside it, by order of scheduling.
        self._queue: list[tuple[float, int, Callable[..., None], tuple[object, ...]]] = []
        self._ready: deque[tuple[int, Callable[..., None], tuple[object, ...]]] = deque()
        self._counter = 0
        self.events = 0
        self.after_activity: list[Callable[[Node], None]] = []
        """Called after a host took input (packet, timer or program call) and its output left."""
        self.notes: list[Callable[[str, str], None]] = []
        """Called with (who, text) for network-level notes (scripted drops and delays)."""

    # -- clock ---------------------------------------------------------------------------------

    def timestamp_ns(self, now: float | None = None) -> int:
        """Capture timestamp of virtual time `now`, rounded to the microsecond (as pcap keeps)."""
        t = self.now if now is None else now
        return self.start_ns + round(t * 1_000_000) * 1000

    # -- topology ------------------------------------------------------------------------------

    def add_host(
        self,
        name: str,
        host: SimHost,
        addresses: list[str] | list[Address],
        *,
        tx_delay: float = 0.0,
    ) -> Node:
        if name in self.nodes:
            raise ValueError(f"duplicate node name {name!r}")
        addrs = [ipaddress.ip_address(a) for a in addresses]
        node = Node(self, name, host, addrs, tx_delay)
        self.nodes[name] = node
        return node

    def link(
        self,
        a: Node,
        b: Node,
        *,
        delay: float = 0.0,
        bandwidth: float | None = None,
        queue_limit: int = 1000,
        faults: Faults | None = None,
        faults_ba: Faults | None = None,
    ) -> Link:
        """Join two nodes; `faults` impairs a->b, `faults_ba` b->a (default: the same settings,
        separate state)."""
        fab = faults or Faults()
        if faults_ba is None:
            faults_ba = Faults(fab.loss, fab.reorder, fab.duplicate, fab.corrupt, fab.reorder_delay)
        link = Link(
            a,
            b,
            Channel(delay, bandwidth, queue_limit, fab),
            Channel(delay, bandwidth, queue_limit, faults_ba),
        )
        self.links.append(link)
        for src, dst in ((a, b), (b, a)):
            for addr in dst.addresses:
                src.routes[addr.packed] = link
            if src.default is None:
                src.default = link
        return link

    def tap(self, node: Node, link_type: int = LINKTYPE_RAW) -> Tap:
        tap = Tap(self, node, link_type)
        node.taps.append(tap)
        return tap

    # -- scheduling ----------------------------------------------------------------------------

    def call_at(self, when: float, fn: Callable[..., None], *args: object) -> None:
        """Run `fn(*args)` at virtual time `when` (never earlier than now)."""
        self._counter += 1
        if when <= self.now:
            self._ready.append((self._counter, fn, args))
        else:
            heapq.heappush(self._queue, (when, self._counter, fn, args))

    def _next(self) -> tuple[float, Callable[..., None], tuple[object, ...]]:
        """Remove and return the earliest event: (time, fn, args); the queues are not both
        empty. An event of the heap due now that was scheduled first goes first."""
        ready, queue = self._ready, self._queue
        if ready and not (queue and queue[0][0] <= self.now and queue[0][1] < ready[0][0]):
            _, fn, args = ready.popleft()
            return self.now, fn, args
        when, _, fn, args = heapq.heappop(queue)
        return when, fn, args

    def call_later(self, delay: float, fn: Callable[..., None], *args: object) -> None:
        self.call_at(self.now + delay, fn, *args)

    def interact(self, node: Node, fn: Callable[[], object]) -> object:
        """Run a program's call on `node`'s host now, then send its output and re-arm its timer."""
        try:
            return fn()
        finally:
            self._after(node)

    def note(self, who: str, text: str) -> None:
        for listener in self.notes:
            listener(who, text)

    # -- running -------------------------------------------------------------------------------

    def step(self) -> bool:
        """Process the next event; False when nothing is left to do."""
        if not self._queue and not self._ready:
            return False
        when, fn, args = self._next()
        self.now = when
        self.events += 1
        fn(*args)
        return True

    def run(
        self,
        until: float | None = None,
        *,
        stop: Callable[[], bool] | None = None,
        max_events: int | None = None,
    ) -> None:
        """Process events in time order until none are left, the next one is after `until`
        (the clock then stands at `until`), `stop()` is true, or `max_events` were processed."""
        queue, ready, next_event = self._queue, self._ready, self._next
        count = 0
        try:
            while ready or queue:
                if until is not None and (self.now if ready else queue[0][0]) > until:
                    break
                if stop is not None and stop():
                    return
                if max_events is not None and count >= max_events:
                    return
                when, fn, args = next_event()
                self.now = when
                count += 1
                fn(*args)
            if until is not None:
                self.now = max(self.now, until)
        finally:
            self.events += count

    @property
    def idle(self) -> bool:
        return not self._queue and not self._ready

    # -- packet path ---------------------------------------------------------------------------

    def _after(self, node: Node) -> None:
        """A host took input: send what it produced, re-arm its timer, tell observers."""
        packets = node.host.packets_to_send()
        if packets:
            if node.tx_delay:
                self.call_at(self.now + node.tx_delay, self._depart_all, node, packets)
            else:
                self._depart_all(node, packets)
        self._arm(node)
        for observer in self.after_activity:
            observer(node)

    def _depart_all(self, node: Node, packets: list[bytes]) -> None:
        now = self.now
        for data in packets:
            node.sent += 1
            for tap in node.taps:
                tap.record(now, data, True)
            link = node.route(data)
            if link is None:
                continue
            channel = link.channel_from(node)
            channel.sent += 1
            done = channel.departures(now, len(data))
            if done is None:
                continue
            peer = link.peer_of(node)
            faults = channel.faults
            copies = faults.apply(data, self.rng, self._fault_note(node) if faults.rules else None)
            for extra, copy in copies:
                self.call_at(done + channel.delay + extra, self._arrive, peer, copy)

    def _fault_note(self, node: Node) -> Callable[[str], None]:
        return lambda text: self.note("network", text)

    def _arrive(self, node: Node, data: bytes) -> None:
        node.received += 1
        for tap in node.taps:
            tap.record(self.now, data, False)
        node.host.receive_packet(data, self.now)
        self._after(node)

    def _arm(self, node: Node) -> None:
        deadline = node.host.next_deadline()
        if deadline == node.timer_at:
            return
        node.timer_at = deadline
        if deadline is not None:
            self.call_at(deadline, self._fire, node, deadline)

    def _fire(self, node: Node, deadline: float) -> None:
        if node.timer_at != deadline:
            return  # superseded by a later re-arm
        if self.now == node.last_fire:
            node.spins += 1
            if node.spins > MAX_SPINS:
                raise RuntimeError(f"{node.name}: host deadline {deadline} does not advance")
        else:
            node.last_fire, node.spins = self.now, 0
        node.timer_at = None
        node.host.handle_timer(self.now)
        self._after(node)
