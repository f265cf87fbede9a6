"""IPv4 and IPv6 codecs: exact fields, extension headers, fragments, errors, scapy as an oracle."""

from __future__ import annotations

import dataclasses
import struct
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synack.wire.errors import ParseError
from synack.wire.ip import (
    IPV4_DF,
    IPV4_MF,
    IpPacket,
    IPv4Header,
    IPv6Extension,
    IPv6Header,
    build_ip,
    build_ipv4,
    build_ipv6,
    build_tcp_packet,
    ipv4_header_ok,
    parse_ip,
    parse_tcp_packet,
)
from synack.wire.tcp import Mss, TcpFlags, TcpSegment, Timestamps, parse_tcp, tcp_checksum_ok

A4, B4 = IPv4Address("192.0.2.1"), IPv4Address("198.51.100.7")
A6, B6 = IPv6Address("2001:db8::1"), IPv6Address("fe80::2")
SYN = TcpSegment(40000, 443, 2**32 - 1, 0, TcpFlags.SYN, 65535, options=(Mss(1460),))


def test_ipv4_tcp_packet_exact_header() -> None:
    pkt = build_tcp_packet(A4, B4, SYN, ttl=63, ident=0x1234)
    assert pkt[:12] == bytes.fromhex("4500002c" "1234" "4000" "3f06") + pkt[10:12]
    assert pkt[12:20] == A4.packed + B4.packed
    assert ipv4_header_ok(pkt)
    ip, seg = parse_tcp_packet(pkt)
    assert ip.version == 4 and ip.protocol == 6 and not ip.fragment
    assert ip.src == A4 and ip.dst == B4
    h = ip.header
    assert isinstance(h, IPv4Header)
    assert (h.ttl, h.ident, h.flags, h.dont_fragment, h.more_fragments) == (63, 0x1234, 2, True,
                                                                             False)
    assert h.total_length == 44 and h.header_len == 20 and h.version == 4
    assert dataclasses.replace(seg, checksum=None) == SYN
    assert tcp_checksum_ok(ip.payload, A4.packed, B4.packed)
    assert build_ipv4(h, ip.payload) == pkt


def test_ipv6_tcp_packet() -> None:
    pkt = build_tcp_packet(A6, B6, SYN, ttl=7)
    assert pkt[:8] == bytes.fromhex("60000000" "0018" "0607")
    ip, seg = parse_tcp_packet(pkt)
    assert seg.mss == 1460
    assert ip.version == 6 and ip.src == A6 and ip.dst == B6
    assert isinstance(ip.header, IPv6Header) and ip.header.header_len == 40
    assert tcp_checksum_ok(ip.payload, A6.packed, B6.packed)
    assert build_ipv6(ip.header, ip.payload) == pkt
    with pytest.raises(ValueError):
        build_tcp_packet(A4, B6, SYN)


def test_ipv4_options_total_length_and_trailing_bytes() -> None:
    h = IPv4Header(A4, B4, 6, 1, options=bytes.fromhex("94040000"))  # router alert
    tcp = build_tcp_packet(A4, B4, SYN)[20:]
    pkt = build_ipv4(h, tcp)
    assert pkt[0] == 0x46 and ipv4_header_ok(pkt)
    ip = parse_ip(pkt + b"\0" * 6)  # Ethernet padding is not payload
    assert isinstance(ip.header, IPv4Header)
    assert ip.payload == tcp and ip.header.options == bytes.fromhex("94040000")
    assert build_ip(ip.header, ip.payload) == pkt
    bad = bytearray(pkt)
    bad[8] ^= 1
    assert not ipv4_header_ok(bytes(bad))
    with pytest.raises(ValueError):
        build_ipv4(dataclasses.replace(h, options=b"\x01"), tcp)


@pytest.mark.parametrize(("flags", "offset", "fragment"),
                         [(IPV4_MF, 0, True), (0, 185, True), (IPV4_DF, 0, False),
                          (IPV4_MF, 3, True)])
def test_ipv4_fragments_flagged(flags: int, offset: int, fragment: bool) -> None:
    pkt = build_ipv4(IPv4Header(A4, B4, 6, flags=flags, fragment_offset=offset), b"x" * 24)
    ip = parse_ip(pkt)
    assert isinstance(ip.header, IPv4Header)
    assert ip.fragment is fragment and ip.header.is_fragment is fragment
    if fragment:
        with pytest.raises(ParseError) as info:
            parse_tcp_packet(pkt)
        assert info.value.field == "fragment"


def _ext(next_header: int, body_len: int) -> bytes:
    """A generic extension header (hop-by-hop/routing/destination options): 8-octet units."""
    size = 8 * (body_len + 1)
    return bytes((next_header, body_len)) + bytes(size - 2)


def test_ipv6_extension_headers_walked_to_tcp() -> None:
    tcp = build_tcp_packet(A6, B6, SYN)[40:]
    ah = bytes((6, 4)) + bytes(22)  # AH: (4 + 2) * 4 = 24 bytes, next header TCP
    frag = bytes((51, 0, 0, 0)) + b"\0\0\0\x01"  # atomic fragment: offset 0, M clear
    routing = bytes((60, 0, 0, 0)) + bytes(4)
    exts = (
        IPv6Extension(0, _ext(43, 0)),
        IPv6Extension(43, routing),
        IPv6Extension(60, _ext(44, 1)),
        IPv6Extension(44, frag),
        IPv6Extension(51, ah),
    )
    header = IPv6Header(A6, B6, next_header=0, extensions=exts)
    pkt = build_ipv6(header, tcp)
    ip, seg = parse_tcp_packet(pkt)
    assert ip.protocol == 6 and not ip.fragment
    assert ip.payload == tcp and seg.mss == 1460
    assert ip.header == dataclasses.replace(header, payload_length=len(pkt) - 40)
    assert [e.header_type for e in ip.header.extensions] == [0, 43, 60, 44, 51]
    assert ip.header.header_len == 40 + 8 + 8 + 16 + 8 + 24
    assert build_ipv6(ip.header, ip.payload) == pkt


@pytest.mark.parametrize("frag_word", [0x0001, 0x0008, 0xFFF8])
def test_ipv6_fragment_flagged(frag_word: int) -> None:
    frag = bytes((6, 0)) + struct.pack("!HI", frag_word, 77)
    pkt = build_ipv6(IPv6Header(A6, B6, 44, extensions=(IPv6Extension(44, frag),)), b"y" * 30)
    ip = parse_ip(pkt)
    assert ip.fragment and ip.protocol == 6 and ip.payload == b"y" * 30
    with pytest.raises(ParseError):
        parse_tcp_packet(pkt)


def test_non_tcp_protocol_rejected_by_parse_tcp_packet() -> None:
    pkt = build_ipv4(IPv4Header(A4, B4, 17), b"\0" * 8)
    assert parse_ip(pkt).protocol == 17
    with pytest.raises(ParseError) as info:
        parse_tcp_packet(pkt)
    assert (info.value.layer, info.value.field) == ("ip", "protocol")


@pytest.mark.parametrize(
    ("data", "layer", "offset", "field"),
    [
        (b"", "ip", 0, "version"),
        (b"\x50" + bytes(30), "ip", 0, "version"),
        (b"\x45" + bytes(10), "ipv4", 11, "header"),
        (b"\x44" + bytes(19), "ipv4", 0, "ihl"),
        (b"\x4f" + bytes(39), "ipv4", 0, "ihl"),
        (bytes.fromhex("45000010") + bytes(16), "ipv4", 2, "total length"),
        (bytes.fromhex("45000040") + bytes(16), "ipv4", 2, "total length"),
        (b"\x60" + bytes(20), "ipv6", 21, "header"),
        (bytes.fromhex("6000000000100600") + bytes(32), "ipv6", 4, "payload length"),
        (bytes.fromhex("6000000000080000") + bytes(32) + bytes((6, 1)) + bytes(6),
         "ipv6", 41, "extension header length"),
        (bytes.fromhex("6000000000040000") + bytes(32) + bytes(4), "ipv6", 40,
         "extension header"),
    ],
)
def test_parse_errors(data: bytes, layer: str, offset: int, field: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_ip(data)
    assert (info.value.layer, info.value.offset, info.value.field) == (layer, offset, field)


addr4 = st.integers(0, 2**32 - 1).map(IPv4Address)
addr6 = st.integers(0, 2**128 - 1).map(IPv6Address)
v4_headers = st.builds(
    IPv4Header, addr4, addr4, st.integers(0, 255), st.integers(0, 255), st.integers(0, 255),
    st.integers(0, 0xFFFF), st.integers(0, 7), st.integers(0, 0x1FFF),
    st.integers(0, 10).map(lambda n: bytes(range(4 * n))),
)


@st.composite
def v6_headers(draw: st.DrawFn) -> IPv6Header:
    kinds = draw(st.lists(st.sampled_from([0, 43, 60, 51]), max_size=3))
    upper = draw(st.sampled_from([6, 17, 58]))
    exts = []
    for i, kind in enumerate(kinds):
        nxt = kinds[i + 1] if i + 1 < len(kinds) else upper
        units = draw(st.integers(0, 3))
        if kind == 51:
            exts.append(IPv6Extension(kind, bytes((nxt, 2 * units + 1)) + bytes(8 * units + 10)))
        else:
            exts.append(IPv6Extension(kind, bytes((nxt, units)) + bytes(8 * units + 6)))
    return IPv6Header(draw(addr6), draw(addr6), kinds[0] if kinds else upper,
                      draw(st.integers(0, 255)), draw(st.integers(0, 255)),
                      draw(st.integers(0, 0xFFFFF)), tuple(exts))


@settings(max_examples=100, deadline=None)
@given(st.one_of(v4_headers, v6_headers()), st.binary(max_size=64))
def test_round_trips(header: IPv4Header | IPv6Header, payload: bytes) -> None:
    pkt = build_ip(header, payload)
    ip = parse_ip(pkt)
    assert ip.payload == payload
    if isinstance(header, IPv4Header):
        assert isinstance(ip.header, IPv4Header)
        assert ipv4_header_ok(pkt)
        assert dataclasses.replace(ip.header, total_length=None, checksum=None) == header
        assert ip.fragment == header.is_fragment
    else:
        assert isinstance(ip.header, IPv6Header)
        assert dataclasses.replace(ip.header, payload_length=None) == header
    assert build_ip(ip.header, ip.payload) == pkt
    assert isinstance(ip, IpPacket)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=90),
                 st.binary(min_size=1, max_size=90).map(lambda b: b"\x45" + b[1:]),
                 st.binary(min_size=1, max_size=120).map(lambda b: b"\x60" + b[1:])))
def test_fuzzed_bytes_raise_only_parse_error(data: bytes) -> None:
    try:
        parse_tcp_packet(data)
    except ParseError as exc:
        assert exc.layer in ("ip", "ipv4", "ipv6", "tcp")


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_truncated_packets_raise_only_parse_error(data: st.DataObject) -> None:
    seg = TcpSegment(1, 2, 3, 4, TcpFlags.ACK, 5, options=(Timestamps(1, 2),), payload=b"abc")
    src, dst = (A6, B6) if data.draw(st.booleans()) else (A4, B4)
    pkt = build_tcp_packet(src, dst, seg)
    cut = data.draw(st.integers(0, len(pkt) - 1))
    with pytest.raises(ParseError):
        parse_tcp_packet(pkt[:cut])


scapy_all = pytest.importorskip("scapy.all")


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 0xFFFF), st.integers(0, 2**32 - 1), st.binary(max_size=40), st.booleans(),
       st.integers(0, 0xFFFF))
def test_scapy_agrees_both_ways(port: int, seq: int, payload: bytes, v6: bool,
                                ident: int) -> None:
    sc = scapy_all
    seg = TcpSegment(port, 80, seq, 0, TcpFlags.PSH | TcpFlags.ACK, 512, payload=payload)
    src, dst = (A6, B6) if v6 else (A4, B4)
    pkt = build_tcp_packet(src, dst, seg, ident=ident)
    parsed = (sc.IPv6 if v6 else sc.IP)(pkt)
    sent_tcp = parsed[sc.TCP].chksum
    del parsed[sc.TCP].chksum
    if not v6:
        sent_ip = parsed.chksum
        del parsed.chksum
    rebuilt = (sc.IPv6 if v6 else sc.IP)(sc.raw(parsed))
    assert rebuilt[sc.TCP].chksum == sent_tcp
    if not v6:
        assert rebuilt.chksum == sent_ip and rebuilt.id == ident
    assert sc.raw(rebuilt) == pkt
    # And scapy-built packets parse to the same fields.
    ip_layer = sc.IPv6(src=str(src), dst=str(dst)) if v6 else sc.IP(src=str(src), dst=str(dst),
                                                                     id=ident)
    theirs = sc.raw(ip_layer / sc.TCP(sport=port, dport=80, seq=seq, flags="PA", window=512)
                    / payload)
    ip, got = parse_tcp_packet(theirs)
    assert (ip.src, ip.dst, got.src_port, got.seq, got.payload) == (src, dst, port, seq, payload)
    assert tcp_checksum_ok(ip.payload, src.packed, dst.packed)
    assert v6 or ipv4_header_ok(theirs)
    assert parse_tcp(ip.payload).checksum == (sc.IPv6 if v6 else sc.IP)(theirs)[sc.TCP].chksum
