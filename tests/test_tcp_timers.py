"""Retransmission (RFC 6298), SYN / SYN-ACK retries, persist and delayed-ACK timers on an explicit
clock."""

from __future__ import annotations

import pytest

from synack.tcp.config import TcpConfig
from synack.tcp.events import ConnectionFailed
from synack.tcp.state import State
from synack.tcp.timers.rto import RtoEstimator
from synack.wire.tcp import Mss, SackPermitted
from test_tcp_support import IRS, ISS, WIN, A, P, Pair, Rig, S, brief, events, plain_config, s, seg


def test_rto_estimator_rfc6298() -> None:
    rto = RtoEstimator(1.0, 0.2, 120.0)
    assert rto.current() == 1.0
    rto.sample(0.1)
    assert rto.srtt == pytest.approx(0.1) and rto.rttvar == pytest.approx(0.05)
    assert rto.current() == pytest.approx(0.3)
    rto.sample(0.3)
    # RTTVAR = 3/4 * 0.05 + 1/4 * |0.1 - 0.3|; SRTT = 7/8 * 0.1 + 1/8 * 0.3
    assert rto.rttvar == pytest.approx(0.0875) and rto.srtt == pytest.approx(0.125)
    assert rto.current() == pytest.approx(0.125 + 4 * 0.0875)
    rto.back_off()
    rto.back_off()
    assert rto.current() == pytest.approx(4 * (0.125 + 4 * 0.0875))
    rto.sample(0.001)
    assert rto.backoff == 0 and rto.current() >= 0.2  # lower bound
    for _ in range(20):
        rto.back_off()
    assert rto.current() == 120.0


def test_syn_retransmitted_with_backoff_then_timeout() -> None:
    rig = Rig().syn_sent()
    times = []
    while rig.state is State.SYN_SENT:
        deadline = rig.conn.next_deadline()
        assert deadline is not None
        rig.now = deadline
        rig.conn.handle_timer(deadline)
        for x in rig.out():
            assert x == ("S", ISS, 0, WIN, 0)
            times.append(deadline)
    assert times == [1.0, 3.0, 7.0, 15.0, 31.0, 63.0]  # tcp_syn_retries = 6
    assert rig.now == 127.0
    assert isinstance(rig.conn.error, TimeoutError)
    assert any(isinstance(e, ConnectionFailed) for e in events(rig.conn))


def test_synack_retransmitted_then_dropped() -> None:
    rig = Rig().syn_received()
    times = []
    while rig.state is State.SYN_RECEIVED:
        deadline = rig.conn.next_deadline()
        assert deadline is not None
        rig.now = deadline
        rig.conn.handle_timer(deadline)
        for x in rig.out():
            assert x == ("S.", ISS, s(IRS + 1), WIN, 0)
            times.append(deadline)
    assert times == [1.0, 3.0, 7.0, 15.0, 31.0]  # tcp_synack_retries = 5
    assert rig.state is State.CLOSED and rig.now == 63.0


def test_syn_retry_count_is_configurable() -> None:
    rig = Rig(plain_config(syn_retries=1, rto_initial=0.5)).syn_sent()
    assert rig.advance(0.5) == [("S", ISS, 0, WIN, 0)]
    assert rig.advance(1.0) == []
    assert isinstance(rig.conn.error, TimeoutError)


def _established_with_rtt(rtt: float) -> Rig:
    rig = Rig().syn_sent()
    rig.now = rtt
    synack = seg(S | A, IRS, ISS + 1, options=(Mss(1460),))
    assert rig.feed(synack) == [(".", s(ISS + 1), s(IRS + 1), WIN, 0)]
    return rig


def test_data_retransmission_rto_backoff_and_karn() -> None:
    rig = _established_with_rtt(0.1)  # SRTT 0.1, RTTVAR 0.05: RTO 0.3
    rig.conn.send(b"x" * 100, rig.now)
    assert rig.out() == [("P.", s(ISS + 1), s(IRS + 1), WIN, 100)]
    assert rig.conn.next_deadline() == pytest.approx(0.4)
    assert rig.advance(0.3) == [("P.", s(ISS + 1), s(IRS + 1), WIN, 100)]
    assert rig.conn.next_deadline() == pytest.approx(1.0)  # backed off to 0.6
    assert rig.advance(0.6) == [("P.", s(ISS + 1), s(IRS + 1), WIN, 100)]
    assert rig.conn.next_deadline() == pytest.approx(2.2)  # 1.2
    rig.now = 2.0
    assert rig.feed(seg(A, IRS + 1, ISS + 101)) == []
    assert rig.conn.next_deadline() is None
    rto = rig.conn._rto
    assert rto is not None and rto.srtt == pytest.approx(0.1)  # Karn: no sample from a resend
    assert rto.current() == pytest.approx(1.2)  # backoff kept until a valid sample


def test_retransmission_gives_up_with_timeout_error() -> None:
    rig = _established_with_rtt(0.1)
    rig.conn.config.data_retries = 3
    rig.conn.send(b"x", rig.now)
    rig.out()
    for _ in range(3):
        deadline = rig.conn.next_deadline()
        assert deadline is not None
        assert rig.advance(deadline - rig.now) == [("P.", s(ISS + 1), s(IRS + 1), WIN, 1)]
    deadline = rig.conn.next_deadline()
    assert deadline is not None
    assert rig.advance(deadline - rig.now) == []
    assert rig.state is State.CLOSED and isinstance(rig.conn.error, TimeoutError)


def test_fin_is_retransmitted() -> None:
    rig = _established_with_rtt(0.1)
    rig.conn.close(rig.now)
    assert rig.out() == [("F.", s(ISS + 1), s(IRS + 1), WIN, 0)]
    assert rig.advance(0.3) == [("F.", s(ISS + 1), s(IRS + 1), WIN, 0)]
    assert rig.feed(seg(A, IRS + 1, ISS + 2)) == []
    assert rig.state is State.FIN_WAIT_2


def test_lost_segment_recovered_by_fast_retransmit() -> None:
    rig = _established_with_rtt(0.1)
    rig.conn.send(b"y" * 5000, rig.now)
    sent = rig.out()
    assert [x[4] for x in sent] == [1460, 1460, 1460, 620]
    # The first segment is lost: three duplicate ACKs trigger a fast retransmit.
    for _ in range(2):
        assert rig.feed(seg(A, IRS + 1, ISS + 1)) == []
    assert rig.feed(seg(A, IRS + 1, ISS + 1)) == [(".", s(ISS + 1), s(IRS + 1), WIN, 1460)]
    assert rig.feed(seg(A, IRS + 1, ISS + 5001)) == []
    assert rig.conn.next_deadline() is None


def test_delayed_ack_after_quick_acks() -> None:
    rig = Rig(plain_config(quick_acks=1)).established()
    assert rig.feed(seg(P | A, IRS + 1, ISS + 1, b"a")) == [(".", s(ISS + 1), s(IRS + 2), WIN, 0)]
    assert rig.feed(seg(P | A, IRS + 2, ISS + 1, b"b")) == []  # delayed
    assert rig.advance(0.04) == [(".", s(ISS + 1), s(IRS + 3), WIN, 0)]
    # Two full-sized segments are acknowledged at once (RFC 9293 §3.8.6.3).
    assert rig.feed(seg(A, IRS + 3, ISS + 1, b"c" * 1460)) == []
    assert rig.feed(seg(A, IRS + 1463, ISS + 1, b"d" * 1460)) == [
        (".", s(ISS + 1), s(IRS + 2923), 65536 - 2922, 0)  # the unread bytes take buffer space
    ]


def test_out_of_order_data_is_held_acked_at_once_with_sack() -> None:
    rig = Rig(plain_config(sack=True)).listen()

    rig.feed(seg(S, IRS, options=(SackPermitted(),)))
    rig.feed(seg(A, IRS + 1, ISS + 1))
    assert rig.state is State.ESTABLISHED
    rig.conn.segment_arrived(seg(A, IRS + 11, ISS + 1, b"B" * 10), 0.0)
    (dup,) = rig.conn.segments_to_send()
    assert brief([dup]) == [(".", s(ISS + 1), s(IRS + 1), WIN, 0)]
    assert dup.sack_blocks == ((s(IRS + 11), s(IRS + 21)),)
    assert rig.conn.readable == 0
    assert rig.feed(seg(A, IRS + 1, ISS + 1, b"A" * 10)) == [(".", s(ISS + 1), s(IRS + 21), WIN, 0)]
    assert rig.conn.receive() == b"A" * 10 + b"B" * 10


def test_zero_window_probes_and_window_update() -> None:
    pair = Pair(plain_config(), plain_config(rcv_buf=4 * 1460))
    pair.handshake()
    data = b"z" * 20000
    sent = pair.client.send(data, pair.now)
    pair.run_until(1.0)
    assert pair.server.readable == 4 * 1460  # the window is full
    wire = [brief([x])[0] for d, x in pair.wire if d == "s>c"]
    assert wire[-1][3] == 0  # the receiver advertised a zero window
    probes = [x for d, x in pair.wire if d == "c>s" and not x.payload
              and x.seq == (pair.client.snd_una - 1) & 0xFFFFFFFF]
    assert len(probes) >= 2  # zero-window probes (SND.UNA - 1, as Linux)
    pair.wire.clear()
    got = pair.server.receive(now=pair.now)
    pair.shuttle()
    update = brief([pair.wire[0][1]])[0]
    assert pair.wire[0][0] == "s>c" and update[3] == 4 * 1460  # window update
    while len(got) < sent:
        pair.run_until(pair.now + 1.0)
        got += pair.server.receive(now=pair.now)
    assert got == data[:sent]


def test_handshake_timeout_like_tcp_keepinit() -> None:
    rig = Rig(plain_config(syn_timeout=5.0)).syn_sent()
    assert rig.advance(1.0) == [("S", ISS, 0, WIN, 0)]
    assert rig.advance(2.0) == [("S", ISS, 0, WIN, 0)]
    assert rig.advance(2.0) == []
    assert rig.state is State.CLOSED and isinstance(rig.conn.error, TimeoutError)


def test_syn_retransmissions_drop_options() -> None:
    rig = Rig(TcpConfig(syn_drop_options_after=2))
    rig.conn.connect(0.0)
    syns = [rig.conn.segments_to_send()[0]]
    for _ in range(4):
        deadline = rig.conn.next_deadline()
        assert deadline is not None
        rig.now = deadline
        rig.conn.handle_timer(deadline)
        syns.append(rig.conn.segments_to_send()[0])
    assert [len(x.options) for x in syns] == [5, 5, 5, 1, 1]
    assert syns[-1].options == (Mss(1460),)
