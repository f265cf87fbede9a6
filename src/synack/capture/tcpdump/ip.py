"""IPv4 and IPv6 headers (with extension headers, IP-in-IP, GRE) as tcpdump prints them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synack.capture.tcpdump.packet import _Packet, _Stop, _Truncated
from synack.capture.tcpdump.tcp import _TcpLayer
from synack.capture.tcpdump.text import format_ipv4, format_ipv6

_IPPROTO_HOPOPTS = 0
_IPPROTO_IPIP = 4
_IPPROTO_TCP = 6
_IPPROTO_UDP = 17
_IPPROTO_IPV6 = 41
_IPPROTO_ROUTING = 43
_IPPROTO_FRAGMENT = 44
_IPPROTO_DCCP = 33
_IPPROTO_SCTP = 132
_IPPROTO_GRE = 47
_IPPROTO_AH = 51
_IPPROTO_DSTOPTS = 60
# Upper layers whose printers print the addresses themselves (tcpdump print-ip.c / print-ip6.c).
_PRINTS_OWN_ADDRESSES = frozenset({_IPPROTO_TCP, _IPPROTO_UDP, _IPPROTO_DCCP, _IPPROTO_SCTP})


class _IpContext:
    """What the TCP printer needs from the enclosing IP header."""

    __slots__ = ("dst", "next_is_tcp", "src", "version")

    def __init__(self, version: int, src: bytes, dst: bytes, next_is_tcp: bool) -> None:
        self.version = version
        self.src = src
        self.dst = dst
        self.next_is_tcp = next_is_tcp  # the IP header's own protocol/next-header field: TCP

    def address(self, raw: bytes) -> str:
        return format_ipv4(raw) if self.version == 4 else format_ipv6(raw)


class _IpLayers(_TcpLayer):
    """IP printers; GRE hands Ethernet-typed payloads back to the link layer."""

    if TYPE_CHECKING:

        def _ethertype(self, p: _Packet, ethertype: int, offset: int, length: int) -> None: ...

    def _ipv4(self, p: _Packet, offset: int, length: int) -> None:
        """tcpdump print-ip.c, non-verbose (RFC 791 header; options are not shown)."""
        p.protocol = "ip"
        if p.has(offset + 9, 1) and p.data[offset + 9] == _IPPROTO_TCP:
            p.tcp = p.data[offset] >> 4 == 4
        version = p.u8(offset) >> 4
        if version != 4:
            p.tcp = False
            raise _Stop
        p.emit("IP ")
        p.need(offset, 20)
        if length < 20:
            p.emit(f"truncated-ip {length}")
            raise _Stop
        hlen = (p.data[offset] & 0x0F) * 4
        if hlen < 20:
            p.emit(f"bad-hlen {hlen}")
            raise _Stop
        total = p.u16(offset + 2)
        if length < total:
            p.emit(f"truncated-ip - {total - length} bytes missing! ")
        if total < hlen:
            p.emit(f"bad-len {total}")
            raise _Stop
        p.limit(offset, total)
        frag = p.u16(offset + 6)
        proto = p.u8(offset + 9)
        src = p.raw(offset + 12, 4)
        dst = p.raw(offset + 16, 4)
        if frag & 0x1FFF:
            # Not the first fragment: no upper-layer header to show (RFC 791 §3.2).
            p.emit(f"{format_ipv4(src)} > {format_ipv4(dst)}: ip-proto-{proto}")
            raise _Stop
        if proto not in _PRINTS_OWN_ADDRESSES:
            p.emit(f"{format_ipv4(src)} > {format_ipv4(dst)}: ")
        if not p.has(offset, hlen):
            p.emit(f" [remaining caplen({p.available(offset)}) < header length({hlen})]")
            raise _Truncated(p.protocol)
        context = _IpContext(4, src, dst, proto == _IPPROTO_TCP)
        self._ip_payload(p, proto, offset + hlen, total - hlen, context)

    def _ip_payload(
        self, p: _Packet, proto: int, offset: int, length: int, context: _IpContext
    ) -> None:
        """Hand an IP payload to the next printer (tcpdump ip_demux_print)."""
        if proto == _IPPROTO_TCP:
            self._tcp(p, offset, length, context)
        elif proto == _IPPROTO_IPIP:
            self._ipv4(p, offset, length)
        elif proto == _IPPROTO_IPV6:
            self._ipv6(p, offset, length)
        elif proto == _IPPROTO_GRE:
            self._gre(p, offset, length)
        elif proto == _IPPROTO_AH:
            advance = self._ah(p, offset)
            self._ip_payload(p, p.data[offset], offset + advance, length - advance, context)

    def _ah(self, p: _Packet, offset: int) -> int:
        """IPsec Authentication Header (RFC 4302 §2); returns its length."""
        p.protocol = "ah"
        p.need(offset, 8)
        advance = (p.data[offset + 1] + 2) * 4
        p.emit("AH(")
        reserved = p.u16(offset + 2)
        if reserved:
            p.emit(f"reserved=0x{reserved:x}[MustBeZero],")
        p.emit(f"spi=0x{p.u32(offset + 4):08x},")
        p.emit(f"seq=0x{p.u32(offset + 8):x},icv=0x")
        for i in range(12, advance):
            p.emit(f"{p.u8(offset + i):02x}")
        p.emit("): ")
        return advance

    def _gre(self, p: _Packet, offset: int, length: int) -> None:
        """GRE version 0 (RFC 2784, key and sequence number RFC 2890), as print-gre.c shows it."""
        p.protocol = "gre"
        flags = p.u16(offset)
        if flags & 0x7 != 0:  # PPTP's enhanced GRE (version 1) is not followed
            raise _Stop
        p.emit("GREv0")
        ethertype = p.u16(offset + 2)
        cp = offset + 4
        if flags & 0xC000:  # checksum or routing present: checksum and offset words
            p.emit(f", off 0x{p.u16(cp + 2):x}")
            cp += 4
        if flags & 0x2000:
            p.emit(f", key=0x{p.u32(cp):x}")
            cp += 4
        if flags & 0x1000:
            p.emit(f", seq {p.u32(cp)}")
            cp += 4
        if flags & 0x4000:  # RFC 1701 source route entries: only an empty list is followed
            if p.u16(cp) != 0 or p.u8(cp + 3) != 0:
                raise _Stop
            cp += 4
        p.emit(f", length {length}: ")
        self._ethertype(p, ethertype, cp, length - (cp - offset))

    def _ipv6(self, p: _Packet, offset: int, length: int) -> None:
        """tcpdump print-ip6.c, non-verbose (RFC 8200 header and extension headers)."""
        p.protocol = "ip6"
        if p.has(offset + 6, 1) and p.data[offset + 6] == _IPPROTO_TCP:
            p.tcp = p.data[offset] >> 4 == 6
        p.need(offset, 40)
        if length < 40:
            p.emit(f"truncated-ip6 {length}")
            raise _Stop
        p.emit("IP6 ")
        version = p.data[offset] >> 4
        if version != 6:
            p.tcp = False
            p.emit(f"version error: {version} != 6")
            raise _Stop
        payload_len = p.u16(offset + 4)
        if payload_len != 0:
            total = payload_len + 40
            if length < total:
                p.emit(f"truncated-ip6 - {total - length} bytes missing!")
        else:
            total = 40  # a jumbogram (RFC 2675); tcpdump 4.99 accepts none below 64 KiB
        p.limit(offset, total)
        src = p.raw(offset + 8, 16)
        dst = p.raw(offset + 24, 16)
        first_next = p.data[offset + 6]
        context = _IpContext(6, src, dst, first_next == _IPPROTO_TCP)
        nh = first_next
        cp = offset + 40
        remaining = total - 40
        if nh not in _PRINTS_OWN_ADDRESSES:
            p.emit(f"{format_ipv6(src)} > {format_ipv6(dst)}: ")
        if payload_len == 0 and nh == _IPPROTO_HOPOPTS:
            p.protocol = "hbhopt"
            p.need(cp, (p.u8(cp + 1) + 1) << 3)
            p.emit("HBH [No valid Jumbo Payload Hop-by-Hop option found] (invalid)")
            p.tcp = False
            raise _Stop
        seen_hbh = False
        while True:
            if nh == _IPPROTO_HOPOPTS:
                # RFC 8200 §4.1: only directly after the IPv6 header, and only once.
                if seen_hbh or cp != offset + 40:
                    p.tcp = False
                    which = "was already found" if seen_hbh else "don't follow the IPv6 header"
                    p.emit(f"[The Hop-by-Hop Options header {which}] (invalid)")
                    raise _Stop
                seen_hbh = True
                p.protocol = "hbhopt"
                advance = (p.u8(cp + 1) + 1) << 3
                p.need(cp, advance)
                p.emit("HBH ")
                _ipv6_options(p, cp + 2, advance - 2)
            elif nh == _IPPROTO_DSTOPTS:
                p.protocol = "dstopt"
                advance = (p.u8(cp + 1) + 1) << 3
                p.need(cp, advance)
                p.emit("DSTOPT ")  # its options are only checked with -v
            elif nh == _IPPROTO_ROUTING:
                advance = self._ipv6_routing(p, cp)
            elif nh == _IPPROTO_AH:  # what follows AH goes to the IPv4-style demultiplexer
                advance = self._ah(p, cp)
                self._ip_payload(p, p.data[cp], cp + advance, remaining - advance, context)
                return
            elif nh == _IPPROTO_FRAGMENT:
                p.protocol = "frag6"
                p.need(cp, 8)
                frag_offset = p.u16(cp + 2) & 0xFFF8
                frag_len = total - (cp - offset) - 8
                p.emit(f"frag ({frag_offset}|{frag_len})")
                if p.data[cp] == _IPPROTO_TCP:
                    p.tcp = True
                if frag_offset != 0:
                    raise _Stop  # a later fragment: no upper-layer header (RFC 8200 §4.5)
                p.emit(" ")
                if not p.has(cp + 8, 1):
                    raise _Stop  # tcpdump ends quietly when nothing follows a first fragment
                advance = 8
            else:
                self._ip_payload(p, nh, cp, remaining, context)
                return
            nh = p.data[cp]
            cp += advance
            remaining -= advance

    def _ipv6_routing(self, p: _Packet, cp: int) -> int:
        """RFC 8200 §4.4 routing header, as tcpdump print-rt6.c shows types 0, 2 and 4."""
        p.protocol = "rt6"
        length = p.u8(cp + 1)
        rtype = p.u8(cp + 2)
        segleft = p.u8(cp + 3)
        advance = (length + 1) << 3
        p.emit(f"RT6 (len={length}, type={rtype}")
        if rtype == 0:
            p.emit(" [Deprecated]")
        p.emit(f", segleft={segleft}")
        if rtype == 4:  # segment routing header (RFC 8754 §2)
            p.emit(f", last-entry={p.u8(cp + 4)}")
            if p.u8(cp + 5):
                p.emit(f", flags=0x{p.u8(cp + 5):x}")
            p.emit(f", tag={p.u16(cp + 6):x}")
        elif rtype in (0, 2):
            if rtype == 2 and length != 2:  # RFC 6275 §6.4: exactly one address
                p.emit(f" (invalid length {length}) (invalid)")
                p.tcp = False
                raise _Stop
            reserved = p.u32(cp + 4)
            if reserved:
                p.emit(f", rsv=0x{reserved:x}")
        else:
            p.emit(" (unknown type) (invalid)")
            p.tcp = False
            raise _Stop
        if length % 2:  # addresses are 16 bytes, two 8-byte units each
            p.emit(f" (invalid length {length}) (invalid)")
            p.tcp = False
            raise _Stop
        for i in range(length // 2):
            p.emit(f", [{i}]{format_ipv6(p.raw(cp + 8 + 16 * i, 16))}")
        p.emit(") ")
        p.need(cp, advance)
        return advance

    # -- TCP -----------------------------------------------------------------------------------


def _ipv6_options(p: _Packet, start: int, length: int) -> None:
    """Check hop-by-hop option TLVs (RFC 8200 §4.2) as tcpdump does even without -v (looking for
    a jumbo payload): nothing is printed unless one is malformed, which ends the line."""
    i = 0
    while i < length:
        kind = p.u8(start + i)
        if kind == 0x00:  # Pad1
            i += 1
            continue
        if i + 1 >= length:
            raise _Truncated(p.protocol)
        size = p.u8(start + i + 1) + 2
        if i + size > length:
            raise _Truncated(p.protocol)
        left = length - i
        if kind == 0x05:  # router alert (RFC 2711)
            if left < 4:
                p.emit("(rtalert: trunc)")
                raise _Truncated(p.protocol)
            if size != 4:
                p.emit(f"(rtalert: invalid len {size - 2})")
                raise _Truncated(p.protocol)
        elif kind == 0xC2:  # jumbo payload (RFC 2675)
            if left < 6:
                p.emit("(jumbo: trunc)")
                raise _Truncated(p.protocol)
            if size != 6:
                p.emit(f"(jumbo: invalid len {size - 2})")
                raise _Truncated(p.protocol)
        elif kind == 0xC9:  # home address (RFC 6275 §6.3)
            if left < 18:
                p.emit("(homeaddr: trunc)")
                raise _Truncated(p.protocol)
            if size < 18:
                p.emit(f"(homeaddr: invalid len {size - 2})")
                raise _Truncated(p.protocol)
        elif left < 2:
            p.emit("(padn: trunc)" if kind == 0x01 else f"(type {kind}: trunc)")
            raise _Truncated(p.protocol)
        i += size
