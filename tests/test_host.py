"""The host: demultiplexing, listeners, RST for no connection, TIME-WAIT records, bad packets."""

from __future__ import annotations

import random
from ipaddress import ip_address

import pytest

from synack.host import Host
from synack.tcp.config import TcpConfig
from synack.tcp.connection import Connection
from synack.tcp.state import State
from synack.wire.checksum import internet_checksum, pseudo_header_sum
from synack.wire.ip import build_tcp_packet, parse_ip, parse_tcp_packet
from synack.wire.tcp import TcpFlags, TcpSegment

CLIENT = ip_address("192.168.0.60")
SERVER = ip_address("192.168.0.61")


def pump(a: Host, b: Host, now: float = 0.0) -> list[tuple[str, TcpSegment]]:
    """Deliver packets both ways until quiet; returns what crossed."""
    crossed = []
    moved = True
    while moved:
        moved = False
        for name, x, y in (("a>b", a, b), ("b>a", b, a)):
            for packet in x.packets_to_send():
                crossed.append((name, parse_tcp_packet(packet)[1]))
                y.receive_packet(packet, now)
                moved = True
    return crossed


def hosts() -> tuple[Host, Host]:
    return Host([CLIENT], secret=b"client"), Host([SERVER], secret=b"server")


def flags(x: TcpSegment) -> int:
    return int(x.flags)


def test_handshake_accept_and_demux_of_two_connections() -> None:
    a, b = hosts()
    b.listen(80)
    c1 = a.connect(SERVER, 80, 0.0)
    c2 = a.connect(SERVER, 80, 0.0)
    assert c1.local[1] != c2.local[1]
    pump(a, b)
    s1, s2 = b.accept(80), b.accept(80)
    assert b.accept(80) is None
    assert s1 is not None and s2 is not None
    assert {s1.remote[1], s2.remote[1]} == {c1.local[1], c2.local[1]}
    c1.send(b"one", 0.0)
    c2.send(b"two", 0.0)
    pump(a, b)
    by_port = {s1.remote[1]: s1, s2.remote[1]: s2}
    assert by_port[c1.local[1]].receive() == b"one"
    assert by_port[c2.local[1]].receive() == b"two"


def test_syn_to_a_closed_port_gets_rst_ack_seq_0() -> None:
    a, b = hosts()
    c = a.connect(SERVER, 81, 0.0)
    crossed = pump(a, b)
    rst = crossed[1][1]
    assert flags(rst) == TcpFlags.RST | TcpFlags.ACK
    assert (rst.seq, rst.ack, rst.window, rst.options) == (0, (c.iss + 1) & 0xFFFFFFFF, 0, ())
    assert isinstance(c.error, ConnectionRefusedError)
    assert b.stats.resets_sent == 1
    assert list(a.connections) == []


def test_segment_for_no_connection_gets_rst_seq_ack() -> None:
    _, b = hosts()
    stray = TcpSegment(5555, 80, 1000, 777777, TcpFlags.PSH | TcpFlags.ACK, 500, payload=b"hi")
    b.receive_packet(build_tcp_packet(CLIENT, SERVER, stray), 0.0)
    (packet,) = b.packets_to_send()
    rst = parse_tcp_packet(packet)[1]
    assert (int(rst.flags), rst.seq, rst.ack, rst.window) == (TcpFlags.RST, 777777, 0, 0)
    # A RST is never answered.
    b.receive_packet(build_tcp_packet(CLIENT, SERVER, TcpSegment(5555, 80, 1, 0, TcpFlags.RST, 0)),
                     0.0)
    assert b.packets_to_send() == []


def test_malformed_and_corrupted_packets_are_counted_and_dropped() -> None:
    _, b = hosts()
    b.listen(80)
    good = build_tcp_packet(CLIENT, SERVER, TcpSegment(5555, 80, 1, 0, TcpFlags.SYN, 1000))
    corrupt = bytearray(good)
    corrupt[-1] ^= 0xFF  # inside the TCP header: the checksum fails
    for junk in (b"", b"\x45", good[:30], bytes(corrupt), b"\x60" + bytes(50), b"\xff" * 60):
        b.receive_packet(junk, 0.0)
    assert b.packets_to_send() == []
    assert b.stats.malformed + b.stats.bad_checksum == 6
    assert b.stats.bad_checksum >= 1
    other = build_tcp_packet(CLIENT, ip_address("10.9.9.9"), TcpSegment(1, 80, 1, 0,
                                                                        TcpFlags.SYN, 1))
    b.receive_packet(other, 0.0)
    assert b.stats.not_for_us == 1


COUNTERS = ("segments_accepted", "malformed", "bad_checksum", "not_for_us")


def fix_checksums(data: bytearray) -> None:
    """Recompute the IPv4 header and TCP checksums of a (mutated) packet wherever its layout
    still says where they are, so that the mutation reaches the parsers and the state machine."""
    if len(data) < 20:
        return
    if data[0] >> 4 == 6:
        if len(data) < 40 or data[6] != 6:
            return
        start, end = 40, 40 + int.from_bytes(data[4:6], "big")
        src, dst = bytes(data[8:24]), bytes(data[24:40])
    else:
        start, end = (data[0] & 15) * 4, int.from_bytes(data[2:4], "big")
        src, dst = bytes(data[12:16]), bytes(data[16:20])
        if start < 20 or start > len(data):
            return
        if data[9] == 6 and start + 18 <= end <= len(data):
            _fix_tcp_checksum(data, start, end, src, dst)
        data[10:12] = b"\0\0"
        data[10:12] = internet_checksum(bytes(data[:start])).to_bytes(2, "big")
        return
    if start + 18 <= end <= len(data):
        _fix_tcp_checksum(data, start, end, src, dst)


def _fix_tcp_checksum(data: bytearray, start: int, end: int, src: bytes, dst: bytes) -> None:
    data[start + 16 : start + 18] = b"\0\0"
    pseudo = pseudo_header_sum(src, dst, 6, end - start)
    data[start + 16 : start + 18] = internet_checksum(bytes(data[start:end]), pseudo).to_bytes(
        2, "big"
    )


def mutate(rng: random.Random, base: bytes) -> bytes:
    """A few random byte changes, mostly in the TCP header and options; sometimes a truncation
    with the IP length fields rewritten to match. Checksums are recomputed afterwards."""
    data = bytearray(base)
    ip_len = 40 if data[0] >> 4 == 6 else 20
    tcp_end = ip_len + (data[ip_len + 12] >> 4) * 4
    for _ in range(rng.randint(1, 4)):
        where = rng.random()
        if where < 0.7:
            pos = rng.randrange(ip_len, tcp_end)  # TCP header: ports, seq, ack, flags, options
        elif where < 0.85 and len(data) > tcp_end:
            pos = rng.randrange(tcp_end, len(data))  # payload
        else:
            pos = rng.randrange(ip_len)  # IP header: ECN, lengths, protocol, addresses
        if rng.random() < 0.5:
            data[pos] ^= 1 << rng.randrange(8)
        else:
            data[pos] = rng.randrange(256)
    if rng.random() < 0.1:
        del data[rng.randrange(ip_len, len(data) + 1) :]
        if base[0] >> 4 == 6:
            data[4:6] = max(len(data) - 40, 0).to_bytes(2, "big")
        else:
            data[2:4] = len(data).to_bytes(2, "big")
    fix_checksums(data)
    return bytes(data)


V6_CLIENT = ip_address("2001:db8::60")
V6_SERVER = ip_address("2001:db8::61")


def test_mutated_packets_with_valid_checksums_never_raise_and_are_all_counted() -> None:
    rng = random.Random(7)
    a = Host([CLIENT, V6_CLIENT], secret=b"client")
    b = Host([SERVER, V6_SERVER], secret=b"server")
    b.listen(80)
    # Real traffic from the client side as the material: SYNs with every option, the handshake's
    # ACK, data, and a FIN, over IPv4 and IPv6; the server's connections stay open throughout.
    bases: list[bytes] = []
    clients = [a.connect(SERVER, 80, 0.0), a.connect(V6_SERVER, 80, 0.0)]
    for _ in range(3):
        for packet in a.packets_to_send():
            bases.append(packet)
            b.receive_packet(packet, 0.0)
        for packet in b.packets_to_send():
            a.receive_packet(packet, 0.0)
    for c in clients:
        assert c.state is State.ESTABLISHED
        c.send(b"GET / HTTP/1.0\r\n\r\n", 0.0)
    bases += a.packets_to_send()
    for c in clients:
        c.shutdown(0.0)
    bases += a.packets_to_send()  # the FINs, held back: only mutated copies arrive
    assert {len(x) for x in bases} >= {52, 60, 72, 80}  # v4/v6, with and without options
    servers = [b.accept(80) for _ in clients]

    before = b.stats.as_dict()
    now = 0.0
    per_packet_ok = True
    for _ in range(3000):
        now += 0.01
        counts = [getattr(b.stats, name) for name in COUNTERS]
        b.receive_packet(mutate(rng, rng.choice(bases)), now)
        moved = [getattr(b.stats, name) - n for name, n in zip(COUNTERS, counts, strict=True)]
        per_packet_ok &= sorted(moved) == [0, 0, 0, 1]  # counted exactly once
        deadline = b.next_deadline()
        if deadline is not None and deadline <= now:
            b.handle_timer(now)
        b.packets_to_send()
        while b.accept(80) is not None:
            pass
    assert per_packet_ok
    after = b.stats.as_dict()
    got = {name: after[name] - before[name] for name in ("packets_received", *COUNTERS)}
    assert got["packets_received"] == 3000
    assert sum(got[name] for name in COUNTERS) == 3000
    # Every checksum was recomputed: nothing is dropped as corrupt, and most mutations reach
    # TCP (connections, listener, RST replies) rather than the parsers' error paths.
    assert got["bad_checksum"] == 0
    assert got["segments_accepted"] > 1200
    assert got["malformed"] > 50 and got["not_for_us"] > 50
    assert after["resets_sent"] > before["resets_sent"]
    assert after["packets_sent"] > before["packets_sent"]
    # The mutated copies of the client's segments drove the server's connections on.
    for server in servers:
        assert server is not None and server.state is not State.ESTABLISHED

    # The host still works: let every half-open connection time out, then a fresh connection
    # completes its handshake and carries data both ways.
    while (deadline := b.next_deadline()) is not None and deadline < now + 3600:
        now = max(now, deadline)
        b.handle_timer(now)
        b.packets_to_send()
    fresh = Host([CLIENT], secret=b"fresh")
    c = fresh.connect(SERVER, 80, now)
    pump(fresh, b, now)
    s = b.accept(80)
    assert c.state is State.ESTABLISHED and s is not None and s.state is State.ESTABLISHED
    c.send(b"ping", now)
    pump(fresh, b, now)
    assert s.receive() == b"ping"
    s.send(b"pong", now)
    pump(fresh, b, now)
    assert c.receive() == b"pong"


def test_syn_backlog_is_bounded() -> None:
    a, b = hosts()
    b.listen(80, backlog=1)
    a.connect(SERVER, 80, 0.0)
    a.connect(SERVER, 80, 0.0)
    for packet in a.packets_to_send():
        b.receive_packet(packet, 0.0)
    assert len(b.packets_to_send()) == 1  # one SYN-ACK; the second SYN is dropped
    assert b.stats.syn_dropped == 1


def test_time_wait_record_reacks_fin_and_expires() -> None:
    a, b = hosts()
    b.listen(80)
    seen: list[tuple[int, State, State, str]] = []
    a.on_transition = lambda conn, old, new, cause: seen.append((conn.local[1], old, new, cause))
    c = a.connect(SERVER, 80, 0.0)
    pump(a, b)
    s = b.accept(80)
    assert s is not None
    c.close(0.0)
    pump(a, b)
    s.close(0.0)
    crossed = pump(a, b)
    last_fin = crossed[0][1]
    assert flags(last_fin) & TcpFlags.FIN
    assert a.time_wait_count == 1 and list(a.connections) == []
    assert a.lookup(c.local, c.remote) is State.TIME_WAIT
    assert a.next_deadline() == pytest.approx(240.0)
    # A retransmitted FIN is acknowledged again and restarts 2*MSL.
    a.receive_packet(build_tcp_packet(SERVER, CLIENT, last_fin), 100.0)
    (packet,) = a.packets_to_send()
    reack = parse_tcp_packet(packet)[1]
    assert int(reack.flags) == TcpFlags.ACK
    assert reack.ack == (last_fin.seq + 1) & 0xFFFFFFFF
    assert a.next_deadline() == pytest.approx(340.0)
    a.handle_timer(339.0)
    assert a.time_wait_count == 1
    a.handle_timer(340.0)
    assert a.time_wait_count == 0
    assert seen[-1][1:] == (State.TIME_WAIT, State.CLOSED, "2*MSL timeout")
    assert [x[2] for x in seen] == [
        State.SYN_SENT, State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2, State.TIME_WAIT,
        State.CLOSED,
    ]


def test_new_syn_above_time_wait_starts_a_new_connection() -> None:
    a, b = hosts()
    a.listen(7000)
    c = b.connect(CLIENT, 7000, 0.0, local_port=5000)
    pump(b, a)
    s = a.accept(7000)
    assert s is not None
    s.close(0.0)  # the listener side closes first and ends in TIME-WAIT
    pump(a, b)
    c.close(0.0)
    pump(a, b)
    assert a.time_wait_count == 1
    old_snd_nxt = s.snd_nxt
    c2 = b.connect(CLIENT, 7000, 1.0, local_port=5000)
    assert b.time_wait_count == 0
    crossed = pump(b, a, 1.0)
    assert a.time_wait_count == 0
    synack = crossed[1][1]
    assert flags(synack) == TcpFlags.SYN | TcpFlags.ACK
    assert synack.seq == (old_snd_nxt + 65535 + 2) & 0xFFFFFFFF
    assert c2.state is State.ESTABLISHED


def test_isns_differ_per_tuple_and_time() -> None:
    a, _ = hosts()
    c1 = a.connect(SERVER, 80, 0.0)
    c2 = a.connect(SERVER, 80, 0.0)
    c3 = Host([CLIENT], secret=b"other").connect(SERVER, 80, 0.0)
    assert len({c1.iss, c2.iss, c3.iss}) == 3


class LossyWire:
    """Two hosts joined by a lossy, reordering, duplicating wire on an explicit clock."""

    def __init__(self, seed: int, loss: float, dup: float, jitter: float) -> None:
        self.rng = random.Random(seed)
        self.loss, self.dup, self.jitter = loss, dup, jitter
        self.now = 0.0
        self.flight: list[tuple[float, int, Host, bytes]] = []
        self.n = 0

    def send(self, src: Host, dst: Host) -> None:
        for packet in src.packets_to_send():
            if self.rng.random() < self.loss:
                continue
            copies = 2 if self.rng.random() < self.dup else 1
            for _ in range(copies):
                self.n += 1
                when = self.now + 0.01 + self.rng.random() * self.jitter
                self.flight.append((when, self.n, dst, packet))

    def run(self, a: Host, b: Host, until: float, done: object) -> None:
        while self.now < until and not (callable(done) and done()):
            self.send(a, b)
            self.send(b, a)
            candidates = [x[0] for x in self.flight]
            for h in (a, b):
                d = h.next_deadline()
                if d is not None:
                    candidates.append(d)
            if not candidates:
                break
            self.now = max(self.now, min(candidates))
            arrived = sorted(x for x in self.flight if x[0] <= self.now)
            self.flight = [x for x in self.flight if x[0] > self.now]
            for _, _, dst, packet in arrived:
                dst.receive_packet(packet, self.now)
            for h in (a, b):
                d = h.next_deadline()
                if d is not None and d <= self.now:
                    h.handle_timer(self.now)


@pytest.mark.parametrize("seed", range(6))
def test_transfer_survives_loss_reordering_and_duplication(seed: int) -> None:
    a, b = hosts()
    b.listen(80)
    wire = LossyWire(seed, loss=0.05, dup=0.02, jitter=0.02)
    client = a.connect(SERVER, 80, 0.0)
    data = bytes(random.Random(seed).randbytes(150_000))
    got = bytearray()
    state: dict[str, Connection] = {}

    def step() -> bool:
        if "s" not in state:
            s = b.accept(80)
            if s is None:
                return False
            state["s"] = s
        if client.state is State.ESTABLISHED and client.unacknowledged == 0 and (
            "sent" not in state
        ):
            n = client.send(data, wire.now)
            assert n == len(data) or n == client.config.snd_buf
            state["sent"] = client
        got.extend(state["s"].receive(now=wire.now))
        return len(got) >= len(data) or len(got) >= client.config.snd_buf

    wire.run(a, b, 600.0, step)
    assert bytes(got) == data[: len(got)] and len(got) == min(len(data), client.config.snd_buf)
    client.close(wire.now)
    state["s"].close(wire.now)
    wire.run(a, b, wire.now + 600.0, lambda: False)
    assert client.state in (State.TIME_WAIT, State.CLOSED)  # simultaneous close is possible
    assert state["s"].state in (State.TIME_WAIT, State.CLOSED)
    assert list(a.connections) == [] and list(b.connections) == []


def test_fast_codec_paths_match_the_wire_codec() -> None:
    from synack.host import _build_tcp_fast, _parse_tcp_fast
    from synack.wire.tcp import (
        Mss,
        Nop,
        SackPermitted,
        Timestamps,
        WindowScale,
        build_tcp,
        parse_tcp,
    )

    rng = random.Random(5)
    src, dst = CLIENT.packed, SERVER.packed
    for i in range(600):
        options: tuple = ()  # type: ignore[type-arg]
        ts = Timestamps(rng.getrandbits(32), rng.getrandbits(32))
        syn = (Mss(rng.getrandbits(16)), SackPermitted(), ts, Nop(), WindowScale(rng.randrange(15)))
        if i % 6 == 1:
            options = (Nop(), Nop(), ts)
        elif i % 6 == 2:
            options = (Nop(), Timestamps(1, 2), Nop())
        elif i % 6 == 3:  # Linux's SYN options
            options = syn
        elif i % 6 == 4:  # the same length, another order
            options = (syn[0], syn[2], syn[1], syn[3], syn[4])
        elif i % 6 == 5:  # the same options but a second nop: one word longer
            options = (*syn[:3], Nop(), Nop(), syn[4])
        segment = TcpSegment(
            rng.getrandbits(16), rng.getrandbits(16), rng.getrandbits(32), rng.getrandbits(32),
            TcpFlags(rng.getrandbits(9)), rng.getrandbits(16), rng.getrandbits(16), options,
            rng.randbytes(rng.randrange(0, 50)),
        )
        data = build_tcp(segment, src, dst)
        assert _build_tcp_fast(segment, src, dst) == data
        assert _parse_tcp_fast(data) == parse_tcp(data)


def _time_wait_pair(config: object = None) -> tuple[Host, Host, Connection, TcpSegment]:
    """Client host `a` holds a TIME-WAIT record; returns the server's last FIN too."""
    from synack.tcp.config import TcpConfig

    cfg = config if isinstance(config, TcpConfig) else TcpConfig()
    a, b = Host([CLIENT], secret=b"client", config=cfg), Host([SERVER], secret=b"server")
    b.listen(80)
    c = a.connect(SERVER, 80, 0.0)
    pump(a, b)
    s = b.accept(80)
    assert s is not None
    c.close(0.0)
    pump(a, b)
    s.close(0.0)
    fin = pump(a, b)[0][1]
    assert a.time_wait_count == 1
    return a, b, c, fin


def _inject(host: Host, x: TcpSegment, now: float = 1.0) -> list[TcpSegment]:
    host.receive_packet(build_tcp_packet(SERVER, CLIENT, x), now)
    return [parse_tcp_packet(p)[1] for p in host.packets_to_send()]


def _from_peer(fin: TcpSegment, flags: TcpFlags, seq_delta: int) -> TcpSegment:
    return TcpSegment(fin.src_port, fin.dst_port, (fin.seq + 1 + seq_delta) & 0xFFFFFFFF,
                      fin.ack, flags, 500)


def test_time_wait_record_follows_rfc_9293() -> None:
    a, _, _, fin = _time_wait_pair()
    assert _inject(a, _from_peer(fin, TcpFlags.FIN, 1)) == []  # acceptable, no ACK bit: drop
    assert _inject(a, _from_peer(fin, TcpFlags.ACK, 0)) == []  # a bare ACK
    (reply,) = _inject(a, _from_peer(fin, TcpFlags.ACK, -1))  # old: acknowledged again
    assert int(reply.flags) == TcpFlags.ACK
    (challenge,) = _inject(a, _from_peer(fin, TcpFlags.RST, 5))  # RFC 5961: not exact
    assert int(challenge.flags) == TcpFlags.ACK and a.time_wait_count == 1
    assert _inject(a, _from_peer(fin, TcpFlags.RST, 0)) == []  # exact: the record goes
    assert a.time_wait_count == 0


def test_time_wait_rfc1337_ignores_rst() -> None:
    from synack.tcp.config import TcpConfig

    a, _, _, fin = _time_wait_pair(TcpConfig(rfc1337=True))
    assert _inject(a, _from_peer(fin, TcpFlags.RST, 0)) == []
    assert a.time_wait_count == 1


def test_time_wait_syn_challenge_ack_when_reuse_is_off() -> None:
    from synack.tcp.config import TcpConfig

    a, _, _, fin = _time_wait_pair(TcpConfig(time_wait_accepts_syn=False))
    (challenge,) = _inject(a, _from_peer(fin, TcpFlags.SYN, 100))
    assert int(challenge.flags) == TcpFlags.ACK and a.time_wait_count == 1
    a2, _, _, fin2 = _time_wait_pair(TcpConfig(time_wait_accepts_syn=False, rfc5961_syn=False))
    (rst,) = _inject(a2, _from_peer(fin2, TcpFlags.SYN, 0))
    assert int(rst.flags) == TcpFlags.RST | TcpFlags.ACK and a2.time_wait_count == 0


def _complete(packet: bytes) -> bytes:
    """What a device does with a NEEDS_CSUM packet: sum from the IP header length into the
    field at offset 16 of the TCP header (which already holds the pseudo-header sum)."""
    from synack.wire.checksum import internet_checksum

    ihl = (packet[0] & 15) * 4
    checksum = internet_checksum(packet[ihl:])
    return packet[: ihl + 16] + checksum.to_bytes(2, "big") + packet[ihl + 18 :]


def test_checksum_offload_leaves_the_pseudo_header_sum_and_skips_the_check() -> None:
    from synack.wire.checksum import ones_complement_sum, pseudo_header_sum
    from synack.wire.tcp import tcp_checksum_ok

    a = Host([CLIENT], secret=b"client", checksum_offload=True)
    b = Host([SERVER], secret=b"server")
    b.listen(80)
    a.connect(SERVER, 80, 0.0, local_port=40000)
    (syn,) = a.packets_to_send()
    tcp = syn[20:]
    pseudo = ones_complement_sum(b"", pseudo_header_sum(CLIENT.packed, SERVER.packed, 6, len(tcp)))
    assert int.from_bytes(tcp[16:18], "big") == pseudo  # partial: the pseudo-header sum only
    assert not tcp_checksum_ok(tcp, CLIENT.packed, SERVER.packed)
    b.receive_packet(syn, 0.0)
    assert b.stats.bad_checksum == 1  # a host that checks drops it
    completed = _complete(syn)
    assert tcp_checksum_ok(completed[20:], CLIENT.packed, SERVER.packed)
    b.receive_packet(completed, 0.0)
    (synack,) = b.packets_to_send()
    corrupt = synack[:-1] + bytes([synack[-1] ^ 0xFF])  # the device vouches for checksums
    a.receive_packet(corrupt, 0.0)
    assert a.stats.bad_checksum == 0
    (ack,) = a.packets_to_send()
    assert flags(parse_tcp_packet(_complete(ack))[1]) == int(TcpFlags.ACK)


@pytest.mark.parametrize(("client_ip", "server_ip"), [
    (CLIENT, SERVER), (ip_address("2001:db8::60"), ip_address("2001:db8::61")),
])
def test_ecn_data_goes_ect0_and_ce_is_echoed(client_ip: object, server_ip: object) -> None:
    a = Host([client_ip], config=TcpConfig(ecn=1, delayed_ack=0.0),  # type: ignore[list-item]
             secret=b"client")
    b = Host([server_ip], config=TcpConfig(delayed_ack=0.0),  # type: ignore[list-item]
             secret=b"server")
    b.listen(80)
    c = a.connect(server_ip, 80, 0.0)  # type: ignore[arg-type]
    crossed = pump(a, b)
    assert [flags(x) for _, x in crossed] == [0xC2, 0x52, 0x10]  # SYN|ECE|CWR, SYN|ACK|ECE, ACK
    s = b.accept(80)
    assert s is not None and s.ecn_ok and c.ecn_ok

    def ecn_field(packet: bytes) -> int:
        header = parse_ip(packet).header
        tclass = header.tos if hasattr(header, "tos") else header.traffic_class  # type: ignore[union-attr]
        return int(tclass) & 3

    c.send(b"data", 0.0)
    (packet,) = a.packets_to_send()
    assert ecn_field(packet) == 2  # ECT(0), RFC 3168 §6.1.2
    # The network marks it CE: the receiver's ACK carries ECE (RFC 3168 §6.1.3); pure ACKs are
    # not ECT.
    if packet[0] >> 4 == 4:  # CE in the TOS byte, header checksum recomputed
        marked = packet[:1] + bytes((packet[1] | 3,)) + packet[2:10] + b"\0\0" + packet[12:]
        cs = internet_checksum(marked[:20])
        marked = marked[:10] + cs.to_bytes(2, "big") + marked[12:]
    else:
        marked = bytes((packet[0], packet[1] | 0x30)) + packet[2:]  # CE in the traffic class
    b.receive_packet(marked, 0.0)
    (ack,) = b.packets_to_send()
    assert ecn_field(ack) == 0
    assert flags(parse_tcp_packet(ack)[1]) == 0x50  # ACK|ECE
    assert s.receive() == b"data"
