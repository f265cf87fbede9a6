"""Which of N readers of one capture takes a TCP segment: a direction-independent flow hash.

Both directions of a connection (and every incarnation of its 4-tuple) must land in the same
share, so the hash combines the two endpoints symmetrically: the XOR of the two ports and of the
last byte of each address (`flow_hash`, 16 bits). `share_table(n)` maps every hash value to a
share through a multiplicative (Fibonacci) hash, so that `% n` sees all of its bits; reader loops
index that table with the hash computed inline.

The common frames (Ethernet + IPv4 with a 20-byte header, or Ethernet + IPv6 whose next header
is TCP) have the hash's inputs at fixed offsets, so a reader can tell a frame's share from its
bytes without decoding it (`frame_share`). A `ShareSkip` asks the pcap or pcapng reader to pass
over the common frames of other shares altogether (see `pcap.iter_pcap`, `pcapng.iter_pcapng`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cache
from typing import Final

_GOLDEN: Final = 0x9E3779B1

# The last byte of each address and both ports of a common frame (`flow_hash`'s inputs), and
# the checks that make a frame common: EtherType and version/IHL (IPv4), EtherType and next
# header (IPv6). Each needs the frame to have at least V4_NEED / V6_NEED bytes.
V4_NEED: Final = 38
V6_NEED: Final = 58
ETHERTYPE_IPV4: Final = 0x0800
ETHERTYPE_IPV6: Final = 0x86DD
V4_PREFIX: Final = struct.Struct("!12xHB14xB3xBHH")  # ethertype, ver/ihl, src[-1], dst[-1], ports
V6_PREFIX: Final = struct.Struct("!12xH6xB16xB15xBHH")  # ethertype, next header, ..., ports


def flow_hash(src: bytes, dst: bytes, sport: int, dport: int) -> int:
    """16 bits, the same for (src, dst, sport, dport) and (dst, src, dport, sport)."""
    return sport ^ dport ^ src[-1] ^ dst[-1]


@cache
def share_table(shares: int) -> bytes:
    """The share (0 .. shares-1, shares <= 256) of each of the 65536 flow hashes."""
    if not 1 <= shares <= 256:
        raise ValueError(f"shares must be 1..256, not {shares}")
    return bytes(((h * _GOLDEN) >> 16 & 0xFFFF) % shares for h in range(1 << 16))


@cache
def swapped_share_table(shares: int) -> bytes:
    """`share_table` indexed by the byte-swapped hash (for ports read little-endian)."""
    table = share_table(shares)
    # Entry (low << 8 | high) is entry (high << 8 | low): the 256 x 256 table transposed.
    return b"".join(table[low::256] for low in range(256))


def flow_share(src: bytes, dst: bytes, sport: int, dport: int, shares: int) -> int:
    """The share (0 .. shares-1) of the flow; the same in both directions."""
    return share_table(shares)[flow_hash(src, dst, sport, dport)]


def frame_share(link_type: int, data: bytes, shares: int) -> int:
    """The share of a common frame from its bytes alone, -1 for any other frame.

    For a TCP segment in a common frame this is `flow_share` of its decoded addresses and ports.
    """
    if link_type != 1:
        return -1
    a: int
    b: int
    p: int
    q: int
    if len(data) >= V4_NEED:
        ethertype, vihl, a, b, p, q = V4_PREFIX.unpack_from(data)
        if ethertype == ETHERTYPE_IPV4 and vihl == 0x45:
            return share_table(shares)[p ^ q ^ a ^ b]
    if len(data) >= V6_NEED:
        ethertype, nh, a, b, p, q = V6_PREFIX.unpack_from(data)
        if ethertype == ETHERTYPE_IPV6 and nh == 6:
            return share_table(shares)[p ^ q ^ a ^ b]
    return -1


@dataclass(slots=True)
class ShareSkip:
    """A capture reader's instructions to pass over other shares' common frames, and its report.

    The reader yields every record except a common frame of a share other than `mine` whose
    timestamp is before `until_ns` (the consumer moves `until_ns` as it goes; the reader reads
    it again after each record it yields). Before yielding a record it sets `number` (the
    record's 1-based number in the file) and `owner` (its `frame_share`); when iteration ends,
    `number` is the number of records in the file.
    """

    shares: int
    mine: int
    until_ns: int = 0
    number: int = 0
    owner: int = -1
