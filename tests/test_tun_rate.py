"""The per-packet shortcuts of the host, the connection and the TUN driver, checked against the
general paths they stand in for.

- `Host.fast_lane`: common packet shapes are decoded in place and reach connections as header
  fields (`Connection.fields_arrived`, `syn_fields_arrived`), where the next in-order segment is
  predicted (`_arrive_predicted`). A host without the lane parses every packet into a TcpSegment
  and runs `segment_arrived`: both must answer every packet byte for byte alike and hold the same
  connection state after it, whatever the packets are.
- Segments leave as plain fields (`SegmentFields`) that the host packs directly: the bytes must be
  those of the TcpSegment they stand for.
- The Stack reads and writes its device in batches, sends the host's own answers before the
  programs run, and skips a second pass after a write from inside a callback: an echo server on a
  socket pair must still answer every connection in full.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import sys
from collections.abc import Callable
from ipaddress import ip_address
from typing import Any

import pytest

from synack.host import Host
from synack.tcp.buffers import ReceiveBuffer, SendBuffer
from synack.tcp.config import TcpConfig
from synack.tcp.connection import Connection, fields_segment
from synack.tcp.state import State
from synack.wire.ip import build_tcp_packet, parse_tcp_packet
from synack.wire.tcp import TcpFlags, TcpSegment, Timestamps

CLIENT = ip_address("192.0.2.1")
SERVER = ip_address("192.0.2.2")
PORT = 80

# ---- the host with its lane and without it, on the same packets ----------------------------------

# TCB fields compared as they are; the others hold objects compared by their contents below.
_SKIP = {"_host", "_limiter", "on_transition", "config", "_rto", "_cc", "_sndbuf", "_rcvbuf",
         "_events", "_ect_ids", "ect_sent", "local", "remote", "_board"}


def tcb(conn: Connection) -> dict[str, Any]:
    """Everything a connection holds, as comparable values."""
    state = {name: getattr(conn, name) for name in Connection.__slots__ if name not in _SKIP}
    for name in ("_rto", "_cc"):
        part = getattr(conn, name)
        state[name] = None if part is None else {s: getattr(part, s) for s in part.__slots__}
    state["_board"] = None if conn._board is None else list(conn._board.ranges)
    snd = conn._sndbuf
    state["_sndbuf"] = None if snd is None else (bytes(snd._data[snd._start:]), snd.size)
    rcv = conn._rcvbuf
    state["_rcvbuf"] = None if rcv is None else (
        bytes(rcv._ready), rcv.next, list(rcv._starts), [bytes(c) for c in rcv._chunks],
        rcv.last_range,
    )
    state["_events"] = list(conn._events or ())
    state["ect"] = (len(conn._ect_ids), len(conn.ect_sent))
    state["addresses"] = (conn.local, conn.remote)
    return state


class Twins:
    """A client host talking to `fast`, and `slow`, the same server host without the lane, fed
    every packet `fast` gets; both answers and all state are compared after each packet."""

    def __init__(self, rng: random.Random, client: TcpConfig, server: TcpConfig,
                 offload: bool) -> None:
        self.rng = rng
        self.now = 1.0
        self.client = Host([CLIENT], config=client, secret=b"client")
        self.fast = Host([SERVER], config=server, secret=b"server")
        self.slow = Host([SERVER], config=server, secret=b"server")
        self.slow.fast_lane = False
        for host in (self.client, self.fast, self.slow):
            host.checksum_offload = offload
        for host in (self.fast, self.slow):
            host.listen(PORT, backlog=4)
        self.clients: list[Connection] = []
        self.servers: list[tuple[Connection, Connection]] = []
        self.to_server: list[bytes] = []
        self.compared = 0

    def check(self) -> None:
        out = self.fast.packets_to_send()
        assert out == self.slow.packets_to_send()
        assert self.fast.stats.as_dict() == self.slow.stats.as_dict()
        assert self.fast.next_deadline() == self.slow.next_deadline()
        assert list(self.fast._conns) == list(self.slow._conns)
        for key, conn in self.fast._conns.items():
            assert tcb(conn) == tcb(self.slow._conns[key]), key
        assert self.fast._tw == self.slow._tw
        self.compared += 1
        for packet in out:
            if self.rng.random() < 0.9:  # some answers are lost on the way back
                self.client.receive_packet(packet, self.now)
        while (a := self.fast.accept(PORT)) is not None:
            b = self.slow.accept(PORT)
            assert b is not None and a.host_key == b.host_key
            self.servers.append((a, b))
        assert self.slow.accept(PORT) is None

    def deliver(self, packet: bytes) -> None:
        for host in (self.fast, self.slow):
            host.receive_packet(packet, self.now)
        self.check()

    def both(self, act: Callable[[Connection], object]) -> None:
        """A program call on a server connection, made on both twins."""
        a, b = self.rng.choice(self.servers)
        for conn in (a, b):
            with contextlib.suppress(OSError):
                act(conn)
        self.check()

    def step(self) -> None:
        rng, now = self.rng, self.now
        pick = rng.random()
        live = [c for c in self.clients if c.state is not State.CLOSED]
        if pick < 0.08 and len(live) < 4:
            self.clients.append(self.client.connect(SERVER, PORT, now))
        elif pick < 0.25 and live:
            c = rng.choice(live)
            with contextlib.suppress(OSError):
                c.send(rng.randbytes(rng.choice((1, 16, 700, 1448, 3000))), now)
        elif pick < 0.30 and live:
            c = rng.choice(live)
            rng.choice((c.close, c.shutdown, c.abort, c.close))(now)
        elif pick < 0.33 and live:
            rng.choice(live).receive()
        elif pick < 0.45 and self.servers:
            size = rng.choice((1, 16, 1000, 5000))
            self.both(lambda conn: conn.send(bytes(size), now))
        elif pick < 0.52 and self.servers:
            most = rng.choice((-1, 1, 100))
            self.both(lambda conn: conn.receive(most))
        elif pick < 0.56 and self.servers:
            act = rng.choice(("close", "shutdown", "abort"))
            self.both(lambda conn: getattr(conn, act)(now))
        elif pick < 0.70:
            self.now += rng.choice((0.0005, 0.03, 0.25, 1.5))
            for host in (self.client, self.fast, self.slow):
                deadline = host.next_deadline()
                if deadline is not None and deadline <= self.now:
                    host.handle_timer(self.now)
            self.check()
        self.to_server += self.client.packets_to_send()
        self.carry()

    def carry(self) -> None:
        """Client packets to the servers: some lost, duplicated, reordered or altered."""
        rng = self.rng
        queue, self.to_server = self.to_server, []
        rng.shuffle(queue) if rng.random() < 0.2 else None
        for packet in queue:
            roll = rng.random()
            if roll < 0.05:
                continue
            if roll < 0.25:
                packet = self.altered(packet)
            self.deliver(packet)
            if rng.random() < 0.05:
                self.deliver(packet)

    def altered(self, packet: bytes) -> bytes:
        """The packet with one field changed (checksums made right again)."""
        rng = self.rng
        _, seg = parse_tcp_packet(packet)
        flags = int(seg.flags)
        change = rng.randrange(9)
        tos = 0
        if change == 0:
            flags ^= rng.choice((TcpFlags.RST, TcpFlags.SYN, TcpFlags.FIN, TcpFlags.URG,
                                 TcpFlags.ECE, TcpFlags.CWR, TcpFlags.PSH, TcpFlags.ACK))
        elif change == 1:
            seg = seg_replace(seg, seq=(seg.seq + rng.choice((-3000, -1, 1, 70000))) & 0xFFFFFFFF)
        elif change == 2:
            seg = seg_replace(seg, ack=(seg.ack + rng.choice((-70000, -1, 1, 5000))) & 0xFFFFFFFF)
        elif change == 3:  # no timestamps option
            seg = seg_replace(seg, options=tuple(o for o in seg.options
                                                 if not isinstance(o, Timestamps)))
        elif change == 4:  # an older TSval (PAWS drops it; TS.Recent must not go back)
            ts = seg.timestamps
            if ts is not None:
                old = Timestamps((ts.value - 5) & 0xFFFFFFFF, ts.echo)
                seg = seg_replace(seg, options=tuple(old if isinstance(o, Timestamps) else o
                                                     for o in seg.options))
        elif change == 5:
            tos = 3  # Congestion Experienced
        elif change == 6:
            seg = seg_replace(seg, window=rng.choice((0, 1, 65535)))
        elif change == 7:  # more text than was sent: past the window's edge, perhaps
            seg = seg_replace(seg, payload=seg.payload + rng.randbytes(rng.choice((1, 2, 90))))
        else:
            seg = seg_replace(seg, payload=seg.payload[: len(seg.payload) // 2], urgent=5)
        seg = seg_replace(seg, flags=TcpFlags(flags), checksum=None)
        return build_tcp_packet(CLIENT, SERVER, seg, tos=tos)


def seg_replace(seg: TcpSegment, **changes: Any) -> TcpSegment:
    fields = {name: getattr(seg, name) for name in TcpSegment.__dataclass_fields__}
    fields.update(changes)
    return TcpSegment(**fields)


CONFIGS = [
    (TcpConfig(), TcpConfig(), False),
    (TcpConfig(), TcpConfig(), True),
    (TcpConfig(timestamps=False), TcpConfig(delayed_ack=0.0), False),
    (TcpConfig(sack=False, window_scale=None), TcpConfig(rfc5961_ack=False), False),
    (TcpConfig(ecn=1), TcpConfig(rcv_buf=4000, rst_on_unread_close=False), True),
    (TcpConfig(mss=536), TcpConfig(rcv_buf=3000, rfc5961_rst=False, rfc5961_syn=False), False),
    (TcpConfig(), TcpConfig(drop_missing_timestamps=True, rfc1337=True), False),
    (TcpConfig(mss=700, nagle=None), TcpConfig(rcv_buf=1500, mss=700, nagle=None), False),
]


@pytest.mark.parametrize("seed", range(len(CONFIGS) * 2))
def test_the_fast_lane_answers_and_keeps_state_as_the_general_path(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, server, offload = CONFIGS[seed % len(CONFIGS)]
    twins = Twins(random.Random(seed), client, server, offload)
    taken = {True: 0, False: 0}
    predicted = Connection._arrive_predicted

    def counting(conn: Connection, *args: Any) -> bool:
        done = predicted(conn, *args)
        taken[done] += conn.host_key in twins.fast._conns
        return done

    monkeypatch.setattr(Connection, "_arrive_predicted", counting)
    for _ in range(1500):
        twins.step()
    # Both paths ran many times, on many kinds of segments, and never disagreed (with ECN in
    # use the prediction steps aside: RFC 3168 marks are for the general path).
    assert twins.compared > 900 and twins.fast.stats.segments_accepted > 350
    if client.ecn == 1:
        assert taken[False] > 150
    else:
        assert taken[True] > 120 and taken[False] > 15


def test_the_lane_takes_the_common_segments() -> None:
    """The lane is not idle: an exchange of requests and answers goes through it, and the
    connections predict every in-order segment."""
    calls: dict[str, int] = {"fields": 0, "predicted": 0, "general": 0}
    server = Host([SERVER], secret=b"server")
    client = Host([CLIENT], secret=b"client")
    server.listen(PORT)
    original = (Connection.fields_arrived, Connection._arrive_predicted, Connection._arrive)

    def counting(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any) -> Any:
            calls[name] += 1
            return method(*args)
        return wrapper

    try:
        Connection.fields_arrived = counting("fields", original[0])  # type: ignore[method-assign]
        Connection._arrive_predicted = counting(  # type: ignore[method-assign]
            "predicted", original[1])
        Connection._arrive = counting("general", original[2])  # type: ignore[method-assign]
        c = client.connect(SERVER, PORT, 0.0)
        exchange(client, server)
        s = server.accept(PORT)
        assert s is not None
        for _ in range(5):
            c.send(b"q" * 100, 0.0)
            exchange(client, server)
            assert s.receive() == b"q" * 100
            s.send(b"r" * 1000, 0.0)
            exchange(client, server)
            assert c.receive() == b"r" * 1000
        c.close(0.0)
        exchange(client, server)
        s.close(0.0)
        exchange(client, server)
    finally:
        (Connection.fields_arrived, Connection._arrive_predicted,  # type: ignore[method-assign]
         Connection._arrive) = original
    # Both ends: everything but the SYNs and the first SYN-ACK, and no general path at all.
    assert calls["general"] == 0
    assert calls["fields"] == calls["predicted"] >= 15
    assert list(server.connections) == [] and client.time_wait_count == 1


def exchange(a: Host, b: Host) -> None:
    moved = True
    while moved:
        moved = False
        for x, y in ((a, b), (b, a)):
            for packet in x.packets_to_send():
                y.receive_packet(packet, 0.0)
                moved = True


def test_a_syn_for_no_listener_or_a_full_backlog_is_handled_as_before() -> None:
    """The SYN lane hands over only SYNs a listener takes: the rest go the general way."""
    for fast_lane in (True, False):
        server = Host([SERVER], secret=b"server")
        server.fast_lane = fast_lane
        client = Host([CLIENT], secret=b"client")
        server.listen(PORT, backlog=1)
        client.connect(SERVER, 81, 0.0)  # no listener: RST, ACK
        client.connect(SERVER, PORT, 0.0)
        client.connect(SERVER, PORT, 0.0)  # the backlog of one is full
        for packet in client.packets_to_send():
            server.receive_packet(packet, 0.0)
        answers = [parse_tcp_packet(p)[1] for p in server.packets_to_send()]
        assert [int(seg.flags) for seg in answers] == [
            TcpFlags.RST | TcpFlags.ACK, TcpFlags.SYN | TcpFlags.ACK,
        ]
        assert (server.stats.resets_sent, server.stats.syn_dropped) == (1, 1)


# ---- segments as plain fields --------------------------------------------------------------------


@pytest.mark.parametrize("offload", [False, True])
def test_fields_build_the_bytes_of_the_segment_they_stand_for(offload: bool) -> None:
    rng = random.Random(11)
    host = Host([SERVER], secret=b"x")
    host.checksum_offload = offload
    for i in range(1500):
        key = (SERVER.packed, rng.getrandbits(16), CLIENT.packed, rng.getrandbits(16))
        if i % 3 == 2:  # another peer: other addresses
            key = (SERVER.packed, key[1], bytes(rng.getrandbits(8) for _ in range(4)), key[3])
        tsval = None if i % 4 == 0 else rng.choice((0, 0xFFFFFFFF, rng.getrandbits(32)))
        plain = (
            rng.getrandbits(9), rng.choice((0, 0xFFFFFFFF, rng.getrandbits(32))),
            rng.getrandbits(32), rng.getrandbits(16), tsval,
            rng.choice((0, 0xFFFFFFFF, rng.getrandbits(32))),
            rng.randbytes(rng.choice((0, 1, 2, 3, 16, 1447, 1448))),
        )
        fields: Any = (*plain, None)
        if tsval is not None and i % 4 == 1:  # Linux's SYN options
            fields = (*plain, (rng.getrandbits(16), rng.randrange(15)))
        ecn = rng.choice((0, 0, 1, 2, 3))
        segment = fields_segment(key[1], key[3], fields)
        assert host._fields_packet(key, fields, ecn) == host._packet(key[0], key[2], segment, ecn)
        if not offload:
            assert build_tcp_packet(SERVER if key[0] == SERVER.packed else CLIENT,
                                    ip_address(key[2]), segment, tos=ecn) == (
                host._fields_packet(key, fields, ecn)
            )


def test_segments_to_send_turns_fields_into_segments_and_keeps_ect_marks() -> None:
    client, server = Host([CLIENT], secret=b"c"), Host([SERVER], secret=b"s")
    server.listen(PORT)
    c = client.connect(SERVER, PORT, 0.0, config=TcpConfig(ecn=1))
    exchange(client, server)
    assert c.ecn_ok
    c.send(b"x" * 10, 0.0)
    (seg,) = c.segments_to_send()
    assert type(seg) is TcpSegment and seg.payload == b"x" * 10
    assert c.ect_sent == {id(seg)}  # new data goes ECT(0) (RFC 3168 §6.1.2)
    assert [type(o).__name__ for o in seg.options] == ["Nop", "Nop", "Timestamps"]


def test_the_inlined_window_advertisement_matches_its_parts() -> None:
    """`_advertise` computes `_free_window` and `_rcv_window` itself: the field it returns must
    be what those give (and it never shrinks the window offered)."""
    rng = random.Random(3)
    for _ in range(3000):
        conn = Connection((SERVER, 1), (CLIENT, 2), config=TcpConfig(
            rcv_buf=rng.choice((1000, 65536, 1 << 20)), mss=rng.choice((536, 1460))))
        conn.ts_ok = rng.random() < 0.5
        conn.rcv_wscale = rng.randrange(15)
        conn._rcv_cap = rng.choice((0, 500, 65535, 1 << 20))
        conn.rcv_nxt = rng.getrandbits(32)
        conn.rcv_wup = (conn.rcv_nxt - rng.randrange(3000)) & 0xFFFFFFFF
        conn.rcv_wnd = rng.randrange(1 << 20)
        if rng.random() < 0.7:
            conn._rcvbuf = ReceiveBuffer(conn.config.rcv_buf)
            conn._rcvbuf.insert(0, bytes(rng.randrange(conn.config.rcv_buf)))
        free, cur, ws = conn._free_window(), conn._rcv_window(), conn.rcv_wscale
        if free < cur:
            free = ((cur + (1 << ws) - 1) >> ws) << ws
        nxt = conn.rcv_nxt
        assert conn._advertise() == min(free >> ws, 0xFFFF)
        assert conn.rcv_wup == nxt and conn.rcv_wnd == min(free >> ws, 0xFFFF) << ws


def test_send_buffer_size_follows_writes_and_acknowledgments() -> None:
    buf = SendBuffer(100)
    rng = random.Random(1)
    held = b""
    for _ in range(500):
        if rng.random() < 0.5:
            data = rng.randbytes(rng.randrange(60))
            n = buf.write(data)
            held += data[:n]
        else:
            n = buf.acknowledge(rng.randrange(60))
            held = held[n:]
        assert buf.size == len(buf) == len(held) and buf.peek(0, 1000) == held


# ---- the host's hooks ----------------------------------------------------------------------------


def test_transition_hook_reaches_connections_made_before_it_and_stops_when_removed() -> None:
    client, server = Host([CLIENT], secret=b"c"), Host([SERVER], secret=b"s")
    server.listen(PORT)
    c = client.connect(SERVER, PORT, 0.0)
    assert c.on_transition is None  # nobody listens: no call per change
    seen: list[tuple[State, State]] = []
    client.on_transition = lambda conn, old, new, cause: seen.append((old, new))
    exchange(client, server)
    assert seen == [(State.SYN_SENT, State.ESTABLISHED)]
    client.on_transition = None
    c.close(0.0)
    exchange(client, server)
    assert seen == [(State.SYN_SENT, State.ESTABLISHED)]
    own: list[State] = []
    c.on_transition = lambda conn, old, new, cause: own.append(new)
    client.on_transition = lambda conn, old, new, cause: None  # leaves a connection's own hook
    assert c.on_transition is not None and c.on_transition != client._report


def test_acceptable_counts_connections_waiting_to_be_accepted() -> None:
    client, server = Host([CLIENT], secret=b"c"), Host([SERVER], secret=b"s")
    server.listen(PORT)
    server.listen(PORT + 1)
    for port in (PORT, PORT, PORT + 1):
        client.connect(SERVER, port, 0.0)
    exchange(client, server)
    assert server.acceptable == 3
    assert server.accept(PORT) is not None and server.acceptable == 2
    server.unlisten(PORT, 0.0)
    assert server.acceptable == 1
    assert server.accept(PORT + 1) is not None and server.acceptable == 0
    assert server.accept(PORT + 1) is None and server.acceptable == 0


# ---- the TUN driver without a device -------------------------------------------------------------


def pair_tun(vnet: bool) -> tuple[Any, socket.socket]:
    """A Tun on one end of a datagram socket pair, and the other end."""
    from synack.net import tun

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    theirs.setblocking(False)
    return tun.Tun.on_socket(ours, vnet_hdr=vnet), theirs


def test_tun_batches_read_and_write_as_single_calls_do() -> None:
    from synack.net import tun

    v4 = build_tcp_packet(CLIENT, SERVER, TcpSegment(1, 2, 3, 4, TcpFlags.ACK, 5,
                                                     payload=b"abc"))
    v6 = build_tcp_packet(ip_address("2001:db8::1"), ip_address("2001:db8::2"),
                          TcpSegment(1, 2, 3, 4, TcpFlags.ACK, 5))
    device, peer = pair_tun(vnet=True)
    device.write_many([v4, v6, v4], partial=True)
    sent = [peer.recv(70000) for _ in range(3)]
    assert [s[0] for s in sent] == [tun.VNET_HDR_F_NEEDS_CSUM, 0, tun.VNET_HDR_F_NEEDS_CSUM]
    assert [s[10:] for s in sent] == [v4, v6, v4] and device.packets_written == 3
    # A partial checksum from the kernel is completed, unless the reader trusts it.
    partial = bytearray(v4)
    partial[36:38] = b"\0\0"
    header = tun.VNET_HDR.pack(tun.VNET_HDR_F_NEEDS_CSUM, 0, 0, 0, 20, 16)
    for packet in (bytes(partial), v6):
        peer.send(header + packet)
    assert device.read_many(1) == [tun.complete_checksum(bytes(partial), 20, 16)]
    assert device.read() == tun.complete_checksum(v6, 20, 16)
    assert device.read() is None and device.read_many(5) == []
    device.trust_partial = True
    for _ in range(3):
        peer.send(header + bytes(partial))
    assert device.read_many(2) == [bytes(partial)] * 2 and device.read_many(9) == [bytes(partial)]
    assert device.packets_read == 5
    plain, peer2 = pair_tun(vnet=False)
    plain.write_many([v4, v6])
    assert [peer2.recv(70000) for _ in range(2)] == [v4, v6]
    peer2.send(v6)
    assert plain.read_many(4) == [v6]


def test_tun_write_drops_are_counted_when_the_queue_is_full() -> None:
    device, _peer = pair_tun(vnet=True)
    packet = bytes(60000)
    device.write_many([packet] * 64)
    assert device.write_drops > 0
    assert device.packets_written + device.write_drops == 64
    assert device.write(packet) is False


def bench_tun_echo() -> Any:
    bench = os.path.join(os.path.dirname(__file__), "..", "benchmarks")
    sys.path.insert(0, bench)
    try:
        import bench_tun_echo
    finally:
        sys.path.remove(bench)
    return bench_tun_echo


def test_an_echo_server_on_the_stack_answers_every_connection() -> None:
    """bench_tun_echo's driver: the Stack, a real asyncio.Protocol and a scripted Linux client
    on a socket pair; every connection echoes and closes, nothing is left behind."""
    client, host = asyncio.run(bench_tun_echo().run(60))
    assert host.state_events is False  # no event hook: no StateChanged events are made
    assert client.echoed == client.finished == 60
    assert list(host.connections) == []
    stats = host.stats
    assert (stats.packets_received, stats.packets_sent) == (6 * 60, 4 * 60)
    assert stats.segments_accepted == 6 * 60 and stats.resets_sent == 0


def test_an_event_hook_still_hears_every_event_of_every_connection() -> None:
    from synack.tcp import events as ev

    heard: dict[Any, list[Any]] = {}
    client, host = asyncio.run(bench_tun_echo().run(
        4, on_event=lambda conn, event: heard.setdefault(conn, []).append(event)))
    assert host.state_events is True and client.echoed == 4 and len(heard) == 4
    closed, listen, syn_received, established, close_wait, last_ack = (
        State.CLOSED, State.LISTEN, State.SYN_RECEIVED, State.ESTABLISHED, State.CLOSE_WAIT,
        State.LAST_ACK,
    )
    for events in heard.values():
        assert [(e.old, e.new) for e in events if isinstance(e, ev.StateChanged)] == [
            (closed, listen), (listen, syn_received), (syn_received, established),
            (established, close_wait), (close_wait, last_ack), (last_ack, closed),
        ]
        assert [type(e).__name__ for e in events if not isinstance(e, ev.StateChanged)] == [
            "Connected", "DataReceived", "EndOfStream", "ConnectionClosed",
        ]


def test_one_hash_pass_gives_the_isn_and_the_timestamp_offset() -> None:
    from synack.tcp.isn import IsnGenerator

    isn = IsnGenerator(b"key")
    rng = random.Random(4)
    for _ in range(500):
        local, remote = rng.randbytes(rng.choice((4, 16))), rng.randbytes(4)
        ports = rng.getrandbits(16), rng.getrandbits(16)
        now = rng.random() * 1e6
        assert isn.isn_and_ts_offset(local, ports[0], remote, ports[1], now) == (
            isn.isn(local, ports[0], remote, ports[1], now),
            isn.ts_offset(local, ports[0], remote, ports[1]),
        )
