"""RFC 6298 retransmission timeout: SRTT/RTTVAR, Karn's rule, exponential backoff."""

from __future__ import annotations


class RtoEstimator:
    """Smoothed RTT and the RTO derived from it (RFC 6298 §2-§5).

    Karn's rule (§3) is the caller's: only sample segments that were never retransmitted.
    """

    __slots__ = ("backoff", "rto", "rto_max", "rto_min", "rttvar", "srtt")

    def __init__(self, initial: float = 1.0, minimum: float = 0.2, maximum: float = 120.0) -> None:
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.rto = initial  # §2.1: 1 s until the first measurement
        self.rto_min = minimum
        self.rto_max = maximum
        self.backoff = 0  # §5.5: doublings since the last new ACK

    def sample(self, rtt: float) -> None:
        """§2.2 / §2.3: take an RTT measurement (seconds) and recompute the RTO."""
        if rtt < 0.0:
            return
        srtt = self.srtt
        if srtt is None:
            srtt = rtt
            rttvar = rtt / 2.0
        else:
            rttvar = 0.75 * self.rttvar + 0.25 * abs(srtt - rtt)
            srtt = 0.875 * srtt + 0.125 * rtt
        self.srtt = srtt
        self.rttvar = rttvar
        # §2.4 lower bound (Linux's 200 ms rather than 1 s); §2.5 upper bound.
        var = 4.0 * rttvar
        rto = srtt + (var if var > 0.001 else 0.001)
        if rto < self.rto_min:
            rto = self.rto_min
        self.rto = rto if rto < self.rto_max else self.rto_max
        self.backoff = 0

    def current(self) -> float:
        """The timeout to arm now, including backoff (§5.5), capped at the maximum."""
        if not self.backoff:
            return self.rto if self.rto < self.rto_max else self.rto_max
        return min(self.rto * (1 << self.backoff), self.rto_max)

    def back_off(self) -> None:
        """§5.5: double the timeout after a retransmission timeout."""
        if self.rto * (1 << self.backoff) < self.rto_max:
            self.backoff += 1
