"""The sender's SACK scoreboard and RFC 6675's loss-recovery rules (IsLost, SetPipe, NextSeg).

The scoreboard holds the ranges the peer has SACKed above SND.UNA (RFC 2018), as absolute
sequence numbers ordered from SND.UNA. Everything here is a pure function of that state and of
the sender's variables passed in: HighACK is SND.UNA, HighData is SND.MAX, HighRxt the end of the
last retransmission. Windows are small enough that the holes are walked in full on every call.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from synack.wire.seq import SEQ_MASK, seq_diff

DUP_THRESH: Final = 3  # RFC 6675 §2 / RFC 5681: DupThresh


class Scoreboard:
    """Ranges SACKed above SND.UNA, disjoint and sorted: [(start, end), ...], end exclusive."""

    __slots__ = ("ranges",)

    def __init__(self) -> None:
        self.ranges: list[tuple[int, int]] = []

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def update(self, blocks: tuple[tuple[int, int], ...], una: int, snd_max: int) -> bool:
        """Merge the SACK blocks of an ACK (a D-SACK block, RFC 2883 §4, is skipped: it lies
        below SND.UNA or inside the second block). True if octets were newly SACKed."""
        if not blocks:
            return False
        first = blocks[0]
        if seq_diff(first[1], una) <= 0 or (
            len(blocks) > 1 and seq_diff(first[0], blocks[1][0]) >= 0
            and seq_diff(first[1], blocks[1][1]) <= 0
        ):
            blocks = blocks[1:]
        top = seq_diff(snd_max, una)
        new = False
        ranges = [(seq_diff(s, una), seq_diff(e, una)) for s, e in self.ranges]
        for start, end in blocks:
            lo, hi = max(seq_diff(start, una), 0), min(seq_diff(end, una), top)
            if lo >= hi:
                continue  # nothing above SND.UNA and sent: an old or bogus block
            covered = sum(min(hi, e) - max(lo, s) for s, e in ranges if s < hi and e > lo)
            if covered < hi - lo:
                new = True
            merged = []
            for s, e in ranges:
                if e < lo or s > hi:
                    merged.append((s, e))
                else:
                    lo, hi = min(lo, s), max(hi, e)
            merged.append((lo, hi))
            ranges = sorted(merged)
        self.ranges = [((una + s) & SEQ_MASK, (una + e) & SEQ_MASK) for s, e in ranges]
        return new

    def advance(self, una: int) -> None:
        """SND.UNA moved to `una`: forget what it covers."""
        kept = []
        for start, end in self.ranges:
            if seq_diff(end, una) <= 0:
                continue
            kept.append((una, end) if seq_diff(start, una) < 0 else (start, end))
        self.ranges = kept

    def lost_holes(self, una: int, smss: int) -> list[tuple[int, int]]:
        """The holes RFC 6675's IsLost deems lost, lowest first."""
        out = []
        prev = una
        count = len(self.ranges)
        above = sum(seq_diff(e, s) for s, e in self.ranges)
        for start, end in self.ranges:
            if seq_diff(start, prev) > 0 and (
                count >= DUP_THRESH or above > (DUP_THRESH - 1) * smss
            ):
                out.append((prev, start))
            above -= seq_diff(end, start)
            count -= 1
            prev = end
        return out

    def pipe(self, una: int, snd_max: int, high_rxt: int, smss: int) -> int:
        """RFC 6675 §4 SetPipe: each outstanding octet counts once if it is neither SACKed nor
        lost (a), and once more if it was retransmitted, up to HighRxt (b)."""
        rxt = seq_diff(high_rxt, una)
        pipe = 0
        prev = 0
        count = len(self.ranges)
        above = sum(seq_diff(e, s) for s, e in self.ranges)
        for start, end in self.ranges:
            lo, hi = seq_diff(start, una), seq_diff(end, una)
            if lo > prev:
                if not (count >= DUP_THRESH or above > (DUP_THRESH - 1) * smss):
                    pipe += lo - prev  # (a): not lost
                pipe += max(min(rxt, lo) - prev, 0)  # (b): retransmitted
            above -= hi - lo
            count -= 1
            prev = hi
        return pipe + seq_diff(snd_max, una) - prev  # above the last SACKed octet: (a)

    def next_seg(self, una: int, high_rxt: int, smss: int, lost_only: bool) -> tuple[int, int]:
        """RFC 6675 §4 NextSeg rule 1 (`lost_only`) or rule 3: the lowest unSACKed octet above
        HighRxt in a lost hole (or any hole), and how many octets (at most SMSS) to resend from
        it; (0, 0) when there is none."""
        holes = self.lost_holes(una, smss) if lost_only else list(self._all_holes(una))
        for start, end in holes:
            lo = start if seq_diff(start, high_rxt) >= 0 else high_rxt
            if seq_diff(end, lo) > 0:
                return lo, min(seq_diff(end, lo), smss)
        return 0, 0

    def _all_holes(self, una: int) -> Iterator[tuple[int, int]]:
        prev = una
        for start, end in self.ranges:
            if seq_diff(start, prev) > 0:
                yield prev, start
            prev = end

