"""The TCP header codec: exact bytes, byte-exact round trips, errors, and scapy as an oracle."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synack.capture.tcpdump import TcpdumpFormatter
from synack.wire.errors import ParseError
from synack.wire.ip import build_tcp_packet
from synack.wire.link import LinkType
from synack.wire.tcp import (
    ACK,
    AE,
    CWR,
    ECE,
    FIN,
    FLAGS,
    PSH,
    RST,
    SYN,
    URG,
    Eol,
    Mss,
    Nop,
    Sack,
    SackPermitted,
    TcpFlags,
    TcpOption,
    TcpSegment,
    Timestamps,
    UnknownOption,
    WindowScale,
    build_tcp,
    encode_options,
    flag_letters,
    parse_tcp,
    tcp_checksum,
    tcp_checksum_ok,
)

SRC4, DST4 = bytes((192, 0, 2, 1)), bytes((198, 51, 100, 7))
SRC6, DST6 = bytes.fromhex("20010db8" + "00" * 11 + "01"), bytes.fromhex("fe80" + "00" * 13 + "02")

u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 2**32 - 1)
near_wrap = st.integers(2**32 - 70000, 2**32 - 1)
seq_values = st.one_of(u32, near_wrap)
known_kinds = {0, 1, 2, 3, 4, 5, 8}
# Kinds scapy decodes with a fixed layout of its own (AltChkSum, MD5, Mood, UTO, TFO), which it
# re-encodes in that layout whatever length the option had on the wire.
_SCAPY_FIXED_KINDS = {14, 19, 25, 28, 34}

option = st.one_of(
    st.just(Nop()),
    st.builds(Mss, u16),
    st.builds(WindowScale, st.integers(0, 255)),
    st.just(SackPermitted()),
    st.builds(Sack, st.lists(st.tuples(seq_values, seq_values), min_size=0, max_size=4)
              .map(tuple)),
    st.builds(Timestamps, u32, u32),
    st.builds(UnknownOption, st.integers(6, 255).filter(lambda k: k not in known_kinds),
              st.binary(max_size=12)),
)


def _raw_options(opts: tuple[TcpOption, ...]) -> bytes:
    """Encoded options without the zero fill that encode_options adds."""
    out = b""
    for o in opts:
        enc = encode_options((o,))
        size = 1 if isinstance(o, (Nop, Eol)) else enc[1]
        out += enc[:size]
    return out


@st.composite
def canonical_options(draw: st.DrawFn) -> tuple[tuple[TcpOption, ...], bytes]:
    """Options as parse_tcp returns them: filling the area exactly, or ending in Eol + padding."""
    opts: list[TcpOption] = []
    for opt in draw(st.lists(option, max_size=8)):
        if len(_raw_options((*opts, opt))) <= 40:
            opts.append(opt)
    exact = len(_raw_options(tuple(opts)))
    if exact == 40 or (exact % 4 == 0 and draw(st.booleans())):
        return tuple(opts), b""
    base = (-(exact + 1)) % 4
    pad_len = base + 4 * draw(st.integers(0, (40 - exact - 1 - base) // 4))
    return (*opts, Eol()), draw(st.binary(min_size=pad_len, max_size=pad_len))


@st.composite
def segments(draw: st.DrawFn) -> TcpSegment:
    opts, padding = draw(canonical_options())
    return TcpSegment(
        src_port=draw(u16), dst_port=draw(u16), seq=draw(seq_values), ack=draw(seq_values),
        flags=TcpFlags(draw(st.integers(0, 0x1FF))), window=draw(u16), urgent=draw(u16),
        options=opts, payload=draw(st.binary(max_size=64)), checksum=None,
        reserved=draw(st.integers(0, 7)), padding=padding,
    )


def test_flag_values() -> None:
    assert [f.value for f in TcpFlags] == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert [f.name for f in TcpFlags] == ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR",
                                          "AE"]


def test_flag_operators_keep_the_type() -> None:
    sa = TcpFlags.SYN | TcpFlags.ACK
    assert sa is TcpFlags(0x12) and sa & TcpFlags.SYN is TcpFlags.SYN
    assert (3 & TcpFlags.SYN) is TcpFlags.SYN and (TcpFlags.SYN | 1) is TcpFlags(3)
    assert sa ^ TcpFlags.ACK is TcpFlags.SYN and (TcpFlags.ACK ^ sa) is TcpFlags.SYN
    assert ~TcpFlags.SYN == 0x1FD and sa & ~TcpFlags.SYN is TcpFlags.ACK
    assert not sa & TcpFlags.FIN and TcpFlags.ACK in sa
    assert int(TcpFlags.SYN | 0x400) == 0x402
    with pytest.raises(TypeError):
        TcpFlags.SYN & "x"


def test_segments_are_frozen_values() -> None:
    seg = TcpSegment(src_port=1, dst_port=2, seq=3, ack=4, flags=TcpFlags.ACK, window=5)
    assert seg == TcpSegment(1, 2, 3, 4, TcpFlags.ACK, 5, 0, (), b"", None, 0, b"")
    assert hash(seg) == hash(TcpSegment(1, 2, 3, 4, TcpFlags.ACK, 5))
    with pytest.raises(dataclasses.FrozenInstanceError):
        seg.seq = 9  # type: ignore[misc]
    assert dataclasses.replace(seg, seq=9).seq == 9
    assert Timestamps(value=1, echo=2) == Timestamps(1, 2)
    with pytest.raises(TypeError):
        TcpSegment(1, 2, 3)  # type: ignore[call-arg]


def test_syn_exact_bytes() -> None:
    seg = TcpSegment(
        40000, 80, 0xFFFFFFFE, 0, TcpFlags.SYN | TcpFlags.AE, 64240,
        options=(Mss(1460), SackPermitted(), Timestamps(0x01020304, 0), Nop(), WindowScale(7)),
    )
    b = build_tcp(seg, SRC4, DST4)
    assert b[:12] == bytes.fromhex("9c400050fffffffe00000000")
    assert b[12:14] == bytes.fromhex("a102")  # data offset 10, AE, SYN
    assert b[14:16] == struct.pack("!H", 64240)
    assert b[18:20] == b"\0\0"
    assert b[20:] == bytes.fromhex("020405b4" "0402" "080a0102030400000000" "01" "030307")
    assert tcp_checksum_ok(b, SRC4, DST4)
    assert not tcp_checksum_ok(b, SRC4, SRC4)
    zeroed = b[:16] + b"\0\0" + b[18:]
    assert struct.unpack("!H", b[16:18])[0] == tcp_checksum(zeroed, SRC4, DST4)
    got = parse_tcp(b)
    assert got == dataclasses.replace(seg, checksum=struct.unpack("!H", b[16:18])[0])
    assert got.seg_len == 1 and got.mss == 1460 and got.window_scale == 7
    assert got.sack_permitted and got.timestamps == Timestamps(0x01020304, 0)
    assert got.sack_blocks == () and got.header_len == 40


def test_properties_absent_and_seg_len() -> None:
    seg = TcpSegment(1, 2, 3, 4, TcpFlags.FIN | TcpFlags.SYN | TcpFlags.ACK, 5, payload=b"abc")
    assert seg.seg_len == 5
    assert seg.mss is None and seg.window_scale is None and seg.timestamps is None
    assert not seg.sack_permitted and seg.sack_blocks == ()
    sack = TcpSegment(1, 2, 3, 4, TcpFlags.ACK, 5,
                      options=(Nop(), Nop(), Sack(((2**32 - 10, 5), (100, 200)))))
    assert sack.sack_blocks == ((2**32 - 10, 5), (100, 200))
    assert parse_tcp(build_tcp(sack, SRC6, DST6)).sack_blocks == ((2**32 - 10, 5), (100, 200))


def test_unknown_option_and_bytes_after_eol_preserved() -> None:
    header = bytearray(struct.pack("!HHIIHHHH", 1, 2, 3, 4, (11 << 12) | 0x10, 100, 0xABCD, 0))
    opts = bytes.fromhex("fe06cafebabe" "1e0401ff" "01" "00" "deadbeefaabbccddeeff0011")
    assert len(opts) == 24
    data = bytes(header) + opts + b"payload"
    seg = parse_tcp(data)
    assert seg.options == (UnknownOption(0xFE, bytes.fromhex("cafebabe")),
                           UnknownOption(30, bytes.fromhex("01ff")), Nop(), Eol())
    assert seg.padding == bytes.fromhex("deadbeefaabbccddeeff0011")
    assert seg.checksum == 0xABCD and seg.payload == b"payload"
    assert build_tcp(seg, SRC4, DST4) == data


def test_reserved_bits_round_trip() -> None:
    data = struct.pack("!HHIIHHHH", 1, 2, 3, 4, (5 << 12) | 0x0E00 | 0x1FF, 9, 0, 0)
    seg = parse_tcp(data)
    assert seg.reserved == 7 and seg.flags == 0x1FF
    assert build_tcp(seg, SRC4, DST4) == data


def test_unaligned_options_are_zero_filled_to_eol() -> None:
    seg = TcpSegment(1, 2, 3, 4, TcpFlags.SYN, 5, options=(Mss(536), WindowScale(14)))
    b = build_tcp(seg, SRC4, DST4)
    assert b[20:] == bytes.fromhex("02040218" "03030e" "00")
    assert parse_tcp(b).options == (Mss(536), WindowScale(14), Eol())


def test_too_many_options() -> None:
    with pytest.raises(ValueError):
        build_tcp(TcpSegment(1, 2, 3, 4, TcpFlags.ACK, 5, options=(Nop(),) * 41), SRC4, DST4)
    with pytest.raises(ValueError):
        build_tcp(TcpSegment(70000, 2, 3, 4, TcpFlags.ACK, 5), SRC4, DST4)


def _hdr(offset: int, opts: bytes = b"") -> bytes:
    return struct.pack("!HHIIHHHH", 1, 2, 3, 4, (offset << 12) | 0x10, 100, 0, 0) + opts


@pytest.mark.parametrize(
    ("data", "offset", "field"),
    [
        (b"\0" * 19, 19, "header"),
        (_hdr(4), 12, "data offset"),
        (_hdr(6), 12, "data offset"),  # header says 24 bytes, 20 present
        (_hdr(6, bytes.fromhex("02050000")), 21, "option mss length"),
        (_hdr(6, bytes.fromhex("01010303")), 23, "option length"),  # runs past header
        (_hdr(6, bytes.fromhex("01010101")[:3] + b"\x02"), 23, "option length"),  # no length
        (_hdr(6, bytes.fromhex("fe010000")), 21, "option length"),  # length < 2
        (_hdr(6, bytes.fromhex("04030000")), 21, "option sack-permitted length"),
        (_hdr(6, bytes.fromhex("03020000")), 21, "option window scale length"),
        (_hdr(8, bytes.fromhex("080b") + bytes(10)), 21, "option timestamps length"),
        (_hdr(8, bytes.fromhex("050b") + bytes(10)), 21, "option sack length"),
        (_hdr(8, bytes.fromhex("0101fe0f") + bytes(8)), 23, "option length"),
    ],
)
def test_parse_errors_name_offset_and_field(data: bytes, offset: int, field: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_tcp(data)
    assert info.value.layer == "tcp"
    assert (info.value.offset, info.value.field) == (offset, field)


@settings(max_examples=100, deadline=None)
@given(segments(), st.sampled_from([(SRC4, DST4), (SRC6, DST6)]))
def test_parse_build_round_trip(seg: TcpSegment, addrs: tuple[bytes, bytes]) -> None:
    b = build_tcp(seg, *addrs)
    assert tcp_checksum_ok(b, *addrs)
    got = parse_tcp(b)
    assert dataclasses.replace(got, checksum=None) == seg
    assert build_tcp(got, *addrs) == b
    assert parse_tcp(memoryview(b)) == got


@settings(max_examples=100, deadline=None)
@given(segments(), st.data())
def test_build_parse_build_is_identity_for_any_options(
    seg: TcpSegment, data: st.DataObject
) -> None:
    # Any option list (aligned or not, Eol anywhere) encodes to bytes that re-encode identically.
    extra = data.draw(st.lists(option, max_size=3))
    opts: tuple[TcpOption, ...] = seg.options
    for o in extra:
        if len(_raw_options((*opts, o))) + len(seg.padding) <= 40:
            opts = (*opts, o)
    seg = dataclasses.replace(seg, options=opts, checksum=data.draw(u16))
    try:
        b = build_tcp(seg, SRC4, DST4)
    except ValueError:
        return
    assert build_tcp(parse_tcp(b), SRC4, DST4) == b


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80))
def test_fuzzed_bytes_raise_only_parse_error(data: bytes) -> None:
    try:
        seg = parse_tcp(data)
    except ParseError as exc:
        assert exc.layer == "tcp" and 0 <= exc.offset <= len(data)
        return
    assert build_tcp(seg, SRC4, DST4) == data


@settings(max_examples=100, deadline=None)
@given(segments(), st.data())
def test_truncated_segments_raise_only_parse_error(seg: TcpSegment, data: st.DataObject) -> None:
    b = build_tcp(seg, SRC4, DST4)
    cut = data.draw(st.integers(0, len(b)))
    try:
        parse_tcp(b[:cut])
    except ParseError as exc:
        assert exc.layer == "tcp"


# scapy as an independent implementation ------------------------------------------------------

scapy_all = pytest.importorskip("scapy.all")


def _scapy_options(opts: tuple[TcpOption, ...]) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for o in opts:
        if isinstance(o, Mss):
            out.append(("MSS", o.value))
        elif isinstance(o, WindowScale):
            out.append(("WScale", o.shift))
        elif isinstance(o, SackPermitted):
            out.append(("SAckOK", b""))
        elif isinstance(o, Timestamps):
            out.append(("Timestamp", (o.value, o.echo)))
        elif isinstance(o, Sack):
            out.append(("SAck", tuple(x for block in o.blocks for x in block)))
        elif isinstance(o, Nop):
            out.append(("NOP", None))
        elif isinstance(o, Eol):
            out.append(("EOL", None))
    return out


simple_option = st.one_of(
    st.just(Nop()), st.builds(Mss, u16), st.builds(WindowScale, st.integers(0, 14)),
    st.just(SackPermitted()), st.builds(Timestamps, u32, u32),
    st.builds(Sack, st.lists(st.tuples(u32, u32), min_size=1, max_size=3).map(tuple)),
)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(simple_option, max_size=5).filter(lambda o: len(_raw_options(tuple(o))) <= 40),
    u16, u16, seq_values, seq_values, st.integers(0, 0xFF), u16, st.binary(max_size=40),
    st.booleans(),
)
def test_scapy_built_segments_parse_to_same_fields(
    opts: list[TcpOption], sport: int, dport: int, seq: int, ack: int, flags: int, window: int,
    payload: bytes, v6: bool,
) -> None:
    sc = scapy_all
    ip = sc.IPv6(src="2001:db8::1", dst="fe80::2") if v6 else sc.IP(src="192.0.2.1",
                                                                        dst="198.51.100.7")
    pkt = ip / sc.TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, window=window,
                      options=_scapy_options(tuple(opts))) / payload
    wire = sc.raw(pkt)
    reparsed = (sc.IPv6 if v6 else sc.IP)(wire)
    tcp_bytes = sc.raw(reparsed[sc.TCP])
    src, dst = (SRC6, DST6) if v6 else (SRC4, DST4)
    seg = parse_tcp(tcp_bytes)
    t = reparsed[sc.TCP]
    assert (seg.src_port, seg.dst_port, seg.seq, seg.ack) == (t.sport, t.dport, t.seq, t.ack)
    assert (int(seg.flags), seg.window, seg.urgent) == (int(t.flags), t.window, t.urgptr)
    assert seg.checksum == t.chksum
    assert tcp_checksum_ok(tcp_bytes, src, dst)
    assert seg.payload == payload
    assert [o for o in seg.options if not isinstance(o, Eol)] == opts
    assert build_tcp(seg, src, dst) == tcp_bytes
    assert build_tcp(dataclasses.replace(seg, checksum=None), src, dst) == tcp_bytes


@settings(max_examples=40, deadline=None)
@given(segments(), st.booleans())
def test_synack_built_segments_accepted_by_scapy(seg: TcpSegment, v6: bool) -> None:
    sc = scapy_all
    src, dst = (SRC6, DST6) if v6 else (SRC4, DST4)
    b = build_tcp(seg, src, dst)
    if v6:
        pkt = sc.IPv6(sc.raw(sc.IPv6(src="2001:db8::1", dst="fe80::2", nh=6) / sc.Raw(b)))
    else:
        pkt = sc.IP(sc.raw(sc.IP(src="192.0.2.1", dst="198.51.100.7", proto=6) / sc.Raw(b)))
    t = pkt[sc.TCP]
    assert (t.sport, t.dport, t.seq, t.ack, int(t.flags), t.reserved) == (
        seg.src_port, seg.dst_port, seg.seq, seg.ack, int(seg.flags), seg.reserved
    )
    assert t.window == seg.window and t.urgptr == seg.urgent and t.dataofs * 4 == seg.header_len
    # scapy's own checksum over the bytes as sent (pseudo-header included) verifies: it sums to 0.
    if v6:
        assert sc.in6_chksum(6, pkt, b) == 0
    else:
        assert sc.in4_chksum(6, pkt, b) == 0
    if len(seg.padding) < 4 and not seg.padding.strip(b"\0") and not any(
        isinstance(o, UnknownOption) and o.kind in _SCAPY_FIXED_KINDS for o in seg.options
    ):
        # scapy re-encodes what it parsed (it keeps no bytes after EOL, padding only to 32 bits;
        # options it gives a fixed layout, such as MD5's 16 bytes, come back in that layout).
        sent = t.chksum
        del t.chksum
        rebuilt = (sc.IPv6 if v6 else sc.IP)(sc.raw(pkt))
        assert rebuilt[sc.TCP].chksum == sent


def test_plain_flag_constants_match_tcpflags() -> None:
    plain = (FIN, SYN, RST, PSH, ACK, URG, ECE, CWR, AE)
    names = ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "AE")
    assert plain == tuple(int(TcpFlags[n]) for n in names)
    assert all(type(v) is int for v in plain)
    assert len(FLAGS) == 0x200 and all(int(f) == i for i, f in enumerate(FLAGS))


@pytest.mark.parametrize(
    ("flags", "text"),
    [(0xD2, "S.EW"), (0x03, "FS"), (0x30, ".U"), (0x00, "none"), (0x100, "none"),
     (0x1FF, "FSRP.UEW"), (0x14, "R."), (0x18, "P.")],
)
def test_flag_letters_examples(flags: int, text: str) -> None:
    assert flag_letters(flags) == text
    assert flag_letters(FLAGS[flags]) == text


def test_flag_letters_matches_tcpdump_formatter_for_all_512_values() -> None:
    src, dst = ipaddress.IPv4Address("192.0.2.1"), ipaddress.IPv4Address("198.51.100.7")
    formatter = TcpdumpFormatter(absolute=True)
    for value in range(0x200):
        seg = TcpSegment(1000 + value, 80, 1, 2, FLAGS[value], 512)
        line = formatter.format(value * 1000, LinkType.RAW, build_tcp_packet(src, dst, seg))
        assert line is not None
        found = re.search(r"Flags \[([^\]]*)\]", line)
        assert found is not None, line
        assert flag_letters(value) == found.group(1), (hex(value), line)
