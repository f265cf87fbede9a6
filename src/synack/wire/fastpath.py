"""A speed path for bulk readers: link + IP + TCP header fields as one plain tuple.

`decode_tcp(link_type, frame)` returns a `FastTcp` tuple, or None when the frame is not a TCP
segment (another EtherType or protocol) or is an IP fragment. It builds no dataclasses and does not
parse TCP options or verify checksums; for that use `synack.wire.ip.parse_tcp_packet`.

Tuple layout (indices are also exported as constants):

    0  VERSION       4 or 6
    1  SRC           source address, packed (4 or 16 bytes)
    2  DST           destination address, packed
    3  SPORT         TCP source port
    4  DPORT         TCP destination port
    5  SEQ           sequence number
    6  ACK           acknowledgment number
    7  FLAGS         the nine control bits as an int (see TcpFlags)
    8  WINDOW        window field, unscaled
    9  TCP_HLEN      TCP header length in bytes (data offset * 4)
    10 PAYLOAD_LEN   TCP payload length by the IP length fields (what `tcpdump` prints as length)
    11 IP_LEN        IPv4 total length, or IPv6 payload length, as on the wire
    12 TCP_OFFSET    offset of the TCP header within the frame

The lengths come from the IP header, so a capture truncated by its snapshot length still decodes as
long as the 20 fixed TCP header bytes were captured; the payload starts at
`frame[TCP_OFFSET + TCP_HLEN:]` and may be shorter than PAYLOAD_LEN. Malformed headers raise
ParseError, as the full codec does.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final

from synack.wire.errors import ParseError
from synack.wire.link import ETHERTYPE_IPV4, ETHERTYPE_IPV6, strip_link

FastTcp = tuple[int, bytes, bytes, int, int, int, int, int, int, int, int, int, int]

VERSION: Final = 0
SRC: Final = 1
DST: Final = 2
SPORT: Final = 3
DPORT: Final = 4
SEQ: Final = 5
ACK: Final = 6
FLAGS: Final = 7
WINDOW: Final = 8
TCP_HLEN: Final = 9
PAYLOAD_LEN: Final = 10
IP_LEN: Final = 11
TCP_OFFSET: Final = 12

# Ethernet + option-less IPv4 + TCP fixed header in one unpack: EtherType, version/IHL, total
# length, flags/fragment offset, protocol, source, destination, ports, seq, ack, offset/flags,
# window. Only trusted after checking EtherType and version/IHL.
_ETH_V4_TCP: Final = struct.Struct("!12xHBxH2xHxB2x4s4sHHIIHH")
# Ethernet + IPv6 + TCP fixed header: version byte, payload length, next header, addresses, TCP.
_ETH_V6_TCP: Final = struct.Struct("!14xB3xHBx16s16sHHIIHH")
_V4: Final = struct.Struct("!BxH2xHxB2x4s4s")
_V6: Final = struct.Struct("!BxxxHB1x16s16s")
_TCP: Final = struct.Struct("!HHIIHH")

_V6_EXT: Final = frozenset((0, 43, 44, 51, 60))


def _tcp(frame: bytes, off: int, version: int, src: bytes, dst: bytes, ip_len: int,
         tcp_len: int) -> FastTcp:
    sport, dport, seq, ack, word, win = _TCP.unpack_from(frame, off)
    hl = (word >> 12) << 2
    if hl < 20 or hl > tcp_len:
        raise ParseError("tcp", off + 12, "data offset",
                         f"header length {hl} invalid for {tcp_len} TCP bytes")
    return (version, src, dst, sport, dport, seq, ack, word & 0x1FF, win, hl, tcp_len - hl,
            ip_len, off)


def _ipv4(frame: bytes, off: int) -> FastTcp | None:
    vihl, total, frag, proto, src, dst = _V4.unpack_from(frame, off)
    if vihl >> 4 != 4:
        raise ParseError("ipv4", off, "version", f"version {vihl >> 4}, expected 4")
    ihl = (vihl & 0xF) << 2
    if ihl < 20:
        raise ParseError("ipv4", off, "ihl", f"header length {ihl} < 20")
    if total < ihl:
        raise ParseError("ipv4", off + 2, "total length", f"{total} < header length {ihl}")
    if proto != 6 or frag & 0x3FFF:
        return None
    return _tcp(frame, off + ihl, 4, src, dst, total, total - ihl)


def _ipv6(frame: bytes, off: int) -> FastTcp | None:
    vtf, plen, nxt, src, dst = _V6.unpack_from(frame, off)
    if vtf >> 4 != 6:
        raise ParseError("ipv6", off, "version", f"version {vtf >> 4}, expected 6")
    t = off + 40
    end = t + plen
    while nxt in _V6_EXT:
        if t + 8 > end:
            raise ParseError("ipv6", t, "extension header", f"header {nxt} truncated")
        if nxt == 44:
            if ((frame[t + 2] << 8) | frame[t + 3]) & 0xFFF9:
                return None  # a fragment (RFC 8200 §4.5)
            size = 8
        elif nxt == 51:
            size = (frame[t + 1] + 2) << 2
        else:
            size = (frame[t + 1] + 1) << 3
        nxt = frame[t]
        t += size
    if t > end:
        raise ParseError("ipv6", off + 4, "payload length", "extension headers run past the end")
    if nxt != 6:
        return None
    return _tcp(frame, t, 6, src, dst, plen, end - t)


def _ip_at(frame: bytes, off: int, ethertype: int) -> FastTcp | None:
    if ethertype == ETHERTYPE_IPV4:
        return _ipv4(frame, off)
    if ethertype == ETHERTYPE_IPV6:
        return _ipv6(frame, off)
    return None


def decode_tcp(link_type: int, frame: bytes) -> FastTcp | None:
    """The `FastTcp` tuple of a captured frame, None if it is not an unfragmented TCP segment."""
    if link_type == 1:
        try:
            (etype, vihl, total, frag, proto, src, dst, sport, dport, seq, ack, word,
             win) = _ETH_V4_TCP.unpack_from(frame)
            if etype == 0x0800 and vihl == 0x45 and total >= 20:
                # The common case inline: Ethernet, IPv4 without options.
                if proto != 6 or frag & 0x3FFF:
                    return None
                hl = (word >> 12) << 2
                if hl < 20 or hl > total - 20:
                    raise ParseError("tcp", 46, "data offset",
                                     f"header length {hl} invalid for {total - 20} TCP bytes")
                return (4, src, dst, sport, dport, seq, ack, word & 0x1FF, win, hl,
                        total - 20 - hl, total, 34)
            if etype == 0x86DD:
                (vb, plen, nxt, src, dst, sport, dport, seq, ack, word,
                 win) = _ETH_V6_TCP.unpack_from(frame)
                if nxt != 6 or vb >> 4 != 6:
                    return _ipv6(frame, 14)  # extension headers, another protocol, or malformed
                hl = (word >> 12) << 2
                if hl < 20 or hl > plen:
                    raise ParseError("tcp", 66, "data offset",
                                     f"header length {hl} invalid for {plen} TCP bytes")
                return (6, src, dst, sport, dport, seq, ack, word & 0x1FF, win, hl, plen - hl,
                        plen, 54)
        except (struct.error, IndexError):
            pass  # a short frame: the general path below names what is missing
    try:
        lf = strip_link(link_type, frame)
        return _ip_at(frame, lf.network_offset, lf.ethertype)
    except (struct.error, IndexError):
        raise ParseError("fastpath", len(frame), "frame", "frame ends inside a header") from None


def decoder(link_type: int) -> Callable[[bytes], FastTcp | None]:
    """`decode_tcp` bound to one link type."""

    def decode(frame: bytes) -> FastTcp | None:
        return decode_tcp(link_type, frame)

    return decode
