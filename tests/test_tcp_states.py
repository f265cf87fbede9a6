"""Every state x {SYN, SYN-ACK, ACK, FIN, FIN-ACK, RST, RST-ACK, data} cell of RFC 9293 §3.10.7,
with exact segments out and exact states (RFC 5961 on, as Linux; RFC 793 variants at the end)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from synack.tcp.events import ConnectionFailed
from synack.tcp.state import State
from test_tcp_support import IRS, ISS, WIN, A, F, P, R, Rig, S, events, plain_config, s, seg

CLOSED, LISTEN, SYN_SENT, SYN_RECEIVED = (
    State.CLOSED, State.LISTEN, State.SYN_SENT, State.SYN_RECEIVED,
)
ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT = (
    State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2, State.CLOSE_WAIT,
)
CLOSING, LAST_ACK, TIME_WAIT = State.CLOSING, State.LAST_ACK, State.TIME_WAIT

HELLO = b"hello"
X = 1234567  # an arbitrary acknowledgment number from a peer that has no connection


def ack_(snd: int, rcv: int) -> tuple[str, int, int, int, int]:
    return (".", s(snd), s(rcv), WIN, 0)


def rst(seq: int) -> tuple[str, int, int, int, int]:
    return ("R", s(seq), 0, 0, 0)


# (setup, segment, expected segments out, expected state)
Cell = tuple[Callable[[Rig], Rig], object, list[tuple[str, int, int, int, int]], State]

CELLS: dict[str, Cell] = {
    # RFC 9293 §3.10.7.1 CLOSED: RST for everything but a RST.
    "closed-syn": (lambda r: r, seg(S, IRS), [("R.", 0, s(IRS + 1), 0, 0)], CLOSED),
    "closed-syn-ack": (lambda r: r, seg(S | A, IRS, X), [rst(X)], CLOSED),
    "closed-ack": (lambda r: r, seg(A, IRS, X), [rst(X)], CLOSED),
    "closed-fin": (lambda r: r, seg(F, IRS), [("R.", 0, s(IRS + 1), 0, 0)], CLOSED),
    "closed-fin-ack": (lambda r: r, seg(F | A, IRS, X), [rst(X)], CLOSED),
    "closed-rst": (lambda r: r, seg(R, IRS), [], CLOSED),
    "closed-rst-ack": (lambda r: r, seg(R | A, IRS, X), [], CLOSED),
    "closed-data": (lambda r: r, seg(P | A, IRS, X, HELLO), [rst(X)], CLOSED),
    "closed-data-no-ack": (lambda r: r, seg(P, IRS, 0, HELLO), [("R.", 0, s(IRS + 5), 0, 0)],
                           CLOSED),
    # §3.10.7.2 LISTEN.
    "listen-syn": (Rig.listen, seg(S, IRS), [("S.", ISS, s(IRS + 1), WIN, 0)], SYN_RECEIVED),
    "listen-syn-ack": (Rig.listen, seg(S | A, IRS, X), [rst(X)], LISTEN),
    "listen-ack": (Rig.listen, seg(A, IRS, X), [rst(X)], LISTEN),
    "listen-fin": (Rig.listen, seg(F, IRS), [], LISTEN),
    "listen-fin-ack": (Rig.listen, seg(F | A, IRS, X), [rst(X)], LISTEN),
    "listen-rst": (Rig.listen, seg(R, IRS), [], LISTEN),
    "listen-rst-ack": (Rig.listen, seg(R | A, IRS, X), [], LISTEN),
    "listen-data": (Rig.listen, seg(P | A, IRS, X, HELLO), [rst(X)], LISTEN),
    # §3.10.7.3 SYN-SENT.
    "syn-sent-syn": (Rig.syn_sent, seg(S, IRS), [("S.", ISS, s(IRS + 1), WIN, 0)],
                     SYN_RECEIVED),
    "syn-sent-syn-ack": (Rig.syn_sent, seg(S | A, IRS, ISS + 1), [ack_(ISS + 1, IRS + 1)],
                         ESTABLISHED),
    "syn-sent-ack": (Rig.syn_sent, seg(A, IRS, ISS + 1), [], SYN_SENT),
    "syn-sent-bad-ack": (Rig.syn_sent, seg(A, IRS, ISS + 100), [rst(ISS + 100)], SYN_SENT),
    "syn-sent-ack-of-iss": (Rig.syn_sent, seg(A, IRS, ISS), [rst(ISS)], SYN_SENT),
    "syn-sent-fin": (Rig.syn_sent, seg(F, IRS), [], SYN_SENT),
    "syn-sent-fin-ack": (Rig.syn_sent, seg(F | A, IRS, ISS + 1), [], SYN_SENT),
    "syn-sent-rst": (Rig.syn_sent, seg(R, IRS), [], SYN_SENT),
    "syn-sent-rst-ack": (Rig.syn_sent, seg(R | A, IRS, ISS + 1), [], CLOSED),
    "syn-sent-rst-bad-ack": (Rig.syn_sent, seg(R | A, IRS, ISS + 9), [], SYN_SENT),
    "syn-sent-data": (Rig.syn_sent, seg(P | A, IRS, ISS + 1, HELLO), [], SYN_SENT),
    # §3.10.7.4 SYN-RECEIVED (passive open).
    "syn-received-syn": (Rig.syn_received, seg(S, IRS + 1), [], LISTEN),
    "syn-received-syn-again": (Rig.syn_received, seg(S, IRS), [("S.", ISS, s(IRS + 1), WIN, 0)],
                               SYN_RECEIVED),
    "syn-received-syn-ack": (Rig.syn_received, seg(S | A, IRS + 1, ISS + 1), [], LISTEN),
    "syn-received-ack": (Rig.syn_received, seg(A, IRS + 1, ISS + 1), [], ESTABLISHED),
    "syn-received-bad-ack": (Rig.syn_received, seg(A, IRS + 1, ISS + 7), [rst(ISS + 7)],
                             SYN_RECEIVED),
    "syn-received-ack-of-nothing": (Rig.syn_received, seg(A, IRS + 1, ISS), [rst(ISS)],
                                    SYN_RECEIVED),
    "syn-received-fin": (Rig.syn_received, seg(F, IRS + 1), [], SYN_RECEIVED),
    "syn-received-fin-ack": (Rig.syn_received, seg(F | A, IRS + 1, ISS + 1), [], CLOSE_WAIT),
    "syn-received-rst": (Rig.syn_received, seg(R, IRS + 1), [], LISTEN),
    "syn-received-rst-ack": (Rig.syn_received, seg(R | A, IRS + 1, ISS + 1), [], LISTEN),
    "syn-received-data": (Rig.syn_received, seg(P | A, IRS + 1, ISS + 1, HELLO),
                          [ack_(ISS + 1, IRS + 6)], ESTABLISHED),
    # ESTABLISHED (SND.NXT = ISS+1, RCV.NXT = IRS+1).
    "established-syn": (Rig.established, seg(S, IRS + 1), [ack_(ISS + 1, IRS + 1)], ESTABLISHED),
    "established-syn-ack": (Rig.established, seg(S | A, IRS + 1, ISS + 1),
                            [ack_(ISS + 1, IRS + 1)], ESTABLISHED),
    "established-ack": (Rig.established, seg(A, IRS + 1, ISS + 1), [], ESTABLISHED),
    "established-fin": (Rig.established, seg(F, IRS + 1), [], ESTABLISHED),
    "established-fin-ack": (Rig.established, seg(F | A, IRS + 1, ISS + 1), [], CLOSE_WAIT),
    "established-rst": (Rig.established, seg(R, IRS + 1), [], CLOSED),
    "established-rst-ack": (Rig.established, seg(R | A, IRS + 1, ISS + 1), [], CLOSED),
    "established-data": (Rig.established, seg(P | A, IRS + 1, ISS + 1, HELLO),
                         [ack_(ISS + 1, IRS + 6)], ESTABLISHED),
    # FIN-WAIT-1 after close() (SND.NXT = ISS+2 with our FIN, RCV.NXT = IRS+1).
    "fin-wait-1-syn": (Rig.fin_wait_1, seg(S, IRS + 1), [ack_(ISS + 2, IRS + 1)], FIN_WAIT_1),
    "fin-wait-1-syn-ack": (Rig.fin_wait_1, seg(S | A, IRS + 1, ISS + 2), [ack_(ISS + 2, IRS + 1)],
                           FIN_WAIT_1),
    "fin-wait-1-ack": (Rig.fin_wait_1, seg(A, IRS + 1, ISS + 2), [], FIN_WAIT_2),
    "fin-wait-1-fin": (Rig.fin_wait_1, seg(F, IRS + 1), [], FIN_WAIT_1),
    "fin-wait-1-fin-ack": (Rig.fin_wait_1, seg(F | A, IRS + 1, ISS + 2), [ack_(ISS + 2, IRS + 2)],
                           TIME_WAIT),
    "fin-wait-1-fin-ack-old": (Rig.fin_wait_1, seg(F | A, IRS + 1, ISS + 1),
                               [ack_(ISS + 2, IRS + 2)], CLOSING),
    "fin-wait-1-rst": (Rig.fin_wait_1, seg(R, IRS + 1), [], CLOSED),
    "fin-wait-1-rst-ack": (Rig.fin_wait_1, seg(R | A, IRS + 1, ISS + 2), [], CLOSED),
    # Linux: text for a closed socket is answered by RST.
    "fin-wait-1-data": (Rig.fin_wait_1, seg(P | A, IRS + 1, ISS + 2, HELLO), [rst(ISS + 2)],
                        CLOSED),
    # FIN-WAIT-2.
    "fin-wait-2-syn": (Rig.fin_wait_2, seg(S, IRS + 1), [ack_(ISS + 2, IRS + 1)], FIN_WAIT_2),
    "fin-wait-2-syn-ack": (Rig.fin_wait_2, seg(S | A, IRS + 1, ISS + 2), [ack_(ISS + 2, IRS + 1)],
                           FIN_WAIT_2),
    "fin-wait-2-ack": (Rig.fin_wait_2, seg(A, IRS + 1, ISS + 2), [], FIN_WAIT_2),
    "fin-wait-2-fin": (Rig.fin_wait_2, seg(F, IRS + 1), [], FIN_WAIT_2),
    "fin-wait-2-fin-ack": (Rig.fin_wait_2, seg(F | A, IRS + 1, ISS + 2), [ack_(ISS + 2, IRS + 2)],
                           TIME_WAIT),
    "fin-wait-2-rst": (Rig.fin_wait_2, seg(R, IRS + 1), [], CLOSED),
    "fin-wait-2-rst-ack": (Rig.fin_wait_2, seg(R | A, IRS + 1, ISS + 2), [], CLOSED),
    "fin-wait-2-data": (Rig.fin_wait_2, seg(P | A, IRS + 1, ISS + 2, HELLO), [rst(ISS + 2)],
                        CLOSED),
    # CLOSE-WAIT (RCV.NXT = IRS+2): a FIN again is a retransmission (SEG.SEQ = IRS+1).
    "close-wait-syn": (Rig.close_wait, seg(S, IRS + 2), [ack_(ISS + 1, IRS + 2)], CLOSE_WAIT),
    "close-wait-syn-ack": (Rig.close_wait, seg(S | A, IRS + 2, ISS + 1), [ack_(ISS + 1, IRS + 2)],
                           CLOSE_WAIT),
    "close-wait-ack": (Rig.close_wait, seg(A, IRS + 2, ISS + 1), [], CLOSE_WAIT),
    "close-wait-fin": (Rig.close_wait, seg(F, IRS + 1), [ack_(ISS + 1, IRS + 2)], CLOSE_WAIT),
    "close-wait-fin-ack": (Rig.close_wait, seg(F | A, IRS + 1, ISS + 1), [ack_(ISS + 1, IRS + 2)],
                           CLOSE_WAIT),
    "close-wait-rst": (Rig.close_wait, seg(R, IRS + 2), [], CLOSED),
    "close-wait-rst-ack": (Rig.close_wait, seg(R | A, IRS + 2, ISS + 1), [], CLOSED),
    "close-wait-data": (Rig.close_wait, seg(P | A, IRS + 2, ISS + 1, HELLO), [], CLOSE_WAIT),
    # CLOSING (our FIN unacknowledged, theirs received).
    "closing-syn": (Rig.closing, seg(S, IRS + 2), [ack_(ISS + 2, IRS + 2)], CLOSING),
    "closing-syn-ack": (Rig.closing, seg(S | A, IRS + 2, ISS + 2), [ack_(ISS + 2, IRS + 2)],
                        CLOSING),
    "closing-ack": (Rig.closing, seg(A, IRS + 2, ISS + 2), [], TIME_WAIT),
    "closing-fin": (Rig.closing, seg(F, IRS + 1), [ack_(ISS + 2, IRS + 2)], CLOSING),
    "closing-fin-ack": (Rig.closing, seg(F | A, IRS + 1, ISS + 1), [ack_(ISS + 2, IRS + 2)],
                        CLOSING),
    "closing-rst": (Rig.closing, seg(R, IRS + 2), [], CLOSED),
    "closing-rst-ack": (Rig.closing, seg(R | A, IRS + 2, ISS + 1), [], CLOSED),
    "closing-data": (Rig.closing, seg(P | A, IRS + 2, ISS + 1, HELLO), [], CLOSING),
    # LAST-ACK.
    "last-ack-syn": (Rig.last_ack, seg(S, IRS + 2), [ack_(ISS + 2, IRS + 2)], LAST_ACK),
    "last-ack-syn-ack": (Rig.last_ack, seg(S | A, IRS + 2, ISS + 2), [ack_(ISS + 2, IRS + 2)],
                         LAST_ACK),
    "last-ack-ack": (Rig.last_ack, seg(A, IRS + 2, ISS + 2), [], CLOSED),
    "last-ack-ack-old": (Rig.last_ack, seg(A, IRS + 2, ISS + 1), [], LAST_ACK),
    "last-ack-fin": (Rig.last_ack, seg(F, IRS + 1), [ack_(ISS + 2, IRS + 2)], LAST_ACK),
    "last-ack-fin-ack": (Rig.last_ack, seg(F | A, IRS + 1, ISS + 1), [ack_(ISS + 2, IRS + 2)],
                         LAST_ACK),
    "last-ack-rst": (Rig.last_ack, seg(R, IRS + 2), [], CLOSED),
    "last-ack-rst-ack": (Rig.last_ack, seg(R | A, IRS + 2, ISS + 1), [], CLOSED),
    "last-ack-data": (Rig.last_ack, seg(P | A, IRS + 2, ISS + 1, HELLO), [], LAST_ACK),
    # TIME-WAIT.
    "time-wait-syn": (Rig.time_wait, seg(S, IRS + 2), [ack_(ISS + 2, IRS + 2)], TIME_WAIT),
    "time-wait-syn-ack": (Rig.time_wait, seg(S | A, IRS + 2, ISS + 2), [ack_(ISS + 2, IRS + 2)],
                          TIME_WAIT),
    "time-wait-ack": (Rig.time_wait, seg(A, IRS + 2, ISS + 2), [], TIME_WAIT),
    "time-wait-fin": (Rig.time_wait, seg(F, IRS + 1), [ack_(ISS + 2, IRS + 2)], TIME_WAIT),
    "time-wait-fin-ack": (Rig.time_wait, seg(F | A, IRS + 1, ISS + 2), [ack_(ISS + 2, IRS + 2)],
                          TIME_WAIT),
    "time-wait-rst": (Rig.time_wait, seg(R, IRS + 2), [], CLOSED),
    "time-wait-rst-ack": (Rig.time_wait, seg(R | A, IRS + 2, ISS + 2), [], CLOSED),
    # Only a retransmitted FIN can arrive in TIME-WAIT: anything but a bare ACK is acknowledged.
    "time-wait-data": (Rig.time_wait, seg(P | A, IRS + 2, ISS + 2, HELLO), [ack_(ISS + 2, IRS + 2)],
                       TIME_WAIT),
    "time-wait-ack-ahead": (Rig.time_wait, seg(A, IRS + 3, ISS + 2), [ack_(ISS + 2, IRS + 2)],
                            TIME_WAIT),
}


@pytest.mark.parametrize("name", list(CELLS))
def test_cell(name: str) -> None:
    setup, segment, expected, state = CELLS[name]
    rig = setup(Rig())
    assert rig.feed(segment) == expected  # type: ignore[arg-type]
    assert rig.state is state


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        (Rig.syn_sent, ConnectionRefusedError),
        (Rig.established, ConnectionResetError),
        (Rig.fin_wait_1, ConnectionResetError),
        (Rig.close_wait, ConnectionResetError),
    ],
)
def test_rst_reports_the_error(setup: Callable[[Rig], Rig], error: type[OSError]) -> None:
    rig = setup(Rig())
    snd = rig.conn.snd_nxt
    rig.feed(seg(R | A, rig.conn.rcv_nxt if rig.state is not SYN_SENT else IRS, snd))
    assert rig.state is CLOSED
    assert isinstance(rig.conn.error, error)
    failed = [e for e in events(rig.conn) if isinstance(e, ConnectionFailed)]
    assert len(failed) == 1 and isinstance(failed[0].error, error)


def test_old_syn_is_trimmed_and_the_text_after_it_kept() -> None:
    # RFC 9293 §3.10.7.4: only the new part of a segment that straddles RCV.NXT is processed; the
    # old SYN takes the first sequence number, so the text starts one after it.
    rig = Rig().established()
    assert rig.feed(seg(S | A, IRS, ISS + 1, HELLO)) == [ack_(ISS + 1, IRS + 1 + len(HELLO))]
    assert rig.conn.receive(100) == HELLO
    assert rig.conn.rcv_nxt == s(IRS + 1 + len(HELLO))


def test_delayed_ack_of_fin_then_timer() -> None:
    rig = Rig().established()
    assert rig.feed(seg(F | A, IRS + 1, ISS + 1)) == []
    assert rig.conn.next_deadline() == pytest.approx(0.04)
    assert rig.advance(0.039) == []
    assert rig.advance(0.001) == [ack_(ISS + 1, IRS + 2)]
    assert rig.conn.at_eof


def test_time_wait_lasts_2msl_and_a_retransmitted_fin_restarts_it() -> None:
    rig = Rig().time_wait()
    assert rig.conn.next_deadline() == pytest.approx(240.0)
    rig.advance(100.0)
    assert rig.feed(seg(F | A, IRS + 1, ISS + 2)) == [ack_(ISS + 2, IRS + 2)]
    assert rig.conn.next_deadline() == pytest.approx(340.0)
    rig.advance(239.0)
    assert rig.state is TIME_WAIT
    rig.advance(1.0)
    assert rig.state is CLOSED


def test_msl_is_configurable() -> None:
    rig = Rig(plain_config(msl=30.0)).time_wait()
    assert rig.conn.next_deadline() == pytest.approx(60.0)


# ---------------------------------------------------------------- RFC 5961 vs RFC 793


def test_in_window_rst_gets_a_challenge_ack() -> None:
    rig = Rig().established()
    assert rig.feed(seg(R, IRS + 100)) == [ack_(ISS + 1, IRS + 1)]
    assert rig.state is ESTABLISHED


def test_in_window_rst_resets_without_rfc5961() -> None:
    rig = Rig(plain_config(rfc5961_rst=False)).established()
    assert rig.feed(seg(R, IRS + 100)) == []
    assert rig.state is CLOSED
    assert isinstance(rig.conn.error, ConnectionResetError)


@pytest.mark.parametrize("secure", [True, False])
@pytest.mark.parametrize("offset", [-1, WIN])
def test_rst_outside_the_window_is_ignored(secure: bool, offset: int) -> None:
    rig = Rig(plain_config(rfc5961_rst=secure)).established()
    assert rig.feed(seg(R, IRS + 1 + offset)) == []
    assert rig.state is ESTABLISHED


def test_rst_at_the_right_edge() -> None:
    rig = Rig().established()
    assert rig.feed(seg(R, IRS + WIN)) == [ack_(ISS + 1, IRS + 1)]
    rig = Rig(plain_config(rfc5961_rst=False)).established()
    assert rig.feed(seg(R, IRS + WIN)) == []
    assert rig.state is CLOSED


def test_syn_in_window_resets_without_rfc5961() -> None:
    rig = Rig(plain_config(rfc5961_syn=False)).established()
    assert rig.feed(seg(S, IRS + 1)) == [("R.", s(ISS + 1), s(IRS + 1), 0, 0)]
    assert rig.state is CLOSED


def test_syn_left_of_window_is_acked_without_rfc5961() -> None:
    rig = Rig(plain_config(rfc5961_syn=False)).established()
    assert rig.feed(seg(S, IRS)) == [ack_(ISS + 1, IRS + 1)]
    assert rig.state is ESTABLISHED


def test_challenge_acks_are_rate_limited() -> None:
    rig = Rig(plain_config(challenge_ack_limit=2)).established()
    outs = [rig.feed(seg(R, IRS + 10)) for _ in range(4)]
    assert outs == [[ack_(ISS + 1, IRS + 1)]] * 2 + [[]] * 2
    rig.now = 1.5
    assert rig.feed(seg(R, IRS + 10)) == [ack_(ISS + 1, IRS + 1)]


def test_ack_beyond_snd_nxt_is_answered_and_dropped() -> None:
    rig = Rig().established()
    assert rig.feed(seg(P | A, IRS + 1, ISS + 50, HELLO)) == [ack_(ISS + 1, IRS + 1)]
    assert rig.conn.readable == 0


def test_unacceptable_segment_gets_an_ack() -> None:
    rig = Rig().established()
    assert rig.feed(seg(P | A, IRS - 100, ISS + 1, HELLO)) == [ack_(ISS + 1, IRS + 1)]
    assert rig.feed(seg(P | A, IRS + 1 + WIN, ISS + 1, HELLO)) == [ack_(ISS + 1, IRS + 1)]
