"""RFC 3168 ECN (negotiation both ways, ECT marking, ECE / CWR), TCP_NOOPT and the RFC 7323 §3.2
rule for segments missing their timestamps: exact segments out."""

from __future__ import annotations

from synack.tcp.state import State
from synack.wire.tcp import Mss, SackPermitted, Timestamps, WindowScale
from test_tcp_support import IRS, ISS, WIN, A, P, R, Rig, S, events, plain_config, s, seg

E = 0x40  # ECE
C = 0x80  # CWR


def brief(rig_out: list[object]) -> list[tuple[int, int, int, int]]:
    return [(int(x.flags), x.seq, x.ack, len(x.payload)) for x in rig_out]  # type: ignore[attr-defined]


def sent(rig: Rig) -> list[tuple[int, int, int, int]]:
    return brief(rig.conn.segments_to_send())  # type: ignore[arg-type]


def fed(rig: Rig, segment: object) -> list[tuple[int, int, int, int]]:
    rig.conn.segment_arrived(segment, rig.now)  # type: ignore[arg-type]
    return sent(rig)


def ect_marked(rig: Rig) -> list[bool]:
    """Per segment queued: whether the host is to send it as ECT(0)."""
    out = rig.conn.segments_to_send()
    return [id(x) in rig.conn.ect_sent for x in out]


def active(ecn: int = 1, **cfg: object) -> Rig:
    rig = Rig(plain_config(ecn=ecn, **cfg))
    rig.conn.connect(rig.now)
    return rig


# ---------------------------------------------------------------- negotiation, active side


def test_ecn_setup_syn_and_accepted_by_ecn_setup_syn_ack() -> None:
    rig = active()
    assert sent(rig) == [(S | E | C, ISS, 0, 0)]
    assert fed(rig, seg(S | A | E, IRS, s(ISS + 1))) == [(A, s(ISS + 1), s(IRS + 1), 0)]
    assert rig.state is State.ESTABLISHED and rig.conn.ecn_ok
    rig.conn.send(b"hello", rig.now)
    out = rig.conn.segments_to_send()
    assert brief(out) == [(P | A, s(ISS + 1), s(IRS + 1), 5)]  # type: ignore[arg-type]
    assert [id(x) in rig.conn.ect_sent for x in out] == [True]  # RFC 3168 §6.1.2: ECT(0)


def test_ecn_refused_by_plain_syn_ack() -> None:
    rig = active()
    sent(rig)
    assert fed(rig, seg(S | A, IRS, s(ISS + 1))) == [(A, s(ISS + 1), s(IRS + 1), 0)]
    assert not rig.conn.ecn_ok
    rig.conn.send(b"hello", rig.now)
    assert ect_marked(rig) == [False]


def test_syn_ack_with_ece_and_cwr_is_not_ecn_setup() -> None:
    rig = active()
    sent(rig)
    fed(rig, seg(S | A | E | C, IRS, s(ISS + 1)))
    assert not rig.conn.ecn_ok  # RFC 3168 §6.1.1: ECE without CWR only


def test_accept_only_mode_sends_plain_syn_and_ignores_ece_syn_ack() -> None:
    rig = active(ecn=2)
    assert sent(rig) == [(S, ISS, 0, 0)]
    fed(rig, seg(S | A | E, IRS, s(ISS + 1)))
    assert not rig.conn.ecn_ok  # we never asked


def test_retransmitted_syns_drop_ecn_setup() -> None:
    rig = active(rto_initial=1.0)
    assert sent(rig) == [(S | E | C, ISS, 0, 0)]
    rig.now = 1.0
    rig.conn.handle_timer(rig.now)
    assert sent(rig) == [(S, ISS, 0, 0)]  # Linux: only the first SYN requests ECN


def test_ecn_syn_retries_keeps_ecn_setup_on_first_retransmission() -> None:
    rig = active(rto_initial=1.0, ecn_syn_retries=1)
    assert sent(rig) == [(S | E | C, ISS, 0, 0)]
    rig.now = 1.0
    rig.conn.handle_timer(rig.now)
    assert sent(rig) == [(S | E | C, ISS, 0, 0)]
    rig.now = 3.0
    rig.conn.handle_timer(rig.now)
    assert sent(rig) == [(S, ISS, 0, 0)]  # FreeBSD ecn.maxretries=1


# ---------------------------------------------------------------- negotiation, passive side


def test_listener_answers_ecn_setup_syn_with_ece_syn_ack() -> None:
    rig = Rig(plain_config()).listen()  # default: accept when asked (ecn=2)
    assert fed(rig, seg(S | E | C, IRS)) == [(S | A | E, ISS, s(IRS + 1), 0)]
    assert rig.conn.ecn_ok
    assert fed(rig, seg(A, IRS + 1, ISS + 1)) == []
    assert rig.state is State.ESTABLISHED
    rig.conn.send(b"abc", rig.now)
    assert ect_marked(rig) == [True]


def test_listener_with_ecn_off_refuses() -> None:
    rig = Rig(plain_config(ecn=0)).listen()
    assert fed(rig, seg(S | E | C, IRS)) == [(S | A, ISS, s(IRS + 1), 0)]
    assert not rig.conn.ecn_ok


def test_syn_with_ece_alone_is_not_ecn_setup() -> None:
    rig = Rig(plain_config()).listen()
    assert fed(rig, seg(S | E, IRS)) == [(S | A, ISS, s(IRS + 1), 0)]
    assert not rig.conn.ecn_ok


def test_simultaneous_open_accepts_ecn_setup_syn() -> None:
    rig = active(ecn=2)
    assert sent(rig) == [(S, ISS, 0, 0)]
    assert fed(rig, seg(S | E | C, IRS)) == [(S | A | E, ISS, s(IRS + 1), 0)]
    assert rig.state is State.SYN_RECEIVED and rig.conn.ecn_ok


def test_simultaneous_open_plain_syn_refuses() -> None:
    rig = active(ecn=1)
    assert sent(rig) == [(S | E | C, ISS, 0, 0)]
    assert fed(rig, seg(S, IRS)) == [(S | A, ISS, s(IRS + 1), 0)]
    assert not rig.conn.ecn_ok


# ---------------------------------------------------------------- operation


def established_with_ecn() -> Rig:
    rig = active(delayed_ack=0.0)
    sent(rig)
    fed(rig, seg(S | A | E, IRS, s(ISS + 1), window=65535, options=(Mss(1460),)))
    events(rig.conn)
    assert rig.conn.ecn_ok
    return rig


def test_ce_is_echoed_with_ece_until_cwr() -> None:
    rig = established_with_ecn()
    rig.conn.segment_arrived(seg(P | A, IRS + 1, ISS + 1, b"x"), rig.now, ce=True)
    assert sent(rig) == [(A | E, s(ISS + 1), s(IRS + 2), 0)]  # RFC 3168 §6.1.3
    assert fed(rig, seg(P | A, IRS + 2, ISS + 1, b"y")) == [(A | E, s(ISS + 1), s(IRS + 3), 0)]
    assert fed(rig, seg(P | A | C, IRS + 3, ISS + 1, b"z")) == [(A, s(ISS + 1), s(IRS + 4), 0)]


def test_ce_without_ecn_is_not_echoed() -> None:
    rig = Rig(plain_config(delayed_ack=0.0)).established()
    rig.conn.segment_arrived(seg(P | A, IRS + 1, ISS + 1, b"x"), rig.now, ce=True)
    assert sent(rig) == [(A, s(ISS + 1), s(IRS + 2), 0)]


def test_ece_halves_cwnd_once_per_window_and_next_data_carries_cwr() -> None:
    rig = established_with_ecn()
    rig.conn.send(b"a" * 12000, rig.now)
    assert [f for f, *_ in sent(rig)] == [A] * 8 + [P | A]
    cc = rig.conn._cc
    assert cc is not None
    # ACK of the first segment, with ECE: cwnd and ssthresh halve (flight was 12000 bytes).
    assert fed(rig, seg(A | E, IRS + 1, ISS + 1 + 1460)) == []
    assert (cc.ssthresh, cc.cwnd) == (6000, 6000)
    # A second ECE within the same window of data does not reduce again (RFC 3168 §6.1.2).
    assert fed(rig, seg(A | E, IRS + 1, ISS + 1 + 2920)) == []
    assert cc.ssthresh == 6000
    assert fed(rig, seg(A, IRS + 1, ISS + 12001)) == []
    rig.conn.send(b"b" * 100, rig.now)
    out = rig.conn.segments_to_send()
    assert brief(out) == [  # type: ignore[arg-type]
        (P | A | C, s(ISS + 12001), s(IRS + 1), 100)
    ]
    assert [id(x) in rig.conn.ect_sent for x in out] == [True]
    assert fed(rig, seg(A, IRS + 1, ISS + 12101)) == []  # (else Nagle holds the next one)
    rig.conn.send(b"c" * 10, rig.now)
    assert [f for f, *_ in sent(rig)] == [P | A]  # CWR once


def test_retransmissions_are_not_ect() -> None:
    rig = established_with_ecn()
    rig.conn.send(b"hello", rig.now)
    assert ect_marked(rig) == [True]
    rig.now = 2.0
    rig.conn.handle_timer(rig.now)
    out = rig.conn.segments_to_send()
    assert brief(out) == [(P | A, s(ISS + 1), s(IRS + 1), 5)]  # type: ignore[arg-type]
    assert [id(x) in rig.conn.ect_sent for x in out] == [False]  # RFC 3168 §6.1.5


# ---------------------------------------------------------------- TCP_NOOPT


def test_noopt_syn_carries_no_option() -> None:
    rig = Rig(plain_config(no_options=True, timestamps=True, sack=True, window_scale=7))
    rig.conn.connect(rig.now)
    (syn,) = rig.conn.segments_to_send()
    assert (int(syn.flags), syn.options, syn.window) == (S, (), WIN)


def test_noopt_listener_answers_without_options_and_negotiates_none() -> None:
    rig = Rig(plain_config(no_options=True, timestamps=True, sack=True, window_scale=7)).listen()
    options = (Mss(1000), WindowScale(6), Timestamps(100, 0), SackPermitted())
    rig.conn.segment_arrived(seg(S, IRS, options=options), rig.now)
    (synack,) = rig.conn.segments_to_send()
    assert (int(synack.flags), synack.seq, synack.ack, synack.options) == (
        S | A, ISS, s(IRS + 1), ()
    )
    conn = rig.conn
    assert (conn.ts_ok, conn.sack_ok, conn.ws_ok, conn.peer_mss) == (False, False, False, 1000)


# ---------------------------------------------------------------- RFC 7323 §3.2


def established_with_timestamps(drop: bool) -> Rig:
    rig = Rig(plain_config(timestamps=True, drop_missing_timestamps=drop, delayed_ack=0.0))
    rig.conn.connect(rig.now)
    rig.conn.segments_to_send()
    rig.conn.segment_arrived(seg(S | A, IRS, s(ISS + 1), options=(Timestamps(7, 0),)), rig.now)
    rig.conn.segments_to_send()
    assert rig.conn.ts_ok and rig.state is State.ESTABLISHED
    return rig


def test_segment_without_timestamps_dropped_when_required() -> None:
    rig = established_with_timestamps(drop=True)
    assert fed(rig, seg(P | A, IRS + 1, ISS + 1, b"data")) == []
    assert rig.conn.receive() == b""
    assert fed(rig, seg(R, IRS + 1)) == []  # RST without TSopt is still processed
    assert rig.state is State.CLOSED


def test_segment_without_timestamps_accepted_by_default() -> None:
    rig = established_with_timestamps(drop=False)
    assert fed(rig, seg(P | A, IRS + 1, ISS + 1, b"data")) == [(A, s(ISS + 1), s(IRS + 5), 0)]
    assert rig.conn.receive() == b"data"
