"""D-SACK (RFC 2883): a receiver reports the duplicate it got in the first SACK block, as Linux."""

from __future__ import annotations

from synack.tcp.config import TcpConfig
from synack.wire.seq import SEQ_MASK
from synack.wire.tcp import Nop, Sack, TcpFlags, TcpSegment, Timestamps
from test_tcp_support import Pair

C_ISS = 2**32 - 10001
S_ISS = 2**32 - 20001


def sack_of(seg: TcpSegment) -> tuple[tuple[int, int], ...] | None:
    """The SACK blocks of a client segment, relative to the server's ISN (None: no option)."""
    for option in seg.options:
        if isinstance(option, Sack):
            return tuple(((a - S_ISS) & SEQ_MASK, (b - S_ISS) & SEQ_MASK) for a, b in option.blocks)
    return None


def server_sends(pair: Pair, data: bytes, drop_acks: int = 0) -> list[TcpSegment]:
    """The server sends `data`; the client's first `drop_acks` ACKs are lost. Returns every
    segment the client sent meanwhile."""
    sent: list[TcpSegment] = []
    left = [drop_acks]

    def note(direction: str, seg: TcpSegment) -> bool:
        if direction != "c>s":
            return False
        sent.append(seg)
        if left[0]:
            left[0] -= 1
            return True
        return False

    pair.server.send(data, pair.now)
    pair.run_until(pair.now + 5.0, note)
    return sent


def test_a_retransmission_after_a_lost_ack_is_reported_once_as_a_duplicate() -> None:
    pair = Pair()
    pair.handshake()
    acks = server_sends(pair, bytes(100), drop_acks=1)
    # The ACK of bytes 1..101 was lost; the server's RTO resent them: the client acknowledges
    # them again at once, with the duplicate range as a D-SACK block.
    assert [(s.ack - S_ISS) & SEQ_MASK for s in acks] == [101, 101]
    assert [sack_of(s) for s in acks] == [None, ((1, 101),)]
    assert pair.client.readable == 100  # the duplicate was not delivered twice
    later = server_sends(pair, bytes(10))
    assert [sack_of(s) for s in later] == [None]  # reported once


def test_a_partly_new_retransmission_reports_only_the_old_part() -> None:
    pair = Pair()
    pair.handshake()
    server_sends(pair, bytes(100))
    last = pair.wire[-1][1]  # the client's ACK: its timestamps give the server's TSecr
    ts = next(o for o in last.options if isinstance(o, Timestamps))
    seq = (S_ISS + 51) & SEQ_MASK  # bytes 51..151: the first 50 are duplicates
    pair.client.segment_arrived(
        TcpSegment(80, 40000, seq, last.seq, TcpFlags.PSH | TcpFlags.ACK, 502,
                   options=(Nop(), Nop(), Timestamps(ts.echo + 1, ts.value)), payload=bytes(100)),
        pair.now,
    )
    (ack,) = pair.client.segments_to_send()
    assert (ack.ack - S_ISS) & SEQ_MASK == 151
    assert sack_of(ack) == ((51, 101),)
    assert pair.client.readable == 150


def test_no_duplicate_report_without_sack() -> None:
    pair = Pair(client_config=TcpConfig(sack=False))
    pair.handshake()
    acks = server_sends(pair, bytes(100), drop_acks=1)
    assert [sack_of(s) for s in acks] == [None, None]
    assert [(s.ack - S_ISS) & SEQ_MASK for s in acks] == [101, 101]


def test_the_duplicate_block_goes_before_the_out_of_order_blocks() -> None:
    pair = Pair()
    pair.handshake()
    data: list[TcpSegment] = []

    def drop_the_second(direction: str, seg: TcpSegment) -> bool:
        if direction == "s>c" and seg.payload:
            data.append(seg)
            return len(data) == 2
        return False

    pair.server.send(bytes(3000), pair.now)  # 1448 + 1448 + 104 bytes: the second is lost
    pair.shuttle(drop_the_second)
    assert sack_of(pair.wire[-1][1]) == ((2897, 3001),)
    pair.client.segment_arrived(data[0], pair.now)  # the first again: a duplicate
    (ack,) = pair.client.segments_to_send()
    assert (ack.ack - S_ISS) & SEQ_MASK == 1449
    assert sack_of(ack) == ((1, 1449), (2897, 3001))  # RFC 2883 §4: the D-SACK block first


def test_a_fin_beyond_a_hole_is_answered_at_once() -> None:
    """RFC 5681 §4.2: an out-of-order segment, a bare FIN too, gets a duplicate ACK at once, so
    that the sender learns of the hole."""
    pair = Pair()
    pair.handshake()
    pair.server.send(bytes(100), pair.now)
    (data,) = pair.server.segments_to_send()
    pair.server.close(pair.now)
    (fin,) = pair.server.segments_to_send()
    assert fin.flags & 0x01 and not fin.payload
    pair.client.segment_arrived(fin, pair.now)  # the data before it is lost
    (ack,) = pair.client.segments_to_send()
    assert ack.ack == data.seq and pair.client.readable == 0
