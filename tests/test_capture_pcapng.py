"""pcapng reading (sections, interfaces, resolutions, packet block kinds, damage) and writing."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synack.capture import stream
from synack.capture.packet import CapturedPacket, InterfaceInfo, Truncation
from synack.capture.reader import CaptureReader, open_capture
from synack.capture.writer import PcapngWriter, open_writer
from synack.wire.errors import ParseError

# Hand-built blocks (draft-ietf-opsawg-pcapng), in either byte order.


def block(e: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) & 3)
    return (
        struct.pack(e + "II", btype, 12 + len(body)) + body + struct.pack(e + "I", 12 + len(body))
    )


def option(e: str, code: int, value: bytes) -> bytes:
    return struct.pack(e + "HH", code, len(value)) + value + b"\0" * (-len(value) & 3)


def options(e: str, *opts: bytes) -> bytes:
    return b"".join(opts) + option(e, 0, b"") if opts else b""


def shb(e: str = "<", version: tuple[int, int] = (1, 0), opts: bytes = b"") -> bytes:
    return block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, *version, -1) + opts)


def idb(e: str = "<", link_type: int = 1, snaplen: int = 65535, opts: bytes = b"") -> bytes:
    return block(e, 1, struct.pack(e + "HHI", link_type, 0, snaplen) + opts)


def epb(e: str, ifid: int, ticks: int, data: bytes, orig: int | None = None) -> bytes:
    orig = len(data) if orig is None else orig
    head = struct.pack(e + "IIIII", ifid, ticks >> 32, ticks & 0xFFFFFFFF, len(data), orig)
    return block(e, 6, head + data)


def spb(e: str, orig: int, data: bytes) -> bytes:
    return block(e, 3, struct.pack(e + "I", orig) + data)


def opb(e: str, ifid: int, ticks: int, data: bytes) -> bytes:
    head = struct.pack(e + "HHIIII", ifid, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data))
    return block(e, 2, head + data)


def tsresol(e: str, value: int) -> bytes:
    return option(e, 9, bytes([value]))


def read_all(data: bytes) -> tuple[list[CapturedPacket], CaptureReader]:
    reader = open_capture(io.BytesIO(data))
    return list(reader), reader


US = 1_700_000_000_123_456  # microseconds since the epoch


@pytest.mark.parametrize("e", ["<", ">"])
def test_enhanced_packets_both_byte_orders(e: str) -> None:
    data = shb(e) + idb(e, 1) + epb(e, 0, US, b"abc", 60) + epb(e, 0, US + 1, b"d" * 1514)
    packets, reader = read_all(data)
    assert packets == [
        CapturedPacket(US * 1000, 1, b"abc", 60, 0),
        CapturedPacket((US + 1) * 1000, 1, b"d" * 1514, 1514, 0),
    ]
    assert reader.format == "pcapng"
    assert reader.byte_order == ("little" if e == "<" else "big")
    assert reader.version == (1, 0)
    assert reader.truncated is None


def test_interfaces_are_known_right_after_open() -> None:
    e = "<"
    name = option(e, 2, b"eth0")
    data = shb(e) + idb(e, 113, 262144, options(e, name)) + idb(e, 101) + epb(e, 1, 5, b"x")
    reader = open_capture(io.BytesIO(data))
    assert reader.link_type == 113
    assert reader.snaplen == 262144
    assert reader.interfaces == [
        InterfaceInfo(113, 262144, "eth0", 1_000_000, 0, None, 0),
        InterfaceInfo(101, 65535, None, 1_000_000, 0, None, 0),
    ]
    assert list(reader) == [CapturedPacket(5000, 101, b"x", 1, 1)]


@pytest.mark.parametrize(
    ("resol", "ticks", "expected_ns"),
    [
        (6, 1_700_000_000_123_456, 1_700_000_000_123_456_000),  # default-equivalent
        (3, 1_700_000_000_123, 1_700_000_000_123_000_000),  # milliseconds
        (9, 1_700_000_000_123_456_789, 1_700_000_000_123_456_789),  # nanoseconds
        (12, 12_345_678_901_234_567_891, 12_345_678_901_234_567),  # picoseconds, floored
        (0x80 | 10, 1_700_000_000 * 1024 + 512, 1_700_000_000_500_000_000),  # 1/1024 s
        (0x80 | 30, 3 * 2**30 + 1, 3_000_000_000),  # 2**-30 s: 0.93 ns floored to 0
        (0x80 | 20, 2**20 + 3, 1_000_002_861),  # 3 * 10**9 / 2**20 = 2861.02 ns
    ],
)
def test_timestamp_resolutions_convert_exactly(resol: int, ticks: int, expected_ns: int) -> None:
    e = "<"
    data = shb(e) + idb(e, opts=options(e, tsresol(e, resol))) + epb(e, 0, ticks, b"p")
    packets, reader = read_all(data)
    assert packets[0].timestamp_ns == expected_ns
    units = 2 ** (resol & 0x7F) if resol & 0x80 else 10**resol
    assert reader.interfaces[0].ts_units_per_second == units


@pytest.mark.parametrize("offset", [0, 3600, -1_000_000_000])
def test_tsoffset_adds_seconds(offset: int) -> None:
    e = ">"
    opts = options(e, tsresol(e, 9), option(e, 14, struct.pack(">q", offset)))
    data = shb(e) + idb(e, opts=opts) + epb(e, 0, 1_700_000_000_000_000_007, b"p")
    packets, reader = read_all(data)
    assert packets[0].timestamp_ns == (1_700_000_000 + offset) * 10**9 + 7
    assert reader.interfaces[0].ts_offset_seconds == offset


def test_fcs_length_option() -> None:
    e = "<"
    _, reader = read_all(shb(e) + idb(e, opts=options(e, option(e, 13, b"\x04"))))
    assert reader.interfaces[0].fcs_length == 4


@pytest.mark.parametrize("e", ["<", ">"])
def test_simple_packet_block_uses_interface_zero(e: str) -> None:
    data = (
        shb(e)
        + idb(e, 101, snaplen=8)
        + idb(e, 1)
        + spb(e, 20, b"0123456789abcdefghij")  # captured = min(original 20, snaplen 8)
        + spb(e, 3, b"xyz")
    )
    packets, _ = read_all(data)
    assert packets == [
        CapturedPacket(0, 101, b"01234567", 20, 0),
        CapturedPacket(0, 101, b"xyz", 3, 0),
    ]


def test_simple_packet_without_snaplen_is_bounded_by_block() -> None:
    e = "<"
    packets, _ = read_all(shb(e) + idb(e, 1, snaplen=0) + spb(e, 1500, b"abcd"))
    assert packets == [CapturedPacket(0, 1, b"abcd", 1500, 0)]


@pytest.mark.parametrize("e", ["<", ">"])
def test_obsolete_packet_block(e: str) -> None:
    data = shb(e) + idb(e, 1) + idb(e, 228) + opb(e, 1, US, b"\x45\x00\x00\x14")
    packets, _ = read_all(data)
    assert packets == [CapturedPacket(US * 1000, 228, b"\x45\x00\x00\x14", 4, 1)]


def test_unknown_blocks_are_skipped() -> None:
    e = "<"
    data = (
        shb(e, opts=options(e, option(e, 4, b"synack test")))
        + idb(e)
        + block(e, 4, b"\x01\x00\x08\x00\x0a\x00\x00\x01host\x00\x00\x00\x00")  # name resolution
        + epb(e, 0, 1, b"a")
        + block(e, 5, struct.pack("<IIIi", 0, 0, 0, 0))  # interface statistics
        + block(e, 0x00000BAD, b"\x00\x00\x7f\x00custom")  # custom block
        + block(e, 0x0000000A, b"TLSK" + b"\0" * 8)  # decryption secrets
        + block(e, 0x12345678, b"")  # unheard of
        + epb(e, 0, 2, b"b")
    )
    packets, reader = read_all(data)
    assert [p.data for p in packets] == [b"a", b"b"]
    assert reader.truncated is None


def test_sections_reset_interfaces_and_may_change_byte_order() -> None:
    first = shb("<") + idb("<", 1) + idb("<", 101) + epb("<", 1, 10, b"one")
    second = shb(">") + idb(">", 113, opts=options(">", tsresol(">", 9))) + epb(">", 0, 20, b"two")
    third = shb("<") + idb("<", 276) + epb("<", 0, 30, b"three")
    packets, reader = read_all(first + second + third)
    assert packets == [
        CapturedPacket(10_000, 101, b"one", 3, 1),
        CapturedPacket(20, 113, b"two", 3, 2),
        CapturedPacket(30_000, 276, b"three", 5, 3),
    ]
    assert [(i.link_type, i.section) for i in reader.interfaces] == [
        (1, 0),
        (101, 0),
        (113, 1),
        (276, 2),
    ]


def test_interface_of_an_earlier_section_is_not_visible() -> None:
    first = shb() + idb() + idb()
    second = shb() + idb()
    bad = epb("<", 1, 1, b"x")
    packets, reader = read_all(first + second + epb("<", 0, 1, b"ok") + bad)
    assert [p.data for p in packets] == [b"ok"]
    at = len(first + second) + 32 + 4
    assert reader.truncated == Truncation(
        at, f"enhanced packet block at offset {at}: interface 1 not described (section has 1)"
    )


def test_packet_before_any_interface_is_damage() -> None:
    packets, reader = read_all(shb() + spb("<", 1, b"x"))
    assert packets == []
    assert reader.truncated is not None
    assert reader.truncated.offset == 28
    assert "no interface described" in reader.truncated.message


def _damaged(tail: bytes) -> tuple[list[CapturedPacket], Truncation, int]:
    head = shb() + idb() + epb("<", 0, 1, b"good")
    packets, reader = read_all(head + tail + epb("<", 0, 2, b"never"))
    assert reader.truncated is not None
    return packets, reader.truncated, len(head)


@pytest.mark.parametrize(
    ("tail", "words"),
    [
        (struct.pack("<II", 6, 10) + b"\0" * 8, "impossible length 10"),
        (struct.pack("<II", 6, 8) + b"\0" * 8, "impossible length 8"),
        (struct.pack("<II", 6, 0x7FFFFFF0) + b"\0" * 8, "impossible length 2147483632"),
        (struct.pack("<II", 1, 0x7FFFFFF0) + b"\0" * 8, "interface description block"),
        (struct.pack("<III", 0x77, 16, 0) + struct.pack("<I", 20), "trailing length"),
        (epb("<", 0, 3, b"abcd")[:-4] + struct.pack("<I", 4), "trailing length"),
        (block("<", 6, struct.pack("<IIIII", 0, 0, 0, 100, 100)), "captured length 100"),
        (block("<", 6, b"\0" * 8), "too short (20 bytes)"),
        (block("<", 1, b"\0" * 4), "too short (16 bytes)"),
        (block("<", 0x0A0D0D0A, b"\x01\x02\x03\x04" + b"\0" * 12), "byte-order magic"),
        (shb("<", version=(2, 0)), "unsupported version 2.0"),
    ],
)
def test_impossible_blocks_stop_at_their_offset(tail: bytes, words: str) -> None:
    packets, truncation, at = _damaged(tail)
    assert [p.data for p in packets] == [b"good"]
    assert truncation.offset == at
    assert words in truncation.message
    assert f"offset {at}" in truncation.message


def test_file_ends_inside_blocks() -> None:
    whole = shb() + idb() + epb("<", 0, 1, b"abc") + epb("<", 0, 2, b"defg")
    second = len(whole) - 36
    packets, reader = read_all(whole[: second + 5])
    assert len(packets) == 1
    assert reader.truncated == Truncation(
        second, f"file ends at offset {second + 5} inside a block header (5 of 12 bytes)"
    )
    packets, reader = read_all(whole[:-1])
    assert len(packets) == 1
    assert reader.truncated == Truncation(
        second,
        f"file ends at offset {len(whole) - 1} inside the enhanced packet block (35 of 36 bytes)",
    )


@pytest.mark.parametrize("cut", [4, 11, 12, 20, 27])
def test_cut_inside_the_first_section_header(cut: int) -> None:
    packets, reader = read_all(shb()[:cut])
    assert packets == []
    assert reader.truncated is not None
    assert reader.truncated.offset == 0


def test_bad_first_section_header_raises_parse_error() -> None:
    data = shb() + idb()
    bad_bom = data[:8] + b"\x00\x11\x22\x33" + data[12:]
    with pytest.raises(ParseError) as info:
        read_all(bad_bom)
    assert (info.value.layer, info.value.offset, info.value.field) == (
        "pcapng",
        8,
        "byte_order_magic",
    )
    with pytest.raises(ParseError) as info:
        read_all(shb(version=(2, 0)))
    assert (info.value.layer, info.value.offset, info.value.field) == ("pcapng", 12, "version")
    with pytest.raises(ParseError) as info:
        read_all(data[:4] + struct.pack("<I", 13) + data[8:])
    assert (info.value.layer, info.value.offset, info.value.field) == ("pcapng", 4, "block_length")


@pytest.mark.parametrize("chunk", [1, 5, 13, 100])
def test_tiny_chunks_give_identical_results(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    data = (
        shb("<")
        + idb("<")
        + epb("<", 0, 1, b"a" * 70)
        + spb("<", 5, b"12345")
        + shb(">")
        + idb(">", 101)
        + epb(">", 0, 2, b"b" * 3)
        + block(">", 5, b"\0" * 12)
        + opb(">", 0, 3, b"c")
    )
    expected, _ = read_all(data)
    assert len(expected) == 4
    monkeypatch.setattr(stream, "CHUNK_SIZE", chunk)
    packets, reader = read_all(data)
    assert packets == expected
    assert reader.truncated is None


# Writer ------------------------------------------------------------------------------------


def test_writer_bytes_are_exact() -> None:
    out = io.BytesIO()
    writer = PcapngWriter(out, application=None)
    assert writer.add_interface(101, nanosecond=True) == 0
    writer.write(0, 0x1_0000_0002, b"\x45\x00\x00")
    assert out.getvalue() == (
        shb("<")
        + idb("<", 101, 262144, options("<", tsresol("<", 9)))
        + epb("<", 0, 0x1_0000_0002, b"\x45\x00\x00")
    )


def test_writer_round_trip_with_interfaces() -> None:
    out = io.BytesIO()
    writer = PcapngWriter(out)
    eth = writer.add_interface(1, name="eth0")
    raw = writer.add_interface(101, name="tun0", nanosecond=True, snaplen=64)
    writer.write(eth, 1_700_000_000_123_456_789, b"e" * 60)
    writer.write(raw, 1_700_000_000_123_456_789, b"r" * 100)
    writer.write(raw, 1, b"s", original_length=40)
    packets, reader = read_all(out.getvalue())
    assert packets == [
        CapturedPacket(1_700_000_000_123_456_000, 1, b"e" * 60, 60, 0),
        CapturedPacket(1_700_000_000_123_456_789, 101, b"r" * 64, 100, 1),
        CapturedPacket(1, 101, b"s", 40, 1),
    ]
    assert [(i.name, i.ts_units_per_second) for i in reader.interfaces] == [
        ("eth0", 10**6),
        ("tun0", 10**9),
    ]


def test_writer_rejects_bad_use() -> None:
    writer = PcapngWriter(io.BytesIO())
    with pytest.raises(ValueError):
        writer.write(0, 1, b"x")  # no interface yet
    writer.add_interface(1)
    with pytest.raises(ValueError):
        writer.write(0, -5, b"x")
    with pytest.raises(ValueError):
        writer.write(0, 1, b"xyz", original_length=1)
    with pytest.raises(ValueError):
        writer.add_interface(-1)


def test_open_writer_picks_pcapng(tmp_path: Path) -> None:
    path = tmp_path / "out.pcapng"
    with open_writer(path, 1, name="sim0") as capture:
        assert capture.format == "pcapng"
        capture.write(1_000, b"frame")
    packets, reader = read_all(path.read_bytes())
    assert packets == [CapturedPacket(1_000, 1, b"frame", 5, 0)]
    assert reader.interfaces[0].name == "sim0"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 0xFFFF)), min_size=1, max_size=4),
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 2**63), st.binary(max_size=200)), max_size=20
    ),
)
def test_writer_reader_property(
    interfaces: list[tuple[bool, int]], packets: list[tuple[int, int, bytes]]
) -> None:
    out = io.BytesIO()
    writer = PcapngWriter(out)
    for nano, link_type in interfaces:
        writer.add_interface(link_type, nanosecond=nano)
    expected = []
    for ifid, ts, data in packets:
        ifid %= len(interfaces)
        writer.write(ifid, ts, data)
        nano, link_type = interfaces[ifid]
        unit = 1 if nano else 1000
        expected.append(CapturedPacket(ts // unit * unit, link_type, data, len(data), ifid))
    got, reader = read_all(out.getvalue())
    assert got == expected
    assert reader.truncated is None


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=200))
def test_fuzzed_bodies_never_raise(body: bytes) -> None:
    for prefix in (shb("<") + idb("<"), shb(">") + idb(">") + epb(">", 0, 1, b"x")):
        packets, reader = read_all(prefix + body)
        assert reader.packets_read == len(packets)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(range(6)), max_size=12), st.sampled_from(["<", ">"]))
def test_random_block_sequences_parse_fully(kinds: list[int], e: str) -> None:
    blocks = [
        epb(e, 0, 7, b"epb"),
        spb(e, 3, b"spb"),
        opb(e, 1, 9, b"opb"),
        block(e, 5, b"\0" * 8),
        idb(e, 228),
        block(e, 0x40000BAD, b"\0\0\0\0x"),
    ]
    body = b"".join(blocks[k] for k in kinds)
    packets, reader = read_all(shb(e) + idb(e) + idb(e, 101) + body)
    assert reader.truncated is None
    assert [p.data for p in packets] == [
        {0: b"epb", 1: b"spb", 2: b"opb"}[k] for k in kinds if k < 3
    ]
