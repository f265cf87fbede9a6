"""Two connections wired back to back in memory: handshakes, data, closes, as Linux shows them."""

from __future__ import annotations

import pytest

from synack.tcp.config import TcpConfig
from synack.tcp.connection import Connection
from synack.tcp.events import (
    Connected,
    ConnectionClosed,
    DataReceived,
    EndOfStream,
    StateChanged,
)
from synack.tcp.state import State
from synack.wire.seq import SEQ_MASK
from synack.wire.tcp import Mss, Nop, SackPermitted, Timestamps, WindowScale
from test_tcp_support import LOCAL, REMOTE, Pair, brief, events, plain_config

C_ISS = 2**32 - 10001
S_ISS = 2**32 - 20001


def rel(pair: Pair) -> list[tuple[str, str, int, int, int, int]]:
    """The wire as tcpdump's relative numbers: (direction, flags, seq, ack, win, len)."""
    out = []
    for direction, x in pair.wire:
        mine, theirs = (C_ISS, S_ISS) if direction == "c>s" else (S_ISS, C_ISS)
        (flags, seq, ack, win, length), = brief([x])
        out.append((direction, flags, (seq - mine) & SEQ_MASK, (ack - theirs) & SEQ_MASK
                    if "." in flags else 0, win, length))
    return out


def test_seed_exchange_linux_options_windows_and_three_segment_close() -> None:
    pair = Pair()
    pair.client.connect(0.0)
    pair.shuttle()
    syn, synack, ack = (x for _, x in pair.wire[:3])
    assert syn.options == (Mss(1460), SackPermitted(), Timestamps(1000, 0), Nop(), WindowScale(7))
    assert syn.window == 64240
    assert synack.options == (
        Mss(1460), SackPermitted(), Timestamps(5000, 1000), Nop(), WindowScale(7)
    )
    assert synack.window == 65160
    assert ack.options == (Nop(), Nop(), Timestamps(1000, 5000))
    assert pair.client.smss == 1448 and pair.server.smss == 1448
    pair.client.send(b"G" * 76, 0.0)
    pair.shuttle()
    assert pair.server.receive() == b"G" * 76
    pair.server.send(b"R" * 612, 0.0)
    pair.shuttle()
    assert pair.client.receive() == b"R" * 612
    pair.client.close(0.0)
    pair.shuttle()
    assert pair.server.state is State.CLOSE_WAIT
    pair.server.close(0.0)  # the program closes at once: FIN rides on the ACK of the peer's FIN
    pair.shuttle()
    assert rel(pair) == [
        ("c>s", "S", 0, 0, 64240, 0),
        ("s>c", "S.", 0, 1, 65160, 0),
        ("c>s", ".", 1, 1, 502, 0),
        ("c>s", "P.", 1, 1, 502, 76),
        ("s>c", ".", 1, 77, 509, 0),
        ("s>c", "P.", 1, 77, 509, 612),
        # The client has received no data before (Linux quick-ACK mode): it acknowledges at once.
        ("c>s", ".", 77, 613, 501, 0),
        ("c>s", "F.", 77, 613, 501, 0),
        ("s>c", "F.", 613, 78, 509, 0),
        ("c>s", ".", 78, 614, 501, 0),
    ]
    assert pair.client.state is State.TIME_WAIT
    assert pair.server.state is State.CLOSED


def test_events_of_a_lifecycle() -> None:
    pair = Pair()
    pair.handshake()
    pair.client.send(b"x" * 10, 0.0)
    pair.shuttle()
    pair.client.close(0.0)
    pair.shuttle()
    got = events(pair.server)
    assert [type(e) for e in got] == [
        StateChanged, StateChanged, StateChanged, Connected, DataReceived, StateChanged,
        EndOfStream,
    ] or [type(e) for e in got] == [
        StateChanged, StateChanged, StateChanged, Connected, DataReceived, EndOfStream,
        StateChanged,
    ]
    changes = [(e.old, e.new) for e in got if isinstance(e, StateChanged)]
    assert changes == [
        (State.CLOSED, State.LISTEN), (State.LISTEN, State.SYN_RECEIVED),
        (State.SYN_RECEIVED, State.ESTABLISHED), (State.ESTABLISHED, State.CLOSE_WAIT),
    ]
    pair.server.close(0.0)
    pair.shuttle()
    assert isinstance(events(pair.server)[-1], ConnectionClosed)


def test_bulk_transfer_across_the_wrap_is_byte_exact() -> None:
    pair = Pair()
    pair.handshake()
    data = bytes(range(256)) * 800  # 204800 bytes: both directions wrap past 2**32
    sent = 0
    got = bytearray()
    while len(got) < len(data):
        if sent < len(data):
            sent += pair.client.send(data[sent:], pair.now)
        pair.run_until(pair.now + 0.05)
        got += pair.server.receive()
    assert bytes(got) == data
    assert pair.client.snd_una == (C_ISS + 1 + len(data)) & SEQ_MASK


def test_pure_options_off_both_ways() -> None:
    pair = Pair(client_config=plain_config())
    pair.handshake()
    synack = pair.wire[1][1]
    assert synack.options == (Mss(1460),)  # only what the SYN offered comes back
    assert pair.server.ts_ok is False and pair.server.sack_ok is False
    assert pair.client.smss == 1460
    pair.client.send(b"a" * 3000, 0.0)
    pair.shuttle()
    sizes = [len(x.payload) for d, x in pair.wire if d == "c>s" and x.payload]
    assert sizes == [1460, 1460, 80]
    assert [int(x.flags) & 8 for d, x in pair.wire if d == "c>s" and x.payload] == [0, 0, 8]


def test_peer_mss_is_honoured() -> None:
    pair = Pair(server_config=TcpConfig(mss=536))
    pair.handshake()
    assert pair.client.smss == 536 - 12
    pair.client.send(b"z" * 2000, 0.0)
    pair.shuttle()
    assert max(len(x.payload) for d, x in pair.wire if d == "c>s") == 524


def test_data_on_the_third_handshake_segment() -> None:
    client = Connection(LOCAL, REMOTE, config=plain_config(), iss=C_ISS)
    server = Connection(REMOTE, LOCAL, config=plain_config(), iss=S_ISS)
    server.listen()
    client.connect(0.0)
    server.segment_arrived(client.segments_to_send()[0], 0.0)
    synack = server.segments_to_send()[0]
    client.segment_arrived(synack, 0.0)
    client.segments_to_send()  # the bare ACK is lost
    client.send(b"hello", 0.0)
    (data,) = client.segments_to_send()
    server.segment_arrived(data, 0.0)
    assert server.state is State.ESTABLISHED
    assert server.receive() == b"hello"
    assert brief(server.segments_to_send()) == [
        (".", (S_ISS + 1) & SEQ_MASK, (C_ISS + 6) & SEQ_MASK, 64240, 0)
    ]


def test_simultaneous_open() -> None:
    a = Connection(LOCAL, REMOTE, config=plain_config(), iss=C_ISS)
    b = Connection(REMOTE, LOCAL, config=plain_config(), iss=S_ISS)
    a.connect(0.0)
    b.connect(0.0)
    (syn_a,), (syn_b,) = a.segments_to_send(), b.segments_to_send()
    a.segment_arrived(syn_b, 0.0)
    b.segment_arrived(syn_a, 0.0)
    assert a.state is State.SYN_RECEIVED and b.state is State.SYN_RECEIVED
    (sa_a,), (sa_b,) = a.segments_to_send(), b.segments_to_send()
    assert brief([sa_a]) == [("S.", C_ISS, (S_ISS + 1) & SEQ_MASK, 64240, 0)]
    a.segment_arrived(sa_b, 0.0)
    b.segment_arrived(sa_a, 0.0)
    assert a.state is State.ESTABLISHED and b.state is State.ESTABLISHED
    assert a.segments_to_send() == [] and b.segments_to_send() == []


def test_simultaneous_close_goes_through_closing() -> None:
    pair = Pair(plain_config(), plain_config())
    pair.handshake()
    pair.client.close(0.0)
    pair.server.close(0.0)
    (fin_c,), (fin_s,) = pair.client.segments_to_send(), pair.server.segments_to_send()
    pair.client.segment_arrived(fin_s, 0.0)
    pair.server.segment_arrived(fin_c, 0.0)
    assert pair.client.state is State.CLOSING and pair.server.state is State.CLOSING
    pair.shuttle()
    assert pair.client.state is State.TIME_WAIT and pair.server.state is State.TIME_WAIT


def test_half_close_keeps_the_other_direction_open() -> None:
    pair = Pair()
    pair.handshake()
    pair.client.shutdown(0.0)
    pair.shuttle()
    assert pair.client.state is State.FIN_WAIT_1  # the peer delays the ACK of a FIN (40 ms)
    pair.run_until(0.04)
    assert pair.client.state is State.FIN_WAIT_2
    assert pair.server.state is State.CLOSE_WAIT and pair.server.at_eof
    pair.server.send(b"more data after your FIN", pair.now)
    pair.shuttle()
    assert pair.client.receive() == b"more data after your FIN"
    with pytest.raises(BrokenPipeError):
        pair.client.send(b"x", pair.now)
    pair.server.close(pair.now)
    pair.shuttle()
    assert pair.client.state is State.TIME_WAIT and pair.server.state is State.CLOSED


def test_close_wait_stays_until_the_program_closes_and_fin_wait_2_times_out() -> None:
    pair = Pair()
    pair.handshake()
    pair.client.close(0.0)
    pair.run_until(1000.0)
    assert pair.server.state is State.CLOSE_WAIT  # never closed by its program
    assert pair.client.state is State.CLOSED  # orphaned FIN-WAIT-2: tcp_fin_timeout (60 s)
    causes = [e.cause for e in events(pair.client) if isinstance(e, StateChanged)]
    assert causes[-1] == "FIN-WAIT-2 timeout"


def test_close_with_unread_data_sends_rst() -> None:
    pair = Pair(plain_config(), plain_config())
    pair.handshake()
    pair.client.send(b"unread", 0.0)
    pair.shuttle()
    pair.wire.clear()
    pair.server.close(0.0)
    assert pair.server.state is State.CLOSED
    assert brief(pair.server.segments_to_send()) == [
        ("R.", (S_ISS + 1) & SEQ_MASK, (C_ISS + 7) & SEQ_MASK, 64240, 0)
    ]


def test_abort_sends_rst_and_peer_sees_reset() -> None:
    pair = Pair()
    pair.handshake()
    pair.server.abort(0.0)
    pair.shuttle()
    assert pair.client.state is State.CLOSED
    assert isinstance(pair.client.error, ConnectionResetError)
    with pytest.raises(BrokenPipeError):
        pair.client.send(b"x", 0.0)
    with pytest.raises(ConnectionResetError):
        pair.client.receive()


def test_refused_connection() -> None:
    client = Connection(LOCAL, REMOTE, iss=C_ISS)
    closed = Connection(REMOTE, LOCAL)
    client.connect(0.0)
    closed.segment_arrived(client.segments_to_send()[0], 0.0)
    (rst,) = closed.segments_to_send()
    assert brief([rst]) == [("R.", 0, (C_ISS + 1) & SEQ_MASK, 0, 0)]
    client.segment_arrived(rst, 0.0)
    assert isinstance(client.error, ConnectionRefusedError)


def test_text_on_a_simultaneous_open_syn_waits_for_established() -> None:
    from test_tcp_support import IRS, ISS, A, Rig, S, s, seg

    rig = Rig().syn_sent()
    assert rig.feed(seg(S, IRS, 0, b"abc")) == [("S.", ISS, s(IRS + 1), 64240, 0)]
    assert rig.conn.readable == 0
    assert rig.feed(seg(A, IRS + 4, ISS + 1)) == []
    assert rig.state is State.ESTABLISHED
    assert rig.conn.receive() == b"abc"
    rig.conn.close(rig.now)
    assert rig.out() == [("F.", s(ISS + 1), s(IRS + 4), 64240, 0)]


def test_a_request_right_after_the_handshake_does_not_make_the_exchange_interactive() -> None:
    """Linux starts its delayed-ACK engine with the first data received (icsk_ack.ato is 0
    before): a client that sends first is in quick-ACK mode and acknowledges the answer's first
    segment at once."""
    pair = Pair()
    pair.handshake()
    pair.client.send(b"G" * 76, 0.0)
    pair.shuttle()
    assert pair.server.receive() == b"G" * 76
    pair.server.send(b"R" * 238, 0.0)
    pair.shuttle()
    assert [(d, f, a, n) for d, f, _, a, _, n in rel(pair)[-2:]] == [
        ("s>c", "P.", 77, 238), ("c>s", ".", 239, 0),
    ]


def test_pingpong_mode_holds_the_ack_of_an_answer_until_more_than_a_segment_arrived() -> None:
    pair = Pair()
    pair.handshake()
    pair.server.send(b"220 ready\r\n", 0.0)  # a greeting, as an SMTP server sends
    pair.shuttle()
    assert pair.client.receive() == b"220 ready\r\n"
    pair.client.send(b"G" * 76, 0.0)  # sent within the delayed-ACK time of data: interactive
    pair.shuttle()
    assert pair.server.receive() == b"G" * 76
    pair.server.set_nodelay(True, 0.0)  # as the seed's nginx: header and body back to back
    pair.server.send(b"R" * 238, 0.0)
    pair.shuttle()
    assert pair.client.segments_to_send() == [] and pair.client.next_deadline() == 0.04
    pair.server.send(b"R" * 612, 0.0)
    pair.shuttle()  # 850 bytes > one segment (536 estimated, then 612): acknowledged at once
    assert [(d, f, a, n) for d, f, _, a, _, n in rel(pair)[-3:]] == [
        ("s>c", "P.", 77, 238), ("s>c", "P.", 77, 612), ("c>s", ".", 862, 0),
    ]


def test_one_way_receiver_acknowledges_a_small_pushed_segment_when_the_program_reads() -> None:
    pair = Pair(client_config=TcpConfig(quick_acks=0))
    pair.handshake()
    pair.run_until(1.0)  # no exchange within the delayed-ACK time: not interactive
    pair.server.send(b"x" * 100, 1.0)
    pair.shuttle()
    assert pair.client.segments_to_send() == []  # delayed
    assert pair.client.receive(now=1.0) == b"x" * 100  # the read drains it (tcp_cleanup_rbuf)
    assert [(f, a) for _, f, _, a, _, _ in brief_rel(pair.client.segments_to_send())] == [
        (".", 101)
    ]


def brief_rel(segs: list[object]) -> list[tuple[str, str, int, int, int, int]]:
    out = []
    for (flags, seq, ack, win, length) in brief(segs):  # type: ignore[arg-type]
        out.append(("c>s", flags, (seq - C_ISS) & SEQ_MASK, (ack - S_ISS) & SEQ_MASK, win, length))
    return out


def test_sender_sws_avoidance_waits_for_the_persist_timer_to_fill_a_small_window() -> None:
    # The receiver offers 4 * 1448 + 500 bytes and never reads.
    pair = Pair(server_config=TcpConfig(rcv_buf=4 * 1448 + 500, window_scale=None))
    pair.handshake()
    pair.client.send(bytes(8000), 0.0)
    pair.shuttle()
    sent = [n for d, _, _, _, _, n in rel(pair) if d == "c>s" and n]
    assert sent == [1448] * 4  # 500 bytes left: less than a segment and than half the window
    deadline = pair.client.next_deadline()
    assert deadline is not None and deadline > pair.now
    pair.run_until(deadline)  # the override (persist) timer sends what fits
    after = rel(pair)[len(sent) + 3:]
    assert [(d, s, n) for d, _, s, _, _, n in after if n] == [("c>s", 1 + 4 * 1448, 500)]
    assert [w for d, _, _, _, w, _ in after if d == "s>c"][-1] == 0  # filled to exactly 0
