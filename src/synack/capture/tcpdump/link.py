"""Link layers tcpdump walks to reach IP (it prints nothing of them without `-e`)."""

from __future__ import annotations

from synack.capture.tcpdump.ip import _IpLayers
from synack.capture.tcpdump.packet import _Packet, _Stop, _Truncated

# Link-layer header types (https://www.tcpdump.org/linktypes.html).
_DLT_NULL = 0
_DLT_EN10MB = 1
_DLT_PPP = 9
_DLT_RAW_BSD = 12
_DLT_RAW = 101
_DLT_LOOP = 108
_DLT_LINUX_SLL = 113
_DLT_IPV4 = 228
_DLT_IPV6 = 229
_DLT_LINUX_SLL2 = 276

_ETHERTYPE_IP = 0x0800
_ETHERTYPE_IPV6 = 0x86DD
_ETHERTYPE_MPLS = 0x8847
_ETHERTYPE_MPLS_MULTI = 0x8848
_ETHERTYPE_PPPOE_SESSION = 0x8864
_ETHERTYPE_JUMBO = 0x8870  # an LLC frame larger than 802.3 allows
_ETHERTYPE_TEB = 0x6558  # transparent Ethernet bridging, inside GRE
_ETHERTYPE_VLANS = frozenset({0x8100, 0x88A8, 0x9100, 0x9200})
_ETHERTYPE_NAMES = {
    _ETHERTYPE_IP: "IPv4",
    _ETHERTYPE_IPV6: "IPv6",
    _ETHERTYPE_MPLS: "MPLS unicast",
    _ETHERTYPE_MPLS_MULTI: "MPLS multicast",
}

# BSD address families that mean IPv6 in DLT_NULL/DLT_LOOP headers (NetBSD/OpenBSD, FreeBSD, macOS).
_AF_INET = 2
_AF_INET6_BSD = frozenset({24, 28, 30})

_SLL_PKTTYPES = {0: "In", 1: "B", 2: "M", 3: "P", 4: "Out"}


def _interface_name(index: int) -> str:
    """The local interface name for an SLL2 interface index, as tcpdump looks it up (or `?`)."""
    import socket  # only SLL2 captures need it

    try:
        return socket.if_indextoname(index)
    except (OSError, OverflowError):
        return "?"


class _LinkLayers(_IpLayers):
    """Ethernet, 802.3 LLC/SNAP, PPPoE, PPP, MPLS, Linux SLL/SLL2 and BSD null/loopback."""

    def _link(self, p: _Packet, link_type: int, wire: int) -> None:
        if link_type == _DLT_EN10MB:
            self._ethernet(p, wire)
        elif link_type in (_DLT_NULL, _DLT_LOOP):
            self._null(p, wire, big_endian=link_type == _DLT_LOOP)
        elif link_type in (_DLT_RAW, _DLT_RAW_BSD, _DLT_IPV4, _DLT_IPV6):
            self._raw_ip(p, 0, wire)
        elif link_type == _DLT_LINUX_SLL:
            self._sll(p, wire)
        elif link_type == _DLT_LINUX_SLL2:
            self._sll2(p, wire)
        elif link_type == _DLT_PPP:
            self._ppp(p, 0, wire)

    def _ethernet(self, p: _Packet, wire: int) -> None:
        self._ethernet_at(p, 0, wire)

    def _ethernet_at(self, p: _Packet, start: int, length: int) -> None:
        """Ethernet II; without -e tcpdump prints nothing of it, nor of 802.1Q/802.1ad tags."""
        p.protocol = "ether"
        p.need(start, 14)
        offset = start + 12
        ethertype = p.u16(offset)
        offset += 2
        while ethertype in _ETHERTYPE_VLANS:
            p.protocol = "vlan"
            p.need(offset, 4)
            ethertype = p.u16(offset + 2)
            offset += 4
        if ethertype <= 1500:
            self._llc(p, offset, min(ethertype, length - (offset - start)))
            return
        if ethertype == _ETHERTYPE_JUMBO:
            self._llc(p, offset, length - (offset - start))
            return
        self._ethertype(p, ethertype, offset, length - (offset - start))

    def _llc(self, p: _Packet, offset: int, length: int) -> None:
        """IEEE 802.2 LLC in an 802.3 frame: IP by SAP, or SNAP (RFC 1042) with an Ethertype."""
        p.protocol = "llc"
        p.limit(offset, length)
        header = p.raw(offset, 3)
        if header == b"\x06\x06\x03":
            self._ipv4(p, offset + 3, length - 3)
        elif header == b"\xaa\xaa\x03" and p.raw(offset + 3, 3) in (b"\0\0\0", b"\0\0\xf8"):
            self._ethertype(p, p.u16(offset + 6), offset + 8, length - 8)

    def _ethertype(self, p: _Packet, ethertype: int, offset: int, length: int) -> None:
        if ethertype == _ETHERTYPE_IP:
            self._ipv4(p, offset, length)
        elif ethertype == _ETHERTYPE_IPV6:
            self._ipv6(p, offset, length)
        elif ethertype in (_ETHERTYPE_MPLS, _ETHERTYPE_MPLS_MULTI):
            self._mpls(p, offset, length)
        elif ethertype == _ETHERTYPE_TEB:
            self._ethernet_at(p, offset, length)
        elif ethertype == _ETHERTYPE_PPPOE_SESSION:
            self._pppoe(p, offset, length)

    def _pppoe(self, p: _Packet, offset: int, length: int) -> None:
        """PPPoE session stage (RFC 2516 §5): the session id, then the PPP frame."""
        p.protocol = "pppoe"
        p.need(offset, 6)
        if p.data[offset + 1] != 0:  # only session data (code 0) carries IP
            return
        version, kind = p.data[offset] >> 4, p.data[offset] & 0x0F
        if version != 1:
            p.emit(f" [ver {version}]")
        if kind != 1:
            p.emit(f" [type {kind}]")
        session = p.u16(offset + 2)
        payload = p.u16(offset + 4)
        p.emit("PPPoE ")
        remaining = length - 6
        if payload > remaining:
            p.emit(f" [len {payload} > {remaining}!]")
            payload = remaining
        if session:
            p.emit(f" [ses 0x{session:x}]")
        p.emit(" ")
        self._ppp(p, offset + 6, payload)

    def _ppp(self, p: _Packet, offset: int, length: int) -> None:
        """PPP (RFC 1661): address/control bytes when present (0xff 0x03, or pppd's direction
        byte 0x00/0x01 before 0x03), then a one- or two-byte protocol."""
        p.protocol = "ppp"
        if length < 2:
            raise _Truncated("ppp")
        if p.u16(offset) in (0x0003, 0x0103, 0xFF03):
            offset += 2
            length -= 2
        if length < 2:
            raise _Truncated("ppp")
        protocol = p.u8(offset)
        if protocol & 1:  # RFC 1661 §6.5 protocol field compression
            offset, length = offset + 1, length - 1
        else:
            protocol = p.u16(offset)
            offset, length = offset + 2, length - 2
        if protocol in (0x0021, 0x002F, _ETHERTYPE_IP):  # IPv4, Van Jacobson uncompressed
            self._ipv4(p, offset, length)
        elif protocol in (0x0057, _ETHERTYPE_IPV6):
            self._ipv6(p, offset, length)

    def _null(self, p: _Packet, wire: int, *, big_endian: bool) -> None:
        p.protocol = "null"
        p.need(0, 4)
        family = int.from_bytes(p.data[0:4], "big" if big_endian else "little")
        if family & 0xFFFF0000:
            family = int.from_bytes(family.to_bytes(4, "big"), "little")
        if family == _AF_INET:
            self._ipv4(p, 4, wire - 4)
        elif family in _AF_INET6_BSD:
            self._ipv6(p, 4, wire - 4)

    def _raw_ip(self, p: _Packet, offset: int, length: int) -> None:
        p.protocol = "raw"
        version = p.u8(offset) >> 4
        if version == 4:
            self._ipv4(p, offset, length)
        elif version == 6:
            self._ipv6(p, offset, length)

    def _sll(self, p: _Packet, wire: int) -> None:
        p.protocol = "sll"
        p.need(0, 16)
        self._sll_payload(p, p.u16(14), 16, wire - 16)

    def _sll2(self, p: _Packet, wire: int) -> None:
        p.protocol = "sll2"
        p.need(0, 20)
        p.emit(f"{_interface_name(p.u32(4)):<5} ")
        p.emit(f"{_SLL_PKTTYPES.get(p.u8(10), '?'):<3} ")
        self._sll_payload(p, p.u16(0), 20, wire - 20)

    def _sll_payload(self, p: _Packet, protocol: int, offset: int, length: int) -> None:
        if protocol == 0x8100:  # one VLAN tag, announced without -e (print-sll.c)
            p.protocol = "vlan"
            p.need(offset, 4)
            protocol = p.u16(offset + 2)
            name = "Unknown" if protocol <= 1500 else _ETHERTYPE_NAMES.get(protocol, "Unknown")
            p.emit(f"ethertype {name}, ")
            offset += 4
            length -= 4
        self._ethertype(p, protocol, offset, length)

    def _mpls(self, p: _Packet, offset: int, length: int) -> None:
        """RFC 3032 label stack; tcpdump shows it even without -e, then guesses the payload."""
        p.protocol = "mpls"
        p.emit("MPLS")
        while True:
            if length < 4:
                p.emit(" (invalid)")
                raise _Stop
            entry = p.u32(offset)
            label = entry >> 12
            bottom = entry & 0x100
            p.emit(f" (label {label}, tc {(entry >> 9) & 7}")
            if bottom:
                p.emit(", [S]")
            p.emit(f", ttl {entry & 0xFF})")
            offset += 4
            length -= 4
            if bottom:
                break
        if label in (0, 3):
            version = 4
        elif label == 2:
            version = 6
        else:
            if length < 1:
                raise _Stop
            first = p.u8(offset)
            version = 4 if 0x45 <= first <= 0x4F else 6 if 0x60 <= first <= 0x6F else 0
        if version == 4:
            p.emit(" ")
            self._ipv4(p, offset, length)
        elif version == 6:
            p.emit(" ")
            self._ipv6(p, offset, length)
