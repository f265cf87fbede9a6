"""The pieces of the core on their own: buffers with byte-range reassembly, ISNs, NewReno."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from synack.tcp.buffers import ReceiveBuffer, SendBuffer
from synack.tcp.congestion import NewReno
from synack.tcp.isn import IsnGenerator

A4 = bytes([10, 0, 0, 1])
B4 = bytes([10, 0, 0, 2])


def test_send_buffer_capacity_peek_acknowledge() -> None:
    buf = SendBuffer(10)
    assert buf.write(b"abcdefgh") == 8
    assert buf.write(b"ijkl") == 2
    assert buf.space == 0 and len(buf) == 10
    assert buf.peek(3, 4) == b"defg"
    assert buf.acknowledge(4) == 4
    assert buf.peek(0, 100) == b"efghij"
    assert buf.acknowledge(100) == 6 and len(buf) == 0


def test_receive_buffer_in_order_and_holes() -> None:
    buf = ReceiveBuffer(1000)
    assert buf.insert(0, b"abc") == 3
    assert buf.insert(3, b"ghi") == 0  # a hole at 0..3 (offsets relative to `next`)
    assert buf.ranges() == [(6, 9)] and buf.last_range == (6, 9)
    assert buf.insert(7, b"mn") == 0
    assert buf.ranges() == [(6, 9), (10, 12)]
    assert buf.insert(0, b"def") == 6  # fills the first hole: "def" + "ghi"
    assert buf.read() == b"abcdefghi"
    assert buf.ranges() == [(10, 12)]
    assert buf.insert(0, b"jk") == 3  # "j", then the held "mn" (held bytes win the overlap)
    assert buf.read(2) == b"jm" and buf.read() == b"n"
    assert buf.free_space() == 1000


def test_receive_buffer_overlaps_keep_first_bytes() -> None:
    buf = ReceiveBuffer(100)
    buf.insert(5, b"XXXXX")
    buf.insert(3, b"yyyyyyyyy")  # covers 3..12, overlapping the held 5..10
    assert buf.ranges() == [(3, 12)]
    buf.insert(0, b"zzz")
    assert buf.read() == b"zzz" + b"yy" + b"XXXXX" + b"yy"


@given(st.data())
def test_receive_buffer_reassembles_any_order(data: st.DataObject) -> None:
    stream = bytes(range(256)) * 4
    cuts = sorted(data.draw(st.sets(st.integers(1, len(stream) - 1), max_size=30)))
    pieces = [(a, stream[a:b]) for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    pieces += data.draw(st.lists(st.sampled_from(pieces), max_size=10))  # duplicates
    order = data.draw(st.permutations(pieces))
    buf = ReceiveBuffer(len(stream))
    for offset, chunk in order:
        buf.insert(offset - buf.next, chunk)
    assert buf.read() == stream
    assert buf.ranges() == []


def test_isn_keyed_per_tuple_and_clocked() -> None:
    gen = IsnGenerator(b"secret")
    a = gen.isn(A4, 1000, B4, 80, 0.0)
    assert gen.isn(A4, 1000, B4, 80, 0.0) == a
    assert gen.isn(A4, 1001, B4, 80, 0.0) != a
    assert gen.isn(A4, 1000, B4, 80, 1.0) == (a + 250_000) % 2**32  # 4 µs clock
    assert IsnGenerator(b"other").isn(A4, 1000, B4, 80, 0.0) != a
    spread = {gen.isn(A4, p, B4, 80, 0.0) >> 24 for p in range(2000)}
    assert len(spread) > 200  # high bytes are spread: not predictable from the port


def test_newreno_slow_start_recovery_and_timeout() -> None:
    cc = NewReno(1000, 10)
    assert cc.cwnd == 10000
    cc.on_ack(1000, 1000, 9000)
    assert cc.cwnd == 11000
    assert not cc.on_dup_ack(10000, 20000, 1000)
    assert not cc.on_dup_ack(10000, 20000, 1000)
    assert cc.on_dup_ack(10000, 20000, 1000)  # third duplicate: fast retransmit
    assert cc.ssthresh == 5000 and cc.cwnd == 8000 and cc.in_recovery
    assert cc.on_ack(2000, 3000, 8000)  # partial ACK
    assert not cc.on_ack(17000, 20000, 0)  # everything up to `recover`
    assert not cc.in_recovery and cc.cwnd == 2000
    cc.on_timeout(8000, 28000)
    assert cc.cwnd == 1000 and cc.ssthresh == 4000
    # RFC 6582 §3.2: no fast retransmit until what was outstanding at the timeout is acknowledged.
    assert [cc.on_dup_ack(8000, 28000, 21000) for _ in range(3)] == [False] * 3
    assert not cc.in_recovery
    cc.on_ack(7000, 28000, 0)
    assert [cc.on_dup_ack(8000, 36000, 28000) for _ in range(3)] == [False, False, True]


def test_random_reassembly_matches_stream() -> None:
    rng = random.Random(3)
    stream = rng.randbytes(50_000)
    buf = ReceiveBuffer(len(stream))
    out = bytearray()
    while len(out) < len(stream):
        start = buf.next + rng.randrange(0, 5000)
        chunk = stream[start : start + rng.randrange(1, 1500)]
        if chunk:
            buf.insert(start - buf.next, chunk)
        out += buf.read()
    assert bytes(out) == stream
