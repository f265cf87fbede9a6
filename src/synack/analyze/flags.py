"""Wireshark-style TCP analysis flags for each segment, with Wireshark's definitions.

Learned from Wireshark's epan/dissectors/packet-tcp.c (`tcp_analyze_sequence_number`): each
direction remembers the highest sequence number seen (`nextseq`) and when, the last ACK and window
it sent, and a duplicate-ACK counter; a new segment is then classified against those by a fixed
order of tests. The names match the `tcp.analysis.*` display fields so that counts can be compared
with `tshark -2 -T fields`.
"""

from __future__ import annotations

from typing import Final

from synack.wire import tcp
from synack.wire.seq import SEQ_MASK

# One bit per analysis flag.
RETRANSMISSION: Final = 0x0001
FAST_RETRANSMISSION: Final = 0x0002
SPURIOUS_RETRANSMISSION: Final = 0x0004
OUT_OF_ORDER: Final = 0x0008
LOST_SEGMENT: Final = 0x0010
DUPLICATE_ACK: Final = 0x0020
ZERO_WINDOW: Final = 0x0040
ZERO_WINDOW_PROBE: Final = 0x0080
ZERO_WINDOW_PROBE_ACK: Final = 0x0100
WINDOW_UPDATE: Final = 0x0200
KEEP_ALIVE: Final = 0x0400
KEEP_ALIVE_ACK: Final = 0x0800
ACKED_UNSEEN: Final = 0x1000

# tcp.analysis.* field -> bits that make Wireshark show it. A fast or spurious retransmission is
# also shown as a retransmission.
FIELD_BITS: Final = {
    "retransmission": RETRANSMISSION | FAST_RETRANSMISSION | SPURIOUS_RETRANSMISSION,
    "fast_retransmission": FAST_RETRANSMISSION,
    "spurious_retransmission": SPURIOUS_RETRANSMISSION,
    "out_of_order": OUT_OF_ORDER,
    "lost_segment": LOST_SEGMENT,
    "duplicate_ack": DUPLICATE_ACK,
    "zero_window": ZERO_WINDOW,
    "zero_window_probe": ZERO_WINDOW_PROBE,
    "zero_window_probe_ack": ZERO_WINDOW_PROBE_ACK,
    "window_update": WINDOW_UPDATE,
    "keep_alive": KEEP_ALIVE,
    "keep_alive_ack": KEEP_ALIVE_ACK,
    "ack_lost_segment": ACKED_UNSEEN,
}

# Each bit's own name (a fast retransmission is named once here).
BIT_NAMES: Final = (
    (RETRANSMISSION, "retransmission"), (FAST_RETRANSMISSION, "fast_retransmission"),
    (SPURIOUS_RETRANSMISSION, "spurious_retransmission"), (OUT_OF_ORDER, "out_of_order"),
    (LOST_SEGMENT, "lost_segment"), (DUPLICATE_ACK, "duplicate_ack"),
    (ZERO_WINDOW, "zero_window"), (ZERO_WINDOW_PROBE, "zero_window_probe"),
    (ZERO_WINDOW_PROBE_ACK, "zero_window_probe_ack"), (WINDOW_UPDATE, "window_update"),
    (KEEP_ALIVE, "keep_alive"), (KEEP_ALIVE_ACK, "keep_alive_ack"),
    (ACKED_UNSEEN, "ack_lost_segment"),
)


def bit_names(bits: int) -> list[str]:
    """The analysis flags set in `bits`, by name."""
    return [name for bit, name in BIT_NAMES if bits & bit]


# TCP header flag bits (RFC 9293 §3.1), as module globals.
_FIN: Final = tcp.FIN
_SYN: Final = tcp.SYN
_RST: Final = tcp.RST
_ACK: Final = tcp.ACK
_SFR: Final = _SYN | _FIN | _RST
_HALF: Final = 1 << 31

FAST_RETRANSMISSION_WINDOW: Final = 0.020  # s after the last duplicate ACK
OUT_OF_ORDER_DEFAULT: Final = 0.003  # s, when the handshake RTT is unknown


class WsDir:
    """What Wireshark remembers about one direction of a TCP stream."""

    __slots__ = (
        "base_seq", "dupacks", "lastack", "lastacktime", "lastflags", "maxseqtobeacked",
        "nextseq", "nextseqtime", "window",
    )

    def __init__(self) -> None:
        self.base_seq = -1  # -1: not set yet
        self.nextseq = 0  # 0: nothing seen (as Wireshark)
        self.nextseqtime = 0.0
        self.maxseqtobeacked = 0
        self.lastack = 0
        self.lastacktime = 0.0
        self.window = -1
        self.dupacks = 0
        self.lastflags = 0


class WsStream:
    """One Wireshark TCP stream: both directions and the handshake's initial RTT."""

    __slots__ = ("a", "b", "first_rtt", "mru_syn")

    def __init__(self) -> None:
        self.a = WsDir()
        self.b = WsDir()
        self.first_rtt = 0.0  # tcp.analysis.initial_rtt; 0 while unknown
        self.mru_syn = 0.0  # time of the most recent SYN


def starts_new_stream(fwd: WsDir, stream: WsStream, seq: int, flags: int) -> bool:
    """A SYN that begins a new stream on the same ports (Wireshark's "port numbers reused"): a
    new initial sequence number (the same one after a close continues the old stream)."""
    return flags & (_SYN | _ACK) == _SYN and fwd.base_seq >= 0 and seq != fwd.base_seq


def analyze(
    stream: WsStream, fwd: WsDir, rev: WsDir, now: float, seq: int, ack: int, flags: int,
    window: int, seglen: int,
) -> int:
    """Classify one segment sent in direction `fwd`; returns the analysis bits and updates state.

    The commonest segments (in-order data or a new ACK into an open window, an in-order FIN, a
    SYN opening its direction) are settled here; `classify` takes every other one.
    """
    if fwd.base_seq < 0:
        fwd.base_seq = seq if flags & _SYN else (seq - 1) & SEQ_MASK
    if flags & _SYN:
        if not flags & _ACK:
            stream.mru_syn = now
    elif flags & _ACK and stream.first_rtt == 0.0 and stream.mru_syn:
        stream.first_rtt = now - stream.mru_syn

    nextseq = fwd.nextseq
    sfr = flags & _SFR
    lastack = fwd.lastack
    if seq == nextseq and window and not sfr and (seglen > 1 or (seglen == 0 and ack != lastack)):
        # Fast path: in-order data, or a new ACK, into an open window — no test below can fire
        # but "ACKed unseen".
        bits = 0
        if (
            flags & _ACK
            and rev.maxseqtobeacked
            and ((ack - rev.maxseqtobeacked + _HALF) & SEQ_MASK) - _HALF > 0
        ):
            bits = ACKED_UNSEEN
            rev.maxseqtobeacked = rev.nextseq
        if seglen:
            end = (seq + seglen) & SEQ_MASK
            fwd.nextseq = end
            fwd.nextseqtime = now
            if seq == fwd.maxseqtobeacked or not fwd.maxseqtobeacked:
                fwd.maxseqtobeacked = end
        elif not fwd.maxseqtobeacked:
            fwd.maxseqtobeacked = nextseq
        fwd.dupacks = 0
        fwd.window = window
        fwd.lastack = ack
        fwd.lastacktime = now
        fwd.lastflags = bits
        return bits
    if (
        sfr in (_FIN, _SYN) and (seq == nextseq or not nextseq)
        and not (seglen == 1 and seq == nextseq and rev.window == 0)
    ):
        # An in-order FIN, or a SYN opening its direction (nothing seen yet): it advances
        # `nextseq` by its length plus one, and no test below but "ACKed unseen" can fire (the
        # zero-window, keep-alive and duplicate-ACK tests exclude SYN and FIN; the lost-segment
        # and retransmission tests need a sequence number off `nextseq`).
        bits = 0
        if (
            flags & _ACK
            and rev.maxseqtobeacked
            and ((ack - rev.maxseqtobeacked + _HALF) & SEQ_MASK) - _HALF > 0
        ):
            bits = ACKED_UNSEEN
            rev.maxseqtobeacked = rev.nextseq
        end = (seq + seglen + 1) & SEQ_MASK
        fwd.nextseq = end
        fwd.nextseqtime = now
        if seq == fwd.maxseqtobeacked or not fwd.maxseqtobeacked:
            fwd.maxseqtobeacked = end
        fwd.dupacks = 0
        fwd.window = window
        fwd.lastack = ack
        fwd.lastacktime = now
        fwd.lastflags = bits
        return bits
    return classify(stream, fwd, rev, now, seq, ack, flags, window, seglen)


def classify(
    stream: WsStream, fwd: WsDir, rev: WsDir, now: float, seq: int, ack: int, flags: int,
    window: int, seglen: int,
) -> int:
    """`analyze` after its first steps (`base_seq`, the initial RTT), by the full order of
    Wireshark's tests: right for every segment, and what `analyze`'s quick cases shortcut."""
    nextseq = fwd.nextseq
    sfr = flags & _SFR
    lastack = fwd.lastack
    bits = 0
    while True:  # one pass; `break` is Wireshark's "goto finished_fwd"
        # ZERO WINDOW PROBE: one byte at the next sequence number into a closed window.
        if seglen == 1 and seq == nextseq and rev.window == 0:
            bits = ZERO_WINDOW_PROBE
            break
        # ZERO WINDOW: window 0 on a segment without SYN, FIN or RST.
        if window == 0 and not sfr:
            bits = ZERO_WINDOW
        # LOST SEGMENT: beyond the next expected sequence number (RSTs excepted).
        if nextseq and not flags & _RST and ((seq - nextseq + _HALF) & SEQ_MASK) - _HALF > 0:
            bits |= LOST_SEGMENT
        # KEEP-ALIVE: 0 or 1 byte one before the next expected sequence number.
        if seglen <= 1 and seq == ((nextseq - 1) & SEQ_MASK) and not sfr:
            bits |= KEEP_ALIVE
        if seglen == 0 and not sfr and seq == nextseq and ack == lastack:
            if window and window != fwd.window:
                bits |= WINDOW_UPDATE
            if window and window == fwd.window and rev.lastflags & KEEP_ALIVE:
                bits |= KEEP_ALIVE_ACK
                break
            if window == 0 and fwd.window == 0 and rev.lastflags & ZERO_WINDOW_PROBE:
                bits |= ZERO_WINDOW_PROBE_ACK
                break
            if window and window == fwd.window:
                fwd.dupacks += 1
                bits |= DUPLICATE_ACK
        break
    if not bits & DUPLICATE_ACK:
        fwd.dupacks = 0

    # ACKED UNSEEN: acknowledges data never seen in the other direction.
    if (
        flags & _ACK
        and rev.maxseqtobeacked
        and ((ack - rev.maxseqtobeacked + _HALF) & SEQ_MASK) - _HALF > 0
    ):
        bits |= ACKED_UNSEEN
        rev.maxseqtobeacked = rev.nextseq

    # RETRANSMISSION / FAST RETRANSMISSION / OUT-OF-ORDER / SPURIOUS: a segment that occupies
    # sequence space and does not advance `nextseq`.
    if (
        (seglen or flags & (_SYN | _FIN))
        and nextseq
        and ((seq - nextseq + _HALF) & SEQ_MASK) - _HALF < 0
        and not bits & KEEP_ALIVE
    ):
        if rev.dupacks >= 2 and rev.lastack == seq and now - rev.lastacktime < (
            FAST_RETRANSMISSION_WINDOW
        ):
            bits |= FAST_RETRANSMISSION
        elif (
            now - fwd.nextseqtime < (stream.first_rtt or OUT_OF_ORDER_DEFAULT)
            and nextseq != ((seq + seglen + (1 if flags & (_SYN | _FIN) else 0)) & SEQ_MASK)
        ):
            bits |= OUT_OF_ORDER
        elif (
            seglen
            and rev.lastack
            and ((seq + seglen - rev.lastack + _HALF) & SEQ_MASK) - _HALF <= 0
        ):
            bits |= SPURIOUS_RETRANSMISSION
        else:
            bits |= RETRANSMISSION

    end = (seq + seglen + (1 if flags & (_SYN | _FIN) else 0)) & SEQ_MASK
    if (not nextseq or ((end - nextseq + _HALF) & SEQ_MASK) - _HALF > 0) and not (
        bits & ZERO_WINDOW_PROBE
    ):
        fwd.nextseq = end
        fwd.nextseqtime = now
    if (seq == fwd.maxseqtobeacked or not fwd.maxseqtobeacked) and not bits & ZERO_WINDOW_PROBE:
        fwd.maxseqtobeacked = fwd.nextseq
    fwd.window = window
    fwd.lastack = ack
    fwd.lastacktime = now
    fwd.lastflags = bits
    return bits
