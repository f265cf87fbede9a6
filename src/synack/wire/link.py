"""Link layers found in captures: where the network-layer packet starts, and what it is.

Link types are the pcap LINKTYPE_ / DLT_ values (https://www.tcpdump.org/linktypes.html).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final, Literal

from synack.wire.errors import ParseError

ETHERTYPE_IPV4: Final = 0x0800
ETHERTYPE_IPV6: Final = 0x86DD
ETHERTYPE_VLAN: Final = 0x8100  # IEEE 802.1Q
ETHERTYPE_QINQ: Final = 0x88A8  # IEEE 802.1ad service tag
ETHERTYPE_QINQ_OLD: Final = 0x9100  # pre-standard stacked tag
ETHERTYPE_MPLS: Final = 0x8847
ETHERTYPE_MPLS_MULTICAST: Final = 0x8848
VLAN_TYPES: Final = frozenset((ETHERTYPE_VLAN, ETHERTYPE_QINQ, ETHERTYPE_QINQ_OLD))
MPLS_TYPES: Final = frozenset((ETHERTYPE_MPLS, ETHERTYPE_MPLS_MULTICAST))

# BSD loopback address families meaning IPv6: NetBSD/OpenBSD 24, FreeBSD 28, Darwin 30.
AF_INET: Final = 2
AF_INET6_VALUES: Final = frozenset((24, 28, 30))


class LinkType(IntEnum):
    NULL = 0
    ETHERNET = 1
    RAW = 101
    LOOP = 108
    LINUX_SLL = 113
    IPV4 = 228
    IPV6 = 229
    LINUX_SLL2 = 276


@dataclass(frozen=True, slots=True)
class LinkFrame:
    """Where the network-layer packet starts in a frame and its EtherType (0 when unknown, e.g.
    an MPLS payload that is neither IPv4 nor IPv6). `vlans` are the VLAN IDs outermost first;
    `mpls` the MPLS labels, top of stack first."""

    network_offset: int
    ethertype: int
    vlans: tuple[int, ...] = ()
    mpls: tuple[int, ...] = ()


def _by_version(frame: bytes, offset: int) -> int:
    """EtherType for an IP packet at `offset`, judged by the version nibble (0 if neither)."""
    if offset >= len(frame):
        return 0
    version = frame[offset] >> 4
    if version == 4:
        return ETHERTYPE_IPV4
    if version == 6:
        return ETHERTYPE_IPV6
    return 0


def _need(layer: str, frame: bytes, end: int, field: str) -> None:
    if len(frame) < end:
        raise ParseError(layer, len(frame), field, f"frame of {len(frame)} bytes ends before {end}")


def _tags(layer: str, frame: bytes, etype: int, offset: int) -> LinkFrame:
    """Walk VLAN tags (802.1Q/802.1ad, stacked) and an MPLS label stack after an EtherType field
    ending at `offset`."""
    vlans: list[int] = []
    while etype in VLAN_TYPES:
        _need(layer, frame, offset + 4, "vlan tag")
        vlans.append(((frame[offset] << 8) | frame[offset + 1]) & 0xFFF)
        etype = (frame[offset + 2] << 8) | frame[offset + 3]
        offset += 4
    labels: list[int] = []
    if etype in MPLS_TYPES:
        while True:
            _need(layer, frame, offset + 4, "mpls label")
            entry = int.from_bytes(frame[offset : offset + 4], "big")
            labels.append(entry >> 12)
            offset += 4
            if entry & 0x100:  # bottom of stack (RFC 3032 §2.1)
                break
        etype = _by_version(frame, offset)
    return LinkFrame(offset, etype, tuple(vlans), tuple(labels))


def _ethernet(frame: bytes) -> LinkFrame:
    _need("ethernet", frame, 14, "header")
    etype = (frame[12] << 8) | frame[13]
    if etype not in VLAN_TYPES and etype not in MPLS_TYPES:
        return LinkFrame(14, etype)
    return _tags("ethernet", frame, etype, 14)


def _sll(frame: bytes) -> LinkFrame:
    _need("sll", frame, 16, "header")
    etype = (frame[14] << 8) | frame[15]
    return _tags("sll", frame, etype, 16)


def _sll2(frame: bytes) -> LinkFrame:
    _need("sll2", frame, 20, "header")
    etype = (frame[0] << 8) | frame[1]
    return _tags("sll2", frame, etype, 20)


def _null(frame: bytes) -> LinkFrame:
    _need("null", frame, 4, "family")
    family = int.from_bytes(frame[:4], "little")
    if family > 0xFFFF:  # written in the other byte order
        family = int.from_bytes(frame[:4], "big")
    if family == AF_INET:
        return LinkFrame(4, ETHERTYPE_IPV4)
    if family in AF_INET6_VALUES:
        return LinkFrame(4, ETHERTYPE_IPV6)
    return LinkFrame(4, 0)


def _raw(frame: bytes) -> LinkFrame:
    if not frame:
        raise ParseError("raw", 0, "version", "empty frame")
    return LinkFrame(0, _by_version(frame, 0))


def strip_link(link_type: int, frame: bytes) -> LinkFrame:
    """Decode the link header of `frame` for pcap `link_type`. ParseError on a short frame or an
    unsupported link type."""
    if link_type == LinkType.ETHERNET:
        return _ethernet(frame)
    if link_type == LinkType.RAW or link_type == 12 or link_type == 14:
        # DLT_RAW is 12 or 14 on some BSDs; LINKTYPE_RAW (101) in files.
        return _raw(frame)
    if link_type == LinkType.LINUX_SLL:
        return _sll(frame)
    if link_type == LinkType.LINUX_SLL2:
        return _sll2(frame)
    if link_type == LinkType.NULL or link_type == LinkType.LOOP:
        return _null(frame)
    if link_type == LinkType.IPV4:
        return LinkFrame(0, ETHERTYPE_IPV4)
    if link_type == LinkType.IPV6:
        return LinkFrame(0, ETHERTYPE_IPV6)
    raise ParseError("link", 0, "link type", f"unsupported link type {link_type}")


def network_packet(link_type: int, frame: bytes) -> tuple[int, bytes]:
    """(EtherType, network-layer bytes) of a frame."""
    lf = strip_link(link_type, frame)
    return lf.ethertype, frame[lf.network_offset :]


_DEFAULT_MACS: Final = bytes.fromhex("020000000002" "020000000001")  # locally administered


def build_frame(
    link_type: int, packet: bytes, *, vlans: tuple[int, ...] = (), mpls: tuple[int, ...] = (),
    macs: bytes = _DEFAULT_MACS, loopback_order: Literal["little", "big"] = "little",
) -> bytes:
    """Frame an IPv4/IPv6 `packet` for pcap `link_type` (the inverse of `strip_link`).

    Ethernet and the Linux cooked headers may carry 802.1Q `vlans` (VLAN IDs) and an MPLS label
    stack; `macs` is Ethernet destination + source (12 bytes). BSD loopback writes the family in
    `loopback_order` ("little" as on the hosts that write DLT_NULL, "big" as LINKTYPE_LOOP).
    """
    version = packet[0] >> 4 if packet else 0
    if version not in (4, 6):
        raise ValueError("packet is neither IPv4 nor IPv6")
    ethertype = ETHERTYPE_IPV4 if version == 4 else ETHERTYPE_IPV6
    tags = b""
    if mpls:
        for i, label in enumerate(mpls):
            bottom = 0x100 if i == len(mpls) - 1 else 0
            tags += ((label << 12) | bottom | 64).to_bytes(4, "big")  # TTL 64
        ethertype = ETHERTYPE_MPLS
    for vid in reversed(vlans):
        tags = (vid & 0xFFF).to_bytes(2, "big") + ethertype.to_bytes(2, "big") + tags
        ethertype = ETHERTYPE_VLAN
    if (vlans or mpls) and link_type not in (LinkType.ETHERNET, LinkType.LINUX_SLL,
                                             LinkType.LINUX_SLL2):
        raise ValueError(f"link type {link_type} carries no VLAN tags or MPLS labels")
    etype = ethertype.to_bytes(2, "big")
    if link_type == LinkType.ETHERNET:
        if len(macs) != 12:
            raise ValueError("macs must be 12 bytes: destination then source")
        return macs + etype + tags + packet
    if link_type == LinkType.LINUX_SLL:
        # Packet type 4 (outgoing), ARPHRD_ETHER (1), a 6-byte source address padded to 8.
        return b"\x00\x04\x00\x01\x00\x06" + macs[6:] + b"\0\0" + etype + tags + packet
    if link_type == LinkType.LINUX_SLL2:
        return etype + b"\0\0" + b"\0\0\0\x01" + b"\x00\x01\x04\x06" + macs[6:] + b"\0\0" + (
            tags + packet
        )
    if link_type in (LinkType.NULL, LinkType.LOOP):
        family = AF_INET if version == 4 else 24
        return family.to_bytes(4, loopback_order) + packet
    if link_type == LinkType.RAW or (link_type == LinkType.IPV4 and version == 4) or (
        link_type == LinkType.IPV6 and version == 6
    ):
        return packet
    raise ValueError(f"cannot frame an IPv{version} packet for link type {link_type}")
