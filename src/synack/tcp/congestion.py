"""Congestion control: NewReno (RFC 5681 + RFC 6582), and the window side of SACK-based loss
recovery (RFC 6675: the connection's scoreboard decides what to resend), behind a small interface
so that CUBIC can replace it without touching the connection."""

from __future__ import annotations

from synack.wire.seq import seq_ge


class NewReno:
    """Slow start, congestion avoidance, fast retransmit / fast recovery with NewReno partial ACKs.

    Sizes are bytes. The connection calls `on_ack` for every ACK that advances SND.UNA,
    `on_dup_ack` for duplicate ACKs and `on_timeout` when the retransmission timer fires.
    """

    __slots__ = (
        "_acked_in_ca", "cwnd", "dup_acks", "in_recovery", "mss", "recover", "sack_recovery",
        "ssthresh",
    )

    def __init__(self, mss: int, initial_segments: int = 10) -> None:
        self.mss = mss
        self.cwnd = initial_segments * mss  # RFC 6928 IW10
        self.ssthresh = 1 << 30  # RFC 5681 §3.1: arbitrarily high
        self.dup_acks = 0
        self.in_recovery = False
        self.recover = 0  # RFC 6582: highest sequence number sent when recovery began
        self.sack_recovery = False  # this recovery follows RFC 6675 (no inflation, no deflation)
        self._acked_in_ca = 0

    def on_ack(self, acked: int, snd_una: int, flight: int) -> bool:
        """`acked` new bytes acknowledged, SND.UNA now `snd_una`, `flight` bytes outstanding.

        Returns True on a NewReno partial ACK (the caller resends the next unacknowledged segment).
        """
        self.dup_acks = 0
        if self.in_recovery:
            if seq_ge(snd_una, self.recover):  # RFC 6582 §3.2 step 3: full acknowledgment
                self.in_recovery = self.sack_recovery = False
                self.cwnd = min(self.ssthresh, max(flight, self.mss) + self.mss)
                return False
            if self.sack_recovery:
                return False  # RFC 6675: cwnd stays; the pipe decides what is sent
            # Partial ACK: deflate by the amount acknowledged, add back one MSS.
            self.cwnd = max(self.cwnd - acked + self.mss, self.mss)
            return True
        if self.cwnd < self.ssthresh:  # RFC 5681 §3.1 slow start (ABC, L=2)
            self.cwnd += min(acked, 2 * self.mss)
        else:  # congestion avoidance: one MSS per window
            self._acked_in_ca += acked
            if self._acked_in_ca >= self.cwnd:
                self._acked_in_ca -= self.cwnd
                self.cwnd += self.mss
        return False

    def may_recover(self, snd_una: int) -> bool:
        """RFC 6582 §3.2 step 1, RFC 6675 §5.1: no fast retransmit until the cumulative ACK
        covers `recover` (HighData when the last recovery or retransmission timeout began)."""
        return seq_ge(snd_una, self.recover)

    def on_dup_ack(self, flight: int, snd_max: int, snd_una: int) -> bool:
        """A duplicate ACK. Returns True when the caller must fast-retransmit (third duplicate)."""
        self.dup_acks += 1
        if self.in_recovery:
            if not self.sack_recovery:
                self.cwnd += self.mss  # RFC 5681 §3.2 step 4: inflate
            return False
        if self.dup_acks == 3 and self.may_recover(snd_una):
            self.ssthresh = max(flight // 2, 2 * self.mss)  # RFC 5681 (4)
            self.cwnd = self.ssthresh + 3 * self.mss
            self.in_recovery = True
            self.recover = snd_max
            return True
        return False

    def enter_sack_recovery(self, flight: int, snd_max: int) -> None:
        """RFC 6675 §5 step (4.2): ssthresh = cwnd = FlightSize / 2 (at least 2 SMSS, RFC 5681);
        RecoveryPoint = HighData."""
        self.ssthresh = self.cwnd = max(flight // 2, 2 * self.mss)
        self.in_recovery = self.sack_recovery = True
        self.recover = snd_max
        self._acked_in_ca = 0

    def on_ecn(self, flight: int) -> None:
        """RFC 3168 §6.1.2: ECN-Echo received: ssthresh and cwnd halve (no retransmission)."""
        self.ssthresh = max(flight // 2, 2 * self.mss)
        self.cwnd = self.ssthresh
        self._acked_in_ca = 0

    def on_timeout(self, flight: int, snd_max: int) -> None:
        """RFC 5681 §3.1 (4) and (5): after an RTO, ssthresh halves and cwnd restarts at one MSS;
        no fast retransmit until what was outstanding is acknowledged (RFC 6582 §3.2, RFC 6675
        §5.1)."""
        self.recover = snd_max
        self.ssthresh = max(flight // 2, 2 * self.mss)
        self.cwnd = self.mss
        self.dup_acks = 0
        self.in_recovery = self.sack_recovery = False
        self._acked_in_ca = 0
