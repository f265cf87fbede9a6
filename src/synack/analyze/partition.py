"""Which of N worker processes analyses a TCP segment: a direction-independent flow hash.

Both directions of a connection (and every incarnation of its 4-tuple) must land in the same
share, so the hash combines the two endpoints symmetrically: the XOR of the two ports and of the
last byte of each address (`flow_hash`, 16 bits). `share_table(n)` maps every hash value to a
share through a multiplicative (Fibonacci) hash, so that `% n` sees all of its bits; the reader
loop indexes that table with the hash computed inline.
"""

from __future__ import annotations

from functools import cache
from typing import Final

_GOLDEN: Final = 0x9E3779B1


def flow_hash(src: bytes, dst: bytes, sport: int, dport: int) -> int:
    """16 bits, the same for (src, dst, sport, dport) and (dst, src, dport, sport)."""
    return sport ^ dport ^ src[-1] ^ dst[-1]


@cache
def share_table(shares: int) -> bytes:
    """The share (0 .. shares-1, shares <= 256) of each of the 65536 flow hashes."""
    if not 1 <= shares <= 256:
        raise ValueError(f"shares must be 1..256, not {shares}")
    return bytes(((h * _GOLDEN) >> 16 & 0xFFFF) % shares for h in range(1 << 16))


def flow_share(src: bytes, dst: bytes, sport: int, dport: int, shares: int) -> int:
    """The share (0 .. shares-1) of the flow; the same in both directions."""
    return share_table(shares)[flow_hash(src, dst, sport, dport)]
