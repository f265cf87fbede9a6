"""What RFC 9293 state each endpoint must be in, from the segments a capture shows.

The observer is not a second TCP: it applies each captured segment to both endpoints' states as
the sender's transition (on sending) and the receiver's transition (on arrival), as the ladder
diagrams of the RFC draw them (RFC 9293 §3.5 figures 6-13 and the event processing of §3.10.7).
Sequence checks are reduced to the acknowledgment of SYNs and FINs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from synack.tcp.state import State

if TYPE_CHECKING:
    from synack.analyze.tracker import Side

CLOSED: Final = State.CLOSED
LISTEN: Final = State.LISTEN
SYN_SENT: Final = State.SYN_SENT
SYN_RECEIVED: Final = State.SYN_RECEIVED
ESTABLISHED: Final = State.ESTABLISHED
FIN_WAIT_1: Final = State.FIN_WAIT_1
FIN_WAIT_2: Final = State.FIN_WAIT_2
CLOSE_WAIT: Final = State.CLOSE_WAIT
CLOSING: Final = State.CLOSING
LAST_ACK: Final = State.LAST_ACK
TIME_WAIT: Final = State.TIME_WAIT

_M: Final = 0xFFFFFFFF
_HALF: Final = 1 << 31


def advance(s: Side, r: Side, flags: int, seq: int, ack: int, plen: int, now: float) -> None:
    """Apply one segment sent by `s` to `r` to both endpoints' inferred states."""
    conn = s.conn
    st = s.st
    rt = r.st
    if flags & 0x04:  # RST (RFC 9293 §3.10.7.4, §3.10.7.3)
        s.rsts += 1
        if conn.rst_by is None:
            conn.rst_by = s
            conn.rst_sender_state = st
            conn.rst_receiver_state = rt
        s.st = CLOSED
        if rt is SYN_SENT:
            # Acceptable in SYN-SENT only if it acknowledges our SYN (§3.10.7.3).
            if flags & 0x10 and r.iss >= 0 and ack == (r.iss + 1) & _M:
                r.st = CLOSED
        elif rt is SYN_RECEIVED and r.passive:
            r.st = LISTEN  # a passive open returns to LISTEN (§3.10.7.4)
        elif (rt is not None and rt is not LISTEN) or rt is None:
            r.st = CLOSED
        return
    if flags & 0x02:  # SYN
        s.iss = seq
        if flags & 0x10:  # SYN-ACK
            s.synacks += 1
            if st is ESTABLISHED and s.passive and s.synacks > 1 and not s.fin_seq >= 0:
                # A retransmitted SYN-ACK: the handshake's ACK never arrived (§3.10.7.4), and
                # bare ACKs repeating it are not trusted to arrive either.
                s.st = SYN_RECEIVED
                s.acks_lost = True
            elif st is None or st is LISTEN or st is CLOSED:
                s.st = SYN_RECEIVED
                s.passive = True
            elif st is SYN_SENT:
                s.st = SYN_RECEIVED  # simultaneous open (§3.10.7.3)
            if rt is SYN_SENT or rt is SYN_RECEIVED:
                if r.iss >= 0 and ack == (r.iss + 1) & _M:
                    r.st = ESTABLISHED
            elif rt is None:
                r.st = ESTABLISHED
                conn.start_missing = True
        else:
            s.syns += 1
            if st is None or st is CLOSED or st is TIME_WAIT:
                s.st = SYN_SENT
            elif st is LISTEN:
                s.st = SYN_SENT
                conn.simultaneous_open = True
            if rt is None or rt is CLOSED:
                r.st = LISTEN
            elif rt is SYN_SENT:
                r.st = SYN_RECEIVED  # simultaneous open: SYN in SYN-SENT
                conn.simultaneous_open = True
        return
    if st is None:
        # The start of this connection was not captured: assume it was synchronized.
        conn.start_missing = True
        s.st = st = ESTABLISHED
        if rt is None:
            r.st = rt = ESTABLISHED
    acked_fin = False
    if flags & 0x10:  # ACK processing at the receiver (§3.10.7.4, fifth check)
        if rt is SYN_RECEIVED:
            # `ack` acknowledges the SYN: ack - (iss + 1) >= 0 in sequence space.
            if (
                r.iss >= 0 and ((ack - r.iss - 1 + _HALF) & _M) >= _HALF
                and not (r.acks_lost and not plen)
            ):
                r.st = rt = ESTABLISHED
                if conn.handshake_ack is None and not s.passive:
                    conn.handshake_ack = "data" if plen else "ack"
        elif r.fin_seq >= 0 and ((ack - r.fin_seq - 1 + _HALF) & _M) >= _HALF:
            if rt is FIN_WAIT_1:
                r.st = rt = FIN_WAIT_2
                acked_fin = True
            elif rt is CLOSING:
                r.st = rt = TIME_WAIT
                r.time_wait_at = now
            elif rt is LAST_ACK:
                r.st = rt = CLOSED
        if st is SYN_SENT:
            # Only a synchronized endpoint sends this: the SYN-ACK was not captured, and the
            # peer that sent it is synchronized by this ACK.
            s.st = st = ESTABLISHED
            if rt is None or rt is LISTEN:
                r.st = rt = ESTABLISHED
                conn.start_missing = True
        elif st is SYN_RECEIVED and s.acks_lost:
            s.st = st = ESTABLISHED
    if plen and r.fin_seq >= 0 and s.fin_seq < 0:
        s.data_after_peer_fin = True
    if flags & 0x01:  # FIN (§3.10.7.4, eighth check)
        if acked_fin and conn.first_fin_by is r:
            conn.fin_piggybacked = True  # this FIN also acknowledged the peer's FIN
        if s.fin_seq < 0:
            s.fin_seq = (seq + plen) & _M
            s.fin_at = now
            if conn.first_fin_by is None:
                conn.first_fin_by = s
        if st is ESTABLISHED or st is SYN_RECEIVED:
            s.st = FIN_WAIT_1
        elif st is CLOSE_WAIT:
            if r.fin_seq >= 0 and not (
                flags & 0x10 and ((ack - r.fin_seq - 1 + _HALF) & _M) >= _HALF
            ):
                # This FIN does not acknowledge the peer's: it was sent before that FIN
                # arrived, so both closed at once (§3.6 figure 13) and the peer's FIN is due.
                s.st = CLOSING
                conn.simultaneous_close = True
            else:
                s.st = LAST_ACK
        if rt is ESTABLISHED or rt is SYN_RECEIVED:
            r.st = CLOSE_WAIT
        elif rt is FIN_WAIT_1:
            r.st = CLOSING
            if conn.first_fin_by is r:
                conn.simultaneous_close = True
        elif rt is FIN_WAIT_2:
            r.st = TIME_WAIT
            r.time_wait_at = now
