"""Link layers found in captures: where the network-layer packet starts, and what it is.

Link types are the pcap LINKTYPE_ / DLT_ values (https://www.tcpdump.org/linktypes.html).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

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
