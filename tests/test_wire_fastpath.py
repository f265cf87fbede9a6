"""The bulk-reader fast path agrees with the full codec, on generated and on real captures."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synack.wire.errors import ParseError
from synack.wire.fastpath import (
    ACK,
    DPORT,
    DST,
    FLAGS,
    IP_LEN,
    PAYLOAD_LEN,
    SEQ,
    SPORT,
    SRC,
    TCP_HLEN,
    TCP_OFFSET,
    VERSION,
    WINDOW,
    FastTcp,
    decode_tcp,
    decoder,
)
from synack.wire.ip import (
    IPv4Header,
    IPv6Extension,
    IPv6Header,
    build_ipv4,
    build_ipv6,
    parse_ipv4,
    parse_ipv6,
)
from synack.wire.link import ETHERTYPE_IPV4, ETHERTYPE_IPV6, strip_link
from synack.wire.tcp import Nop, Sack, TcpFlags, TcpSegment, Timestamps, build_tcp, parse_tcp

TRACES = Path(__file__).resolve().parents[2] / "shared" / "captures" / "zeek" / "traces"
MACS = bytes(6) + bytes.fromhex("020000000001")


def reference(link_type: int, frame: bytes) -> FastTcp | None:
    """The FastTcp tuple computed with the full codec (dataclasses, options parsed)."""
    lf = strip_link(link_type, frame)
    net = frame[lf.network_offset :]
    if lf.ethertype == ETHERTYPE_IPV4:
        ip = parse_ipv4(net)
        assert isinstance(ip.header, IPv4Header)
        ip_len = ip.header.total_length
    elif lf.ethertype == ETHERTYPE_IPV6:
        ip = parse_ipv6(net)
        assert isinstance(ip.header, IPv6Header)
        ip_len = ip.header.payload_length
    else:
        return None
    if ip.fragment or ip.protocol != 6:
        return None
    seg = parse_tcp(ip.payload)
    assert ip_len is not None
    ip_end = ip_len if ip.version == 4 else 40 + ip_len
    return (ip.version, ip.src.packed, ip.dst.packed, seg.src_port, seg.dst_port, seg.seq,
            seg.ack, int(seg.flags), seg.window, len(ip.payload) - len(seg.payload),
            len(seg.payload), ip_len, lf.network_offset + ip_end - len(ip.payload))


def agree(link_type: int, frame: bytes) -> FastTcp | None:
    """Assert the fast path matches the codec wherever the codec decodes the frame."""
    try:
        fast: FastTcp | ParseError | None = decode_tcp(link_type, frame)
    except ParseError as exc:
        fast = exc
    try:
        want = reference(link_type, frame)
    except ParseError:
        return None  # the codec is stricter (options, lengths against captured bytes)
    assert fast == want, (frame.hex(), fast, want)
    return want


def test_tuple_layout_on_a_known_frame() -> None:
    seg = TcpSegment(40000, 443, 2**32 - 3, 17, TcpFlags.ACK | TcpFlags.AE, 1000,
                     options=(Nop(), Nop(), Timestamps(5, 6)), payload=b"hello")
    a, b = IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")
    ip = build_ipv4(IPv4Header(a, b, 6), build_tcp(seg, a.packed, b.packed))
    frame = MACS + b"\x08\x00" + ip + bytes(4)  # with a 4-byte trailer
    r = decode_tcp(1, frame)
    assert r is not None
    assert (r[VERSION], r[SRC], r[DST], r[SPORT], r[DPORT]) == (4, a.packed, b.packed, 40000, 443)
    assert (r[SEQ], r[ACK], r[FLAGS], r[WINDOW]) == (2**32 - 3, 17, 0x110, 1000)
    assert (r[TCP_HLEN], r[PAYLOAD_LEN], r[IP_LEN], r[TCP_OFFSET]) == (32, 5, 57, 34)
    assert decoder(1)(frame) == r
    assert agree(1, frame) == r


def test_none_for_other_protocols_and_fragments() -> None:
    a, b = IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")
    udp = build_ipv4(IPv4Header(a, b, 17), bytes(8))
    frag = build_ipv4(IPv4Header(a, b, 6, flags=1), bytes(24))
    assert decode_tcp(1, MACS + b"\x08\x00" + udp) is None
    assert decode_tcp(1, MACS + b"\x08\x00" + frag) is None
    assert decode_tcp(1, MACS + b"\x08\x06" + bytes(28)) is None
    assert decode_tcp(1, MACS + b"\x08\x06") is None  # short ARP-like frame: not TCP
    a6, b6 = IPv6Address("::1"), IPv6Address("::2")
    frag6 = build_ipv6(IPv6Header(a6, b6, 44, extensions=(
        IPv6Extension(44, bytes((6, 0, 0, 8)) + bytes(4)),)), bytes(24))
    assert decode_tcp(101, frag6) is None
    with pytest.raises(ParseError):
        decode_tcp(1, MACS + b"\x08\x00" + bytes.fromhex("4500"))


def test_snaplen_truncated_payload_still_decodes() -> None:
    seg = TcpSegment(1, 2, 3, 4, TcpFlags.PSH | TcpFlags.ACK, 5, payload=b"x" * 100)
    a, b = IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")
    frame = MACS + b"\x08\x00" + build_ipv4(IPv4Header(a, b, 6), build_tcp(seg, a.packed,
                                                                             b.packed))
    r = decode_tcp(1, frame[:60])
    assert r is not None and r[PAYLOAD_LEN] == 100 and r[IP_LEN] == 140


addr4 = st.integers(0, 2**32 - 1).map(IPv4Address)
addr6 = st.integers(0, 2**128 - 1).map(IPv6Address)
u16 = st.integers(0, 0xFFFF)
u32 = st.one_of(st.integers(0, 2**32 - 1), st.integers(2**32 - 1000, 2**32 - 1))


@st.composite
def frames(draw: st.DrawFn) -> tuple[int, bytes]:
    seg = TcpSegment(
        draw(u16), draw(u16), draw(u32), draw(u32), TcpFlags(draw(st.integers(0, 0x1FF))),
        draw(u16), draw(u16),
        draw(st.sampled_from([(), (Nop(), Nop(), Timestamps(1, 2)), (Sack(((1, 2),)),)])),
        draw(st.binary(max_size=30)),
    )
    proto = draw(st.sampled_from([6, 6, 6, 17]))
    if draw(st.booleans()):
        src, dst = draw(addr4), draw(addr4)
        flags = draw(st.sampled_from([0, 2, 2, 1]))
        offset = draw(st.sampled_from([0, 0, 0, 7]))
        opts = bytes(4 * draw(st.integers(0, 2)))
        net = build_ipv4(IPv4Header(src, dst, proto, flags=flags, fragment_offset=offset,
                                    options=opts), build_tcp(seg, src.packed, dst.packed))
        etype = b"\x08\x00"
    else:
        src6, dst6 = draw(addr6), draw(addr6)
        kinds = draw(st.lists(st.sampled_from([0, 43, 60, 51, 44]), max_size=3))
        exts = []
        for i, kind in enumerate(kinds):
            nxt = kinds[i + 1] if i + 1 < len(kinds) else proto
            if kind == 44:
                exts.append(IPv6Extension(44, bytes((nxt, 0)) + struct.pack(
                    "!HI", draw(st.sampled_from([0, 0, 1, 8])), 1)))
            elif kind == 51:
                exts.append(IPv6Extension(51, bytes((nxt, 1)) + bytes(10)))
            else:
                exts.append(IPv6Extension(kind, bytes((nxt, 0)) + bytes(6)))
        net = build_ipv6(IPv6Header(src6, dst6, kinds[0] if kinds else proto,
                                    extensions=tuple(exts)),
                         build_tcp(seg, src6.packed, dst6.packed))
        etype = b"\x86\xdd"
    link = draw(st.sampled_from([1, 1, 1, 101, 0, 113, 276]))
    trailer = bytes(draw(st.integers(0, 6))) if link == 1 else b""
    if link == 1:
        tags = b""
        for vid in draw(st.lists(st.integers(0, 4095), max_size=2)):
            tags += b"\x81\x00" + struct.pack("!H", vid)
        if draw(st.booleans()):
            return link, MACS + tags + b"\x88\x47" + struct.pack("!I", (5 << 12) | 0x1FF) + net
        return link, MACS + tags + etype + net + trailer
    if link == 0:
        family = 2 if etype == b"\x08\x00" else 30
        return link, struct.pack("<I", family) + net
    if link == 113:
        return link, struct.pack("!HHH8s", 0, 1, 6, bytes(8)) + etype + net
    if link == 276:
        return link, etype + struct.pack("!HIHBB8s", 0, 1, 1, 0, 6, bytes(8)) + net
    return link, net


@settings(max_examples=200, deadline=None)
@given(frames())
def test_agrees_with_codec_on_generated_frames(lf: tuple[int, bytes]) -> None:
    link_type, frame = lf
    assert reference(link_type, frame) == agree(link_type, frame)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([0, 1, 101, 113, 276]), st.binary(max_size=100), st.data())
def test_fuzzed_frames_raise_only_parse_error(link_type: int, tail: bytes,
                                              data: st.DataObject) -> None:
    head = data.draw(st.sampled_from([b"", MACS + b"\x08\x00\x45", MACS + b"\x86\xdd\x60",
                                      b"\x45", b"\x60"]))
    agree(link_type, head + tail)


def _read(path: Path) -> tuple[int, list[bytes]]:
    dpkt = pytest.importorskip("dpkt")
    with path.open("rb") as f:
        reader = (dpkt.pcapng.Reader if path.suffix == ".pcapng" else dpkt.pcap.Reader)(f)
        return reader.datalink(), [bytes(buf) for _ts, buf in reader]


@pytest.mark.skipif(not TRACES.is_dir(), reason="shared captures not present")
def test_agrees_with_codec_on_real_captures() -> None:
    compared = tcp = 0
    for path in sorted(TRACES.iterdir()):
        if path.suffix not in (".pcap", ".pcapng"):
            continue
        link_type, packets = _read(path)
        for frame in packets:
            want = agree(link_type, frame)
            compared += 1
            tcp += want is not None
    assert compared > 1000 and tcp > 1000, (compared, tcp)
