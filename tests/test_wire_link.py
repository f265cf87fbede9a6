"""Link layers on hand-made frames: Ethernet, VLAN, MPLS, Linux cooked, raw IP, BSD loopback."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synack.wire.errors import ParseError
from synack.wire.link import LinkFrame, LinkType, build_frame, network_packet, strip_link

MACS = bytes.fromhex("0200000000010200000000 02".replace(" ", ""))
IP4 = bytes.fromhex("4500001400000000400600000a0000010a000002")
IP6 = bytes.fromhex("6000000000000640") + bytes(32)


def vlan(tci: int, etype: int) -> bytes:
    return struct.pack("!HH", tci, etype)


def mpls(label: int, bottom: bool) -> bytes:
    return struct.pack("!I", (label << 12) | (0x100 if bottom else 0) | 64)


def test_link_type_values() -> None:
    assert [(t.name, t.value) for t in LinkType] == [
        ("NULL", 0), ("ETHERNET", 1), ("RAW", 101), ("LOOP", 108), ("LINUX_SLL", 113),
        ("IPV4", 228), ("IPV6", 229), ("LINUX_SLL2", 276),
    ]


def test_ethernet_plain() -> None:
    assert strip_link(1, MACS + b"\x08\x00" + IP4) == LinkFrame(14, 0x0800)
    assert strip_link(1, MACS + b"\x86\xdd" + IP6) == LinkFrame(14, 0x86DD)
    assert strip_link(1, MACS + b"\x08\x06" + bytes(28)).ethertype == 0x0806
    assert network_packet(1, MACS + b"\x08\x00" + IP4) == (0x0800, IP4)


def test_ethernet_vlan_stacks() -> None:
    q = MACS + b"\x81\x00" + vlan(0x2064, 0x0800) + IP4
    assert strip_link(1, q) == LinkFrame(18, 0x0800, (100,))
    qinq = MACS + b"\x88\xa8" + vlan(0x00C8, 0x8100) + vlan(0xA00A, 0x86DD) + IP6
    assert strip_link(1, qinq) == LinkFrame(22, 0x86DD, (200, 10))
    old = MACS + b"\x91\x00" + vlan(5, 0x8100) + vlan(6, 0x0800) + IP4
    assert strip_link(1, old) == LinkFrame(22, 0x0800, (5, 6))


def test_ethernet_mpls_stack() -> None:
    frame = MACS + b"\x88\x47" + mpls(16, False) + mpls(1048575, False) + mpls(3, True) + IP4
    assert strip_link(1, frame) == LinkFrame(26, 0x0800, (), (16, 1048575, 3))
    frame6 = MACS + b"\x81\x00" + vlan(7, 0x8847) + mpls(99, True) + IP6
    assert strip_link(1, frame6) == LinkFrame(22, 0x86DD, (7,), (99,))
    pseudowire = MACS + b"\x88\x48" + mpls(20, True) + bytes(4) + MACS
    assert strip_link(1, pseudowire).ethertype == 0


def test_linux_cooked() -> None:
    sll = struct.pack("!HHH8sH", 0, 1, 6, MACS[:6] + b"\0\0", 0x0800) + IP4
    assert strip_link(113, sll) == LinkFrame(16, 0x0800)
    sll_vlan = struct.pack("!HHH8sH", 4, 1, 6, bytes(8), 0x8100) + vlan(9, 0x86DD) + IP6
    assert strip_link(113, sll_vlan) == LinkFrame(20, 0x86DD, (9,))
    sll2 = struct.pack("!HHIHBB8s", 0x86DD, 0, 3, 1, 0, 6, bytes(8)) + IP6
    assert strip_link(276, sll2) == LinkFrame(20, 0x86DD)


def test_raw_ip() -> None:
    assert strip_link(101, IP4) == LinkFrame(0, 0x0800)
    assert strip_link(101, IP6) == LinkFrame(0, 0x86DD)
    assert strip_link(101, b"\x10\x00") == LinkFrame(0, 0)
    assert strip_link(12, IP4) == LinkFrame(0, 0x0800)
    assert strip_link(228, IP4) == LinkFrame(0, 0x0800)
    assert strip_link(229, IP6) == LinkFrame(0, 0x86DD)


@pytest.mark.parametrize("link_type", [0, 108])
@pytest.mark.parametrize("order", ["<", ">"])
def test_bsd_loopback_both_byte_orders(link_type: int, order: str) -> None:
    assert strip_link(link_type, struct.pack(order + "I", 2) + IP4) == LinkFrame(4, 0x0800)
    for family in (24, 28, 30):
        assert strip_link(link_type, struct.pack(order + "I", family) + IP6) == LinkFrame(4, 0x86DD)
    assert strip_link(link_type, struct.pack(order + "I", 7) + IP4).ethertype == 0


@pytest.mark.parametrize(
    ("link_type", "frame", "layer", "field"),
    [
        (1, MACS, "ethernet", "header"),
        (1, MACS + b"\x81\x00\x00", "ethernet", "vlan tag"),
        (1, MACS + b"\x88\x47" + mpls(1, False), "ethernet", "mpls label"),
        (113, bytes(15), "sll", "header"),
        (276, bytes(19), "sll2", "header"),
        (0, b"\x02\x00", "null", "family"),
        (101, b"", "raw", "version"),
        (147, IP4, "link", "link type"),
    ],
)
def test_short_frames_raise_parse_error(link_type: int, frame: bytes, layer: str,
                                        field: str) -> None:
    with pytest.raises(ParseError) as info:
        strip_link(link_type, frame)
    assert (info.value.layer, info.value.field) == (layer, field)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([0, 1, 101, 108, 113, 228, 229, 276]), st.binary(max_size=60))
def test_fuzzed_frames_raise_only_parse_error(link_type: int, frame: bytes) -> None:
    try:
        lf = strip_link(link_type, frame)
    except ParseError:
        return
    assert 0 <= lf.network_offset <= len(frame)


packets = st.tuples(st.sampled_from([IP4, IP6]), st.binary(max_size=20)).map(
    lambda parts: parts[0] + parts[1]
)


@settings(max_examples=100, deadline=None)
@given(packets, st.sampled_from([1, 113, 276]),
       st.lists(st.integers(0, 4095), max_size=3).map(tuple),
       st.lists(st.integers(0, 2**20 - 1), max_size=3).map(tuple))
def test_build_frame_round_trip_tagged(packet: bytes, link_type: int, vlans: tuple[int, ...],
                                       labels: tuple[int, ...]) -> None:
    frame = build_frame(link_type, packet, vlans=vlans, mpls=labels)
    lf = strip_link(link_type, frame)
    assert lf.vlans == vlans and lf.mpls == labels
    assert lf.ethertype == (0x0800 if packet[0] >> 4 == 4 else 0x86DD)
    assert frame[lf.network_offset :] == packet


@settings(max_examples=50, deadline=None)
@given(packets, st.sampled_from([0, 101, 108]), st.sampled_from(["little", "big"]))
def test_build_frame_round_trip_plain(packet: bytes, link_type: int, order: str) -> None:
    frame = build_frame(link_type, packet, loopback_order=order)  # type: ignore[arg-type]
    lf = strip_link(link_type, frame)
    assert lf == LinkFrame(lf.network_offset, 0x0800 if packet[0] >> 4 == 4 else 0x86DD)
    assert frame[lf.network_offset :] == packet


def test_build_frame_rejects() -> None:
    with pytest.raises(ValueError):
        build_frame(101, b"\x10")
    with pytest.raises(ValueError):
        build_frame(101, IP4, vlans=(1,))
    with pytest.raises(ValueError):
        build_frame(229, IP4)
    assert build_frame(228, IP4) == IP4
