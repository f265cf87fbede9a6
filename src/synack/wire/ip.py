"""IPv4 (RFC 791) and IPv6 (RFC 8200) headers as immutable values, and TCP-in-IP packets.

`parse_ip` honours the length fields (bytes after the IP packet, e.g. Ethernet padding, are not
payload), flags fragments, and walks IPv6 extension headers to the upper layer. Header checksums are
kept as read; `ipv4_header_ok` verifies one.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Final, TypeVar

from synack.wire.checksum import internet_checksum, ones_complement_sum
from synack.wire.errors import ParseError
from synack.wire.fastinit import fast_frozen_init
from synack.wire.tcp import IPPROTO_TCP, TcpSegment, build_tcp, fast_init, parse_tcp

IPAddress = IPv4Address | IPv6Address

# IPv4 flags (RFC 791 §3.1): the bits above the 13-bit fragment offset, shifted down.
IPV4_DF: Final = 0x2
IPV4_MF: Final = 0x1

# IPv6 extension headers walked to reach the upper layer (RFC 8200 §4; AH RFC 4302 §2.2).
IPV6_HOP_BY_HOP: Final = 0
IPV6_ROUTING: Final = 43
IPV6_FRAGMENT: Final = 44
IPV6_AH: Final = 51
IPV6_DEST_OPTS: Final = 60
_V6_EXTENSIONS: Final = frozenset((IPV6_HOP_BY_HOP, IPV6_ROUTING, IPV6_FRAGMENT, IPV6_AH,
                                   IPV6_DEST_OPTS))


@fast_init
@fast_frozen_init
@dataclass(frozen=True, slots=True)
class IPv4Header:
    """An IPv4 header. `total_length` and `checksum` of None are computed by `build_ipv4`;
    `options` must be a multiple of 4 bytes (at most 40). `flags` is the 3-bit field (DF=2, MF=1);
    `fragment_offset` counts 8-byte units."""

    src: IPv4Address
    dst: IPv4Address
    protocol: int = IPPROTO_TCP
    ttl: int = 64
    tos: int = 0
    ident: int = 0
    flags: int = 0
    fragment_offset: int = 0
    options: bytes = b""
    total_length: int | None = None
    checksum: int | None = None

    @property
    def version(self) -> int:
        return 4

    @property
    def header_len(self) -> int:
        return 20 + len(self.options)

    @property
    def dont_fragment(self) -> bool:
        return bool(self.flags & IPV4_DF)

    @property
    def more_fragments(self) -> bool:
        return bool(self.flags & IPV4_MF)

    @property
    def is_fragment(self) -> bool:
        """True for any piece of a fragmented datagram: MF set or a non-zero offset."""
        return bool(self.flags & IPV4_MF) or self.fragment_offset != 0


@fast_init
@dataclass(frozen=True, slots=True)
class IPv6Extension:
    """One IPv6 extension header: its type (the Next Header value that named it) and its bytes as
    on the wire, its own Next Header and length octets included."""

    header_type: int
    data: bytes


@fast_init
@fast_frozen_init
@dataclass(frozen=True, slots=True)
class IPv6Header:
    """An IPv6 header. `next_header` is the fixed header's field (the first extension's type when
    `extensions` is not empty). `payload_length` of None is computed by `build_ipv6`."""

    src: IPv6Address
    dst: IPv6Address
    next_header: int = IPPROTO_TCP
    hop_limit: int = 64
    traffic_class: int = 0
    flow_label: int = 0
    extensions: tuple[IPv6Extension, ...] = ()
    payload_length: int | None = None

    @property
    def version(self) -> int:
        return 6

    @property
    def header_len(self) -> int:
        return 40 + sum(len(e.data) for e in self.extensions)


@fast_init
@fast_frozen_init
@dataclass(frozen=True, slots=True)
class IpPacket:
    """An IP packet: `protocol` is the upper-layer protocol (after IPv6 extension headers) and
    `payload` the upper-layer bytes; `fragment` is True for any fragment of a larger datagram."""

    header: IPv4Header | IPv6Header
    protocol: int
    payload: bytes
    fragment: bool = False

    @property
    def version(self) -> int:
        return 4 if type(self.header) is IPv4Header else 6

    @property
    def src(self) -> IPAddress:
        return self.header.src

    @property
    def dst(self) -> IPAddress:
        return self.header.dst


# Recently seen addresses by their packed bytes: building an ipaddress object costs more than
# the rest of an IPv4 header decode, and a host or a capture sees the same addresses again.
_V4_ADDRESSES: dict[bytes, IPv4Address] = {}
_V6_ADDRESSES: dict[bytes, IPv6Address] = {}
_ADDRESS_CACHE_MAX: Final = 4096


_A = TypeVar("_A", IPv4Address, IPv6Address)


def _cached(cache: dict[bytes, _A], kind: type[_A], packed: bytes) -> _A:
    """One address object per packed address (a bounded cache: cleared when full)."""
    addr = cache.get(packed)
    if addr is None:
        if len(cache) >= _ADDRESS_CACHE_MAX:
            cache.clear()
        addr = cache[packed] = kind(packed)
    return addr


def _v4_address(packed: bytes) -> IPv4Address:
    return _cached(_V4_ADDRESSES, IPv4Address, packed)


def _v6_address(packed: bytes) -> IPv6Address:
    return _cached(_V6_ADDRESSES, IPv6Address, packed)


_V4: Final = struct.Struct("!BBHHHBBH4s4s")
_V6: Final = struct.Struct("!IHBB16s16s")


def parse_ipv4(data: bytes) -> IpPacket:
    n = len(data)
    if n < 20:
        raise ParseError("ipv4", n, "header", f"{n} bytes, an IPv4 header needs 20")
    vihl, tos, total, ident, frag, ttl, proto, checksum, src, dst = _V4.unpack_from(data)
    if vihl >> 4 != 4:
        raise ParseError("ipv4", 0, "version", f"version {vihl >> 4}, expected 4")
    ihl = (vihl & 0xF) << 2
    if ihl < 20:
        raise ParseError("ipv4", 0, "ihl", f"header length {ihl} < 20")
    if ihl > n:
        raise ParseError("ipv4", 0, "ihl", f"header length {ihl} exceeds the {n} bytes available")
    if total < ihl:
        raise ParseError("ipv4", 2, "total length", f"total length {total} < header length {ihl}")
    if total > n:
        raise ParseError("ipv4", 2, "total length", f"total length {total} exceeds {n} bytes")
    flags = frag >> 13
    offset = frag & 0x1FFF
    header = IPv4Header(
        _v4_address(src), _v4_address(dst), proto, ttl, tos, ident, flags, offset,
        data[20:ihl], total, checksum,
    )
    return IpPacket(header, proto, data[ihl:total], bool(flags & IPV4_MF) or offset != 0)


def parse_ipv6(data: bytes) -> IpPacket:
    n = len(data)
    if n < 40:
        raise ParseError("ipv6", n, "header", f"{n} bytes, an IPv6 header needs 40")
    vtf, plen, nxt, hlim, src, dst = _V6.unpack_from(data)
    if vtf >> 28 != 6:
        raise ParseError("ipv6", 0, "version", f"version {vtf >> 28}, expected 6")
    end = 40 + plen
    if end > n:
        raise ParseError("ipv6", 4, "payload length", f"payload length {plen} exceeds {n - 40}")
    exts: list[IPv6Extension] = []
    fragment = False
    proto = nxt
    off = 40
    while proto in _V6_EXTENSIONS:
        if off + 8 > end:
            raise ParseError("ipv6", off, "extension header", f"header {proto} truncated")
        if proto == IPV6_FRAGMENT:
            size = 8
            frag = (data[off + 2] << 8) | data[off + 3]
            if frag & 0xFFF9:  # offset != 0 or M set (RFC 8200 §4.5)
                fragment = True
        elif proto == IPV6_AH:
            size = (data[off + 1] + 2) << 2  # RFC 4302 §2.2: in 32-bit words, minus 2
        else:
            size = (data[off + 1] + 1) << 3  # RFC 8200 §4.3: in 8-octet units, minus 1
        if off + size > end:
            raise ParseError(
                "ipv6", off + 1, "extension header length",
                f"header {proto} of {size} bytes runs past the payload end at {end}",
            )
        exts.append(IPv6Extension(proto, data[off : off + size]))
        proto = data[off]
        off += size
        if fragment:
            break
    header = IPv6Header(
        _v6_address(src), _v6_address(dst), nxt, hlim, (vtf >> 20) & 0xFF, vtf & 0xFFFFF,
        tuple(exts), plen,
    )
    return IpPacket(header, proto, data[off:end], fragment)


def parse_ip(data: bytes | memoryview) -> IpPacket:
    """Decode an IPv4 or IPv6 packet (by the version nibble). Raises ParseError."""
    if type(data) is not bytes:
        data = bytes(data)
    if not data:
        raise ParseError("ip", 0, "version", "empty packet")
    version = data[0] >> 4
    if version == 4:
        return parse_ipv4(data)
    if version == 6:
        return parse_ipv6(data)
    raise ParseError("ip", 0, "version", f"version {version} is neither 4 nor 6")


def ipv4_header_ok(data: bytes | memoryview) -> bool:
    """True when the IPv4 header at the start of `data` carries a correct header checksum."""
    if len(data) < 20:
        return False
    ihl = (data[0] & 0xF) << 2
    return ihl >= 20 and len(data) >= ihl and ones_complement_sum(data[:ihl]) == 0xFFFF


def build_ipv4(header: IPv4Header, payload: bytes) -> bytes:
    """Encode an IPv4 packet; fills total length and header checksum when they are None."""
    if len(header.options) & 3 or len(header.options) > 40:
        raise ValueError("IPv4 options must be a multiple of 4 bytes, at most 40")
    ihl = 20 + len(header.options)
    total = header.total_length if header.total_length is not None else ihl + len(payload)
    try:
        head = _V4.pack(
            0x40 | (ihl >> 2), header.tos, total, header.ident,
            (header.flags << 13) | header.fragment_offset, header.ttl, header.protocol,
            0 if header.checksum is None else header.checksum,
            header.src.packed, header.dst.packed,
        ) + header.options
    except struct.error as exc:
        raise ValueError(f"IPv4 field out of range: {exc}") from None
    if header.checksum is None:
        c = internet_checksum(head)
        head = head[:10] + bytes((c >> 8, c & 0xFF)) + head[12:]
    return head + payload


def build_ipv6(header: IPv6Header, payload: bytes) -> bytes:
    """Encode an IPv6 packet: fixed header, the extension headers' bytes, then `payload`."""
    ext = b"".join(e.data for e in header.extensions)
    plen = header.payload_length
    if plen is None:
        plen = len(ext) + len(payload)
    try:
        head = _V6.pack(
            0x60000000 | (header.traffic_class << 20) | header.flow_label, plen,
            header.next_header, header.hop_limit, header.src.packed, header.dst.packed,
        )
    except struct.error as exc:
        raise ValueError(f"IPv6 field out of range: {exc}") from None
    return head + ext + payload


def build_ip(header: IPv4Header | IPv6Header, payload: bytes) -> bytes:
    """`build_ipv4` or `build_ipv6` by the header's type."""
    if type(header) is IPv4Header:
        return build_ipv4(header, payload)
    return build_ipv6(header, payload)  # type: ignore[arg-type]


def build_tcp_packet(
    src: IPAddress, dst: IPAddress, seg: TcpSegment, *, ttl: int = 64, ident: int = 0,
    dont_fragment: bool = True, tos: int = 0,
) -> bytes:
    """An IPv4 or IPv6 packet (by address family) carrying `seg`, every checksum filled; `tos`
    is the IPv4 TOS byte or the IPv6 traffic class (DSCP and the RFC 3168 ECN field)."""
    src_b, dst_b = src.packed, dst.packed
    tcp = build_tcp(seg, src_b, dst_b)
    if len(src_b) != len(dst_b):
        raise ValueError("source and destination must be the same address family")
    if len(src_b) == 4:
        # The header is packed directly (no IPv4Header value) since every segment sent goes here.
        try:
            head = _V4.pack(0x45, tos, 20 + len(tcp), ident,
                            (IPV4_DF << 13) if dont_fragment else 0, ttl, IPPROTO_TCP, 0,
                            src_b, dst_b)
        except struct.error as exc:
            raise ValueError(f"IPv4 field out of range: {exc}") from None
        c = internet_checksum(head)
        return head[:10] + bytes((c >> 8, c & 0xFF)) + head[12:] + tcp
    try:
        return _V6.pack(
            0x60000000 | (tos << 20), len(tcp), IPPROTO_TCP, ttl, src_b, dst_b
        ) + tcp
    except struct.error as exc:
        raise ValueError(f"IPv6 field out of range: {exc}") from None


def parse_tcp_packet(data: bytes | memoryview) -> tuple[IpPacket, TcpSegment]:
    """Decode an IP packet carrying a whole TCP segment (checksums are not verified: see
    `tcp_checksum_ok` and `ipv4_header_ok`). ParseError for other protocols and fragments."""
    packet = parse_ip(data)
    if packet.fragment:
        raise ParseError("ip", 6 if packet.version == 4 else 40, "fragment",
                         "a fragment does not carry a whole TCP segment")
    if packet.protocol != IPPROTO_TCP:
        raise ParseError("ip", 9 if packet.version == 4 else 6, "protocol",
                         f"protocol {packet.protocol} is not TCP")
    return packet, parse_tcp(packet.payload)
