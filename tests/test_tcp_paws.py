"""PAWS (RFC 7323 §5): segments whose timestamp is older than TS.Recent are old duplicates."""

from __future__ import annotations

from ipaddress import ip_address

from synack.host import Host
from synack.tcp.state import State
from synack.wire.ip import build_tcp_packet, parse_tcp_packet
from synack.wire.tcp import Nop, SackPermitted, TcpSegment, Timestamps
from test_tcp_support import IRS, ISS, A, F, P, R, Rig, S, brief, events, plain_config, s, seg

PEER_TS = 70000  # the peer's TSval on its SYN-ACK: TS.Recent from then on


def ts(value: int, echo: int = 0) -> tuple[Nop, Nop, Timestamps]:
    return (Nop(), Nop(), Timestamps(value & 0xFFFFFFFF, echo))


def established(**config: object) -> Rig:
    """A connection with timestamps (TS.Recent = PEER_TS), established at time 0."""
    rig = Rig(plain_config(timestamps=True, **config))
    rig.conn.connect(rig.now)
    rig.out()
    options = (Timestamps(PEER_TS, 0), *((SackPermitted(),) if config.get("sack") else ()))
    rig.feed(seg(S | A, IRS, s(ISS + 1), options=options))
    assert rig.state is State.ESTABLISHED and rig.conn.ts_recent == PEER_TS
    events(rig.conn)
    return rig


def test_in_window_data_with_an_older_timestamp_is_dropped_and_acknowledged() -> None:
    rig = established()
    # In sequence, but stamped before TS.Recent: a wrapped-around old duplicate (§5.3 R1).
    out = rig.feed(seg(P | A, IRS + 1, ISS + 1, b"old", options=ts(PEER_TS - 2)))
    assert out == [(".", s(ISS + 1), s(IRS + 1), rig.conn.rcv_window, 0)]
    assert rig.conn.readable == 0 and rig.conn.ts_recent == PEER_TS
    # The same bytes with a current timestamp are taken.
    assert rig.feed(seg(P | A, IRS + 1, ISS + 1, b"new", options=ts(PEER_TS))) == [
        (".", s(ISS + 1), s(IRS + 4), rig.conn.rcv_window, 0)
    ]
    assert rig.conn.receive() == b"new"


def test_one_tick_behind_and_a_zero_ts_recent_are_tolerated_as_in_linux() -> None:
    """Linux's TCP_PAWS_WINDOW (1) and tcp_paws_check: a TSval one tick behind passes, and a
    TS.Recent of 0 (a peer whose SYN carried TSval 0) is no reference at all."""
    rig = established()
    rig.feed(seg(P | A, IRS + 1, ISS + 1, b"a", options=ts(PEER_TS - 1)))
    assert rig.conn.receive() == b"a"
    rig = Rig(plain_config(timestamps=True))
    rig.conn.connect(rig.now)
    rig.out()
    rig.feed(seg(S | A, IRS, s(ISS + 1), options=(Timestamps(0, 0),)))
    rig.feed(seg(P | A, IRS + 1, ISS + 1, b"b", options=ts(0x90000000)))  # "before" 0
    assert rig.conn.receive() == b"b" and rig.conn.ts_recent == 0x90000000


def test_the_check_is_serial_arithmetic_across_the_wrap() -> None:
    rig = Rig(plain_config(timestamps=True))
    rig.conn.connect(rig.now)
    rig.out()
    rig.feed(seg(S | A, IRS, s(ISS + 1), options=(Timestamps(0xFFFFFFF0, 0),)))
    # 0x10 is 32 ticks after 0xFFFFFFF0: newer, accepted.
    rig.feed(seg(P | A, IRS + 1, ISS + 1, b"x", options=ts(0x10)))
    assert rig.conn.readable == 1 and rig.conn.ts_recent == 0x10


def test_a_reset_is_not_subject_to_paws() -> None:
    rig = established()
    rig.feed(seg(R | A, IRS + 1, ISS + 1, options=ts(PEER_TS - 1000)))
    assert rig.state is State.CLOSED


def test_a_reordered_duplicate_ack_slightly_older_is_not_answered() -> None:
    """Linux tcp_disordered_ack: a duplicate ACK at RCV.NXT that changes nothing and is older
    by less than an RTO is reordering, not an old duplicate: no ACK is sent back for it."""
    rig = established()
    rig.conn.send(b"data", rig.now)
    rig.out()
    assert rig.feed(seg(A, IRS + 1, ISS + 5, options=ts(PEER_TS + 10))) == []  # SND.WL1 moves
    rig.conn.send(b"more", rig.now)
    rig.out()
    dup = seg(A, IRS + 1, ISS + 5, options=ts(PEER_TS + 9))  # reordered behind the last one
    assert rig.feed(dup) == []
    # Much older (beyond the RTO, 1 s = 1000 ticks): an old duplicate after all.
    old = seg(A, IRS + 1, ISS + 5, options=ts(PEER_TS - 5000))
    assert rig.feed(old) == [(".", s(ISS + 9), s(IRS + 1), rig.conn.rcv_window, 0)]


def test_timestamps_idle_over_24_days_are_no_longer_trusted() -> None:
    rig = established()
    rig.now = 24 * 86400.0 + 1.0  # RFC 7323 §5.5
    rig.feed(seg(P | A, IRS + 1, ISS + 1, b"late", options=ts(PEER_TS - 100)))
    assert rig.conn.receive() == b"late"


def test_paws_can_be_turned_off() -> None:
    rig = established(paws=False)
    rig.feed(seg(P | A, IRS + 1, ISS + 1, b"old", options=ts(PEER_TS - 100)))
    assert rig.conn.receive() == b"old"


def test_an_old_duplicate_below_rcv_nxt_is_reported_as_a_duplicate() -> None:
    rig = established(sack=True)
    rig.feed(seg(P | A, IRS + 1, ISS + 1, b"abcd", options=ts(PEER_TS + 1)))
    rig.advance(0.5)
    rig.conn.segments_to_send()
    rig.conn.segment_arrived(seg(P | A, IRS + 1, ISS + 1, b"abcd", options=ts(PEER_TS)), rig.now)
    (ack,) = rig.conn.segments_to_send()
    assert ack.sack_blocks == ((s(IRS + 1), s(IRS + 5)),)


# ---- TIME-WAIT records of a host (RFC 6191 for a new SYN) ---------------------------------------

CLIENT = ip_address("192.168.0.60")
SERVER = ip_address("192.168.0.61")


def time_wait_record() -> tuple[Host, TcpSegment]:
    """Host `a` holds the TIME-WAIT record of a closed connection; the server's last FIN."""
    a, b = Host([CLIENT], secret=b"client"), Host([SERVER], secret=b"server")
    a.listen(5555)
    b.listen(80)
    c = a.connect(SERVER, 80, 0.0, local_port=40000)
    moved = True
    last: list[TcpSegment] = []
    while moved:
        moved = False
        for x, y in ((a, b), (b, a)):
            for packet in x.packets_to_send():
                last.append(parse_tcp_packet(packet)[1])
                y.receive_packet(packet, 0.0)
                moved = True
        conn = b.accept(80)
        if conn is not None:
            c.close(0.0)
            conn.close(0.0)
    assert a.time_wait_count == 1
    fin = next(x for x in reversed(last) if x.flags & F and x.src_port == 80)
    return a, fin


def inject(host: Host, x: TcpSegment, now: float = 1.0) -> list[tuple[str, int, int, int, int]]:
    host.receive_packet(build_tcp_packet(SERVER, CLIENT, x), now)
    return brief(parse_tcp_packet(p)[1] for p in host.packets_to_send())


def from_server(fin: TcpSegment, flags: object, seq: int, tsval: int) -> TcpSegment:
    fin_ts = fin.timestamps
    assert fin_ts is not None
    return TcpSegment(80, 40000, seq & 0xFFFFFFFF, fin.ack if int(flags) & A else 0,
                      flags, 500, options=ts(tsval, fin_ts.echo))  # type: ignore[arg-type]


def test_time_wait_acknowledges_an_old_duplicate() -> None:
    a, fin = time_wait_record()
    fin_ts = fin.timestamps
    assert fin_ts is not None
    # A bare ACK at RCV.NXT is taken silently; with an older timestamp it is an old duplicate
    # (§5.3 R1): acknowledged (Linux tcp_timewait_state_process).
    assert inject(a, from_server(fin, A, fin.seq + 1, fin_ts.value)) == []
    (reply,) = inject(a, from_server(fin, A, fin.seq + 1, fin_ts.value - 1))
    assert (reply[0], reply[2]) == (".", s(fin.seq + 1)) and a.time_wait_count == 1


def test_time_wait_takes_a_syn_with_a_newer_timestamp_even_below_rcv_nxt() -> None:
    """RFC 6191 (Linux tcp_timewait_state_process): with timestamps, a new SYN may reuse the
    4-tuple whatever its sequence number, if its TSval is newer than TS.Recent."""
    a, fin = time_wait_record()
    fin_ts = fin.timestamps
    assert fin_ts is not None
    old = inject(a, from_server(fin, S, fin.seq - 100000, fin_ts.value - 1))
    assert [line[0] for line in old] == ["."] and a.time_wait_count == 1  # an old one: ACK
    new = inject(a, from_server(fin, S, fin.seq - 100000, fin_ts.value + 1000))
    assert a.time_wait_count == 0
    assert [line[0] for line in new] == ["R."]  # no listener on port 40000: refused afresh
