"""SACK-based loss recovery (RFC 6675): the scoreboard's rules, and a sender that resends every
lost segment of a window in one round trip where NewReno needs one round trip per loss."""

from __future__ import annotations

import pytest

from synack.tcp.config import TcpConfig
from synack.tcp.sack import Scoreboard
from synack.wire.seq import SEQ_MASK
from synack.wire.tcp import TcpSegment
from test_tcp_support import Pair

MSS = 1000
UNA = 2**32 - 2500  # the sequence space wraps inside the window


def at(offset: int) -> int:
    return (UNA + offset) & SEQ_MASK


def board(*ranges: tuple[int, int]) -> Scoreboard:
    b = Scoreboard()
    assert b.update(tuple((at(s), at(e)) for s, e in ranges), UNA, at(20 * MSS))
    return b


def offsets(b: Scoreboard) -> list[tuple[int, int]]:
    return [((s - UNA) & SEQ_MASK, (e - UNA) & SEQ_MASK) for s, e in b.ranges]


def test_blocks_merge_clip_and_say_whether_they_were_new() -> None:
    b = board((3000, 4000), (1000, 2000))
    assert offsets(b) == [(1000, 2000), (3000, 4000)]
    assert not b.update(((at(1000), at(2000)),), UNA, at(20 * MSS))  # nothing new
    assert b.update(((at(2000), at(3000)),), UNA, at(20 * MSS))  # fills the gap: merged
    assert offsets(b) == [(1000, 4000)]
    assert b.update(((at(19000), at(25000)),), UNA, at(20 * MSS))  # beyond SND.MAX: clipped
    assert offsets(b)[-1] == (19000, 20000)


def test_a_dsack_block_is_not_taken_as_sacked_data() -> None:
    # RFC 2883 §4: below the cumulative ACK, or inside the second block.
    b = Scoreboard()
    assert not b.update(((at(-500), at(0)),), UNA, at(20 * MSS))
    assert not b
    assert b.update(((at(3000), at(3500)), (at(3000), at(4000))), UNA, at(20 * MSS))
    assert offsets(b) == [(3000, 4000)]


def test_advance_forgets_what_the_cumulative_ack_covers() -> None:
    b = board((1000, 2000), (3000, 4000))
    b.advance(at(1500))
    assert [((s - at(1500)) & SEQ_MASK, (e - at(1500)) & SEQ_MASK) for s, e in b.ranges] == [
        (0, 500), (1500, 2500)
    ]


def test_is_lost_needs_three_sacked_ranges_or_more_than_two_segments_above() -> None:
    # Two ranges of one segment each above the hole: not lost yet.
    assert board((1000, 2000), (3000, 4000)).lost_holes(UNA, MSS) == []
    # Three discontiguous ranges above the first hole: lost; the others have fewer above.
    three = board((1000, 2000), (3000, 4000), (5000, 6000))
    assert three.lost_holes(UNA, MSS) == [(UNA, at(1000))]
    # More than 2 * SMSS octets SACKed above, in one range: lost.
    assert board((1000, 3500)).lost_holes(UNA, MSS) == [(UNA, at(1000))]


def test_pipe_counts_what_is_in_the_network() -> None:
    b = board((1000, 3500))  # hole 0..1000 lost; 3500..20000 unSACKed, not lost
    assert b.pipe(UNA, at(20 * MSS), UNA, MSS) == 16500
    assert b.pipe(UNA, at(20 * MSS), at(1000), MSS) == 17500  # the hole resent: in the network
    # Holes not lost count once, and once more as far as they were resent (SetPipe (b)).
    two = board((1000, 2000), (3000, 4000))
    assert two.pipe(UNA, at(20 * MSS), UNA, MSS) == 18000
    assert two.pipe(UNA, at(20 * MSS), at(1000), MSS) == 19000


def test_next_seg_resends_lost_holes_first_then_any_hole() -> None:
    b = board((1000, 2000), (2500, 3000), (4000, 5000))
    assert b.next_seg(UNA, UNA, MSS, lost_only=True) == (UNA, 1000)
    assert b.next_seg(UNA, at(1000), MSS, lost_only=True) == (0, 0)  # the others are not lost
    assert b.next_seg(UNA, at(1000), MSS, lost_only=False) == (at(2000), 500)
    assert b.next_seg(UNA, at(2500), MSS, lost_only=False) == (at(3000), 1000)


def resends(sack: bool) -> list[tuple[int, int]]:
    """The server sends 20 segments; the 3rd and 7th are lost once. Returns (round, segment
    number) of every data segment it sends, a round being one turn of the server's output."""
    pair = Pair(client_config=TcpConfig(sack=sack), server_config=TcpConfig(sack=sack))
    pair.handshake()
    mss = pair.server.smss
    base = (pair.server.snd_nxt - 1) & SEQ_MASK
    sent: list[tuple[int, int]] = []
    pair.server.send(bytes(20 * mss), 0.0)
    rounds = 0
    moved = True
    while moved:
        moved = False
        for name, a, b in (("s>c", pair.server, pair.client), ("c>s", pair.client, pair.server)):
            out: list[TcpSegment] = a.segments_to_send()
            if name == "s>c" and out:
                rounds += 1
            for x in out:
                moved = True
                number = ((x.seq - base - 1) & SEQ_MASK) // mss + 1
                if name == "s>c" and x.payload:
                    sent.append((rounds, number))
                    if number in (3, 7) and [n for _, n in sent].count(number) == 1:
                        continue  # lost on its first transmission
                b.segment_arrived(x, 0.0)
    assert pair.client.receive() == bytes(20 * mss)
    return sent


def test_sack_recovery_resends_both_losses_at_once_newreno_one_per_round_trip() -> None:
    sack = resends(True)
    newreno = resends(False)
    first = [n for _, n in sack[:10]]
    assert first == list(range(1, 11)) == [n for _, n in newreno[:10]]  # IW10
    resent_sack = [(r, n) for r, n in sack[10:] if n in (3, 7)]
    resent_newreno = [(r, n) for r, n in newreno[10:] if n in (3, 7)]
    assert [n for _, n in resent_sack] == [3, 7] and resent_sack[0][0] == resent_sack[1][0]
    assert [n for _, n in resent_newreno] == [3, 7]
    assert resent_newreno[1][0] == resent_newreno[0][0] + 1  # after the partial ACK
    assert len(sack) == len(newreno) == 22  # nothing else resent


@pytest.mark.parametrize("sack", [True, False])
def test_a_timeout_forgets_the_sack_information(sack: bool) -> None:
    # RFC 2018 §8: the receiver may have reneged; after an RTO everything is resent.
    pair = Pair(client_config=TcpConfig(sack=sack), server_config=TcpConfig(sack=sack))
    pair.handshake()
    mss = pair.server.smss
    pair.server.send(bytes(3 * mss), 0.0)
    first = pair.server.segments_to_send()
    for x in first[1:]:  # the first is lost: the client SACKs the rest (two duplicate ACKs)
        pair.client.segment_arrived(x, 0.0)
    for x in pair.client.segments_to_send():
        pair.server.segment_arrived(x, 0.0)
    assert pair.server.segments_to_send() == []  # too few duplicates for a fast retransmit
    board_ = pair.server._board
    assert bool(board_) is sack
    deadline = pair.server.next_deadline()
    assert deadline is not None
    pair.server.handle_timer(deadline)
    assert pair.server._board is None or not pair.server._board
    (resent,) = pair.server.segments_to_send()
    assert resent.seq == first[0].seq and len(resent.payload) == mss


def flight(segments: int, sack: bool = True) -> tuple[Pair, list[TcpSegment]]:
    """A server with `segments` full segments in flight (initial window that large)."""
    config = TcpConfig(sack=sack, initial_cwnd_segments=segments, rcv_buf=1 << 20)
    pair = Pair(client_config=config, server_config=config)
    pair.handshake()
    pair.server.send(bytes(segments * pair.server.smss), 0.0)
    out = pair.server.segments_to_send()
    assert len(out) == segments
    return pair, out


def acks_for(pair: Pair, segments: list[TcpSegment]) -> list[TcpSegment]:
    acks = []
    for x in segments:
        pair.client.segment_arrived(x, 0.0)
        acks += pair.client.segments_to_send()
    return acks


@pytest.mark.parametrize("segments", [8, 20, 40])
def test_the_lost_segment_goes_at_the_third_duplicate_ack_whatever_the_flight(
    segments: int,
) -> None:
    """RFC 6675 §5 (4.3): entering recovery resends HighACK + 1 at once, before the pipe is
    consulted (cwnd = FlightSize / 2 may well be below the pipe then)."""
    pair, out = flight(segments)
    dups = acks_for(pair, out[1:])  # the first is lost
    for k, ack in enumerate(dups[:3], 1):
        pair.server.segment_arrived(ack, 0.0)
        resent = pair.server.segments_to_send()
        if k < 3:
            assert resent == []
        else:
            assert resent[0].seq == out[0].seq and resent[0].payload == out[0].payload
    assert pair.server._rtt_time is None  # Karn's rule: nothing timed across the resend


def test_late_sack_acks_after_a_timeout_start_no_new_recovery() -> None:
    """RFC 6675 §5.1 / RFC 6582: after an RTO, RecoveryPoint = HighData: duplicate ACKs that
    were on their way do not start a fast recovery (nor reopen the window to half the flight)."""
    pair, out = flight(10)
    dups = acks_for(pair, out[1:])
    deadline = pair.server.next_deadline()
    assert deadline is not None
    pair.server.handle_timer(deadline)
    (resent,) = pair.server.segments_to_send()
    assert resent.seq == out[0].seq
    cc = pair.server._cc
    assert cc is not None and cc.cwnd == pair.server.smss
    for ack in dups:
        pair.server.segment_arrived(ack, deadline)
    assert pair.server.segments_to_send() == [] and not cc.in_recovery
    assert cc.cwnd == pair.server.smss


def test_acks_carrying_only_a_dsack_are_not_duplicate_acks() -> None:
    """RFC 6675 §2: with SACK, a duplicate ACK reports new SACKed octets; the D-SACKs of
    network-duplicated old segments must not set off a fast retransmit."""
    pair, out = flight(3)
    for ack in acks_for(pair, out[:2]):  # the third is still on its way
        pair.server.segment_arrived(ack, 0.0)
    assert pair.server.segments_to_send() == []
    for _ in range(3):
        (dsack,) = acks_for(pair, [out[0]])  # a copy of an old segment
        assert dsack.sack_blocks == ((out[0].seq, (out[0].seq + len(out[0].payload)) & SEQ_MASK),)
        pair.server.segment_arrived(dsack, 0.0)
    cc = pair.server._cc
    assert cc is not None
    assert pair.server.segments_to_send() == [] and not cc.in_recovery and cc.dup_acks == 0


@pytest.mark.parametrize("sack", [True, False])
def test_a_lost_last_segment_is_resent_within_the_recovery(sack: bool) -> None:
    """RFC 6675 §4 NextSeg (4), the rescue retransmission: when the first and the last segments
    of a window are lost, the last goes in the same recovery (nothing SACKed above it, so no
    other rule names it), not after an RTO; NewReno resends it on the partial ACK."""
    pair, out = flight(10, sack)
    for ack in acks_for(pair, out[1:-1]):
        pair.server.segment_arrived(ack, 0.0)
    pair.shuttle()  # no timer runs: only the recovery can repair both losses
    assert pair.client.readable == 10 * pair.server.smss
    assert pair.server.snd_una == pair.server.snd_max
