"""pcap reading (both byte orders, micro/nano, modified, FCS bits), writing and damage reports."""

from __future__ import annotations

import io
import os
import struct
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synack.capture import stream
from synack.capture.packet import CapturedPacket, Truncation
from synack.capture.reader import CaptureReader, open_capture
from synack.capture.writer import PcapWriter, open_writer
from synack.wire.errors import ParseError

MICRO = 0xA1B2C3D4
NANO = 0xA1B23C4D
MODIFIED = 0xA1B2CD34


def pcap_file(
    records: list[tuple[int, int, bytes, int]],
    *,
    endian: str = "<",
    magic: int = MICRO,
    snaplen: int = 65535,
    link_field: int = 1,
    version: tuple[int, int] = (2, 4),
) -> bytes:
    """A pcap file built by hand: records are (seconds, fraction, data, original length)."""
    out = [struct.pack(endian + "IHHiIII", magic, *version, 0, 0, snaplen, link_field)]
    for sec, frac, data, orig in records:
        out.append(struct.pack(endian + "IIII", sec, frac, len(data), orig))
        if magic == MODIFIED:
            out.append(struct.pack(endian + "IHBB", 2, 0x0800, 0, 0))
        out.append(data)
    return b"".join(out)


def read_all(data: bytes) -> tuple[list[CapturedPacket], CaptureReader]:
    reader = open_capture(io.BytesIO(data))
    return list(reader), reader


RECORDS = [
    (1_700_000_000, 123_456, b"\x01" * 60, 60),
    (1_700_000_001, 999_999, b"\x02" * 1514, 1514),
    (1_700_000_002, 0, b"", 0),
    (4_294_967_295, 7, b"\x03\x04\x05", 1500),
]


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize(("magic", "scale"), [(MICRO, 1000), (NANO, 1), (MODIFIED, 1000)])
def test_byte_orders_and_resolutions(endian: str, magic: int, scale: int) -> None:
    packets, reader = read_all(pcap_file(RECORDS, endian=endian, magic=magic))
    assert packets == [
        CapturedPacket(sec * 1_000_000_000 + frac * scale, 1, data, orig, 0)
        for sec, frac, data, orig in RECORDS
    ]
    assert reader.format == "pcap"
    assert reader.byte_order == ("little" if endian == "<" else "big")
    assert reader.version == (2, 4)
    assert reader.link_type == 1
    assert reader.snaplen == 65535
    assert reader.interfaces[0].ts_units_per_second == 10**9 // scale
    assert reader.truncated is None
    assert reader.packets_read == 4


def test_big_endian_header_bytes_are_read_in_network_order() -> None:
    data = bytes.fromhex(
        "a1b23c4d 0002 0004 00000000 00000000 0000ffff 00000065"
        "65d4a2c0 075bcd15 00000002 00000028 abcd"
    )
    packets, reader = read_all(data)
    assert reader.link_type == 101
    assert packets == [CapturedPacket(0x65D4A2C0 * 10**9 + 123_456_789, 101, b"\xab\xcd", 40)]


def test_fcs_bits_in_link_type_are_masked_off() -> None:
    field = (2 << 28) | 0x04000000 | 1  # FCS present, 2 x 16 bits, Ethernet
    packets, reader = read_all(pcap_file(RECORDS[:1], link_field=field))
    assert reader.link_type == 1
    assert packets[0].link_type == 1
    assert reader.interfaces[0].fcs_length == 4
    _, plain = read_all(pcap_file(RECORDS[:1], link_field=(3 << 28) | 105))
    assert plain.link_type == 105
    assert plain.interfaces[0].fcs_length is None  # length bits without the P bit mean nothing


def test_caplen_above_snaplen_but_sane_is_kept() -> None:
    packets, reader = read_all(pcap_file([(1, 2, b"x" * 200, 200)], snaplen=64))
    assert packets[0].data == b"x" * 200
    assert reader.truncated is None


def test_impossible_caplen_stops_with_offset() -> None:
    good = pcap_file(RECORDS[:2])
    bad = struct.pack("<IIII", 5, 0, 0x7FFF_FFFF, 0x7FFF_FFFF) + b"x" * 100
    packets, reader = read_all(good + bad + struct.pack("<IIII", 6, 0, 1, 1) + b"z")
    assert [p.data for p in packets] == [RECORDS[0][2], RECORDS[1][2]]
    assert reader.truncated is not None
    assert reader.truncated.offset == len(good)
    assert "captured length 2147483647" in reader.truncated.message


def test_caplen_limit_follows_a_large_snaplen() -> None:
    big = b"y" * 300_000
    packets, _ = read_all(pcap_file([(1, 0, big, len(big))], snaplen=400_000))
    assert packets[0].data == big
    _, small = read_all(pcap_file([(1, 0, big, len(big))], snaplen=65535))
    assert small.truncated == Truncation(
        24,
        "packet record at offset 24: captured length 300000 is impossible"
        " (snaplen 65535, maximum 262144)",
    )


@pytest.mark.parametrize(
    ("data", "hint"),
    [
        (b"", "empty file"),
        (b"\xd4\xc3", "0xd4c3"),
        (b"hello, this is not a capture file at all", "0x68656c6c"),
        (b"\x1f\x8b\x08\x00" + b"\0" * 40, "gzip"),
        (b"\x00" * 100, "0x00000000"),
    ],
)
def test_not_a_capture_raises_parse_error(data: bytes, hint: str) -> None:
    with pytest.raises(ParseError) as info:
        open_capture(io.BytesIO(data))
    err = info.value
    assert (err.layer, err.offset, err.field) == ("pcap", 0, "magic")
    assert hint in err.message


def test_unsupported_version_raises_parse_error() -> None:
    with pytest.raises(ParseError) as info:
        read_all(pcap_file(RECORDS, version=(3, 0)))
    assert (info.value.layer, info.value.offset, info.value.field) == ("pcap", 4, "version")


def test_cut_file_header_is_a_truncation_at_zero() -> None:
    packets, reader = read_all(pcap_file([])[:10])
    assert packets == []
    assert reader.truncated == Truncation(
        0, "file ends at offset 10 inside the pcap file header (10 of 24 bytes)"
    )
    assert reader.link_type is None


def test_cut_record_header_and_data_messages() -> None:
    whole = pcap_file(RECORDS[:2])
    first_end = 24 + 16 + 60
    packets, reader = read_all(whole[: first_end + 5])
    assert len(packets) == 1
    assert reader.truncated == Truncation(
        first_end,
        f"file ends at offset {first_end + 5} inside the packet record header (5 of 16 bytes)",
    )
    packets, reader = read_all(whole[: first_end + 16 + 100])
    assert len(packets) == 1
    assert reader.truncated == Truncation(
        first_end,
        f"file ends at offset {first_end + 116} inside packet data (100 of 1514 captured bytes)",
    )


@pytest.mark.parametrize("chunk", [1, 3, 17, 64, 1600])
def test_tiny_chunks_give_identical_results(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    data = pcap_file(RECORDS * 5, magic=NANO, endian=">")
    expected, _ = read_all(data)
    monkeypatch.setattr(stream, "CHUNK_SIZE", chunk)
    packets, reader = read_all(data)
    assert packets == expected
    assert reader.truncated is None
    packets, reader = read_all(data[:-1])
    assert packets == expected[:-1]
    assert reader.truncated is not None
    assert reader.truncated.offset == len(data) - 16 - 3


class Trickle(io.RawIOBase):
    """A pipe-like file: every read returns at most a few bytes."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = data
        self._pos = 0
        self._step = step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self._step, len(self._data) - self._pos)
        buffer[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


def test_short_reads_from_a_pipe() -> None:
    data = pcap_file(RECORDS * 3)
    expected, _ = read_all(data)
    reader = CaptureReader(Trickle(data, 7))  # type: ignore[arg-type]
    assert list(reader) == expected
    assert reader.truncated is None


def test_packets_read_counts_live_in_both_iterations() -> None:
    reader = open_capture(io.BytesIO(pcap_file(RECORDS)))
    assert reader.packets_read == 0
    next(reader)
    next(reader)
    assert reader.packets_read == 2
    records = reader.iter_records()
    assert next(records) == (1_700_000_002_000_000_000, 1, b"", 0, 0)
    assert reader.packets_read == 3
    assert len(list(reader)) == 1
    assert reader.packets_read == 4


def test_iter_records_yields_the_packet_fields_as_tuples() -> None:
    reader = open_capture(io.BytesIO(pcap_file(RECORDS, magic=NANO)))
    assert list(reader.iter_records()) == [
        (sec * 10**9 + frac, 1, data, orig, 0) for sec, frac, data, orig in RECORDS
    ]


def test_path_reader_closes_its_file(tmp_path: Path) -> None:
    path = tmp_path / "a.pcap"
    path.write_bytes(pcap_file(RECORDS))
    with open_capture(path) as reader:
        assert len(list(reader)) == 4
    assert reader._file.closed
    with open_capture(str(path)) as reader:
        assert reader.packets_read == 0


def test_garbage_path_closes_file(tmp_path: Path) -> None:
    path = tmp_path / "junk.pcap"
    path.write_bytes(b"junk" * 10)
    with pytest.raises(ParseError):
        open_capture(path)


# Writer ------------------------------------------------------------------------------------


def test_writer_bytes_are_exact() -> None:
    out = io.BytesIO()
    writer = PcapWriter(out, 101)
    writer.write(1_700_000_000_123_456_789, b"\x45\x00")
    assert out.getvalue() == (
        struct.pack("<IHHiIII", MICRO, 2, 4, 0, 0, 262144, 101)
        + struct.pack("<IIII", 1_700_000_000, 123_456, 2, 2)
        + b"\x45\x00"
    )


@pytest.mark.parametrize("nanosecond", [False, True])
def test_writer_round_trip(nanosecond: bool) -> None:
    out = io.BytesIO()
    writer = PcapWriter(out, 1, nanosecond=nanosecond, snaplen=100)
    writer.write(1_600_000_000_987_654_321, b"a" * 50)
    writer.write(5, b"b" * 150)  # cut to the snaplen, original length kept
    writer.write(7_000, b"c", original_length=1500)
    packets, reader = read_all(out.getvalue())
    first_ts = 1_600_000_000_987_654_321 if nanosecond else 1_600_000_000_987_654_000
    assert packets == [
        CapturedPacket(first_ts, 1, b"a" * 50, 50),
        CapturedPacket(5 if nanosecond else 0, 1, b"b" * 100, 150),
        CapturedPacket(7_000, 1, b"c", 1500),
    ]
    assert reader.snaplen == 100


def test_writer_rejects_unrepresentable_values() -> None:
    writer = PcapWriter(io.BytesIO(), 1)
    with pytest.raises(ValueError):
        writer.write(-1, b"x")
    with pytest.raises(ValueError):
        writer.write(2**32 * 10**9, b"x")
    with pytest.raises(ValueError):
        writer.write(0, b"xyz", original_length=2)
    with pytest.raises(ValueError):
        PcapWriter(io.BytesIO(), 70000)


def test_open_writer_picks_pcap(tmp_path: Path) -> None:
    path = tmp_path / "out.cap"
    with open_writer(path, 101, nanosecond=True) as capture:
        assert capture.format == "pcap"
        capture.write(42, b"\x60" + b"\0" * 39)
    packets, reader = read_all(path.read_bytes())
    assert packets == [CapturedPacket(42, 101, b"\x60" + b"\0" * 39, 40)]
    assert reader.format == "pcap"


timestamps = st.integers(0, 2**32 * 10**9 - 1)
payloads = st.binary(max_size=300)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(timestamps, payloads), max_size=20),
    st.booleans(),
    st.integers(0, 0xFFFF),
)
def test_writer_reader_property(
    packets: list[tuple[int, bytes]], nanosecond: bool, link_type: int
) -> None:
    out = io.BytesIO()
    writer = PcapWriter(out, link_type, nanosecond=nanosecond)
    for ts, data in packets:
        writer.write(ts, data)
    got, reader = read_all(out.getvalue())
    unit = 1 if nanosecond else 1000
    assert got == [CapturedPacket(ts // unit * unit, link_type, d, len(d)) for ts, d in packets]
    assert reader.truncated is None


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=4, max_size=200))
def test_fuzzed_bodies_never_raise(body: bytes) -> None:
    for prefix in (pcap_file([]), pcap_file([], endian=">", magic=NANO)):
        packets, reader = read_all(prefix + body)
        assert reader.packets_read == len(packets)


class CountingFile(io.BytesIO):
    """Remembers the size of every read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.reads.append(len(data))
        return data

    def read1(self, size: int | None = -1) -> bytes:
        return self.read(size)


def test_reader_streams_in_chunks() -> None:
    frame = b"f" * 1000
    data = pcap_file([(i, 0, frame, 1000) for i in range(5000)])  # ~5 MB
    file = CountingFile(data)
    reader = CaptureReader(file)
    first = next(reader)
    assert first.timestamp_ns == 0
    assert file.reads == [stream.CHUNK_SIZE]  # nothing more than the first chunk so far
    assert sum(1 for _ in reader) == 4999
    assert max(file.reads) <= stream.CHUNK_SIZE
    assert sum(file.reads) == len(data)
    assert len(file.reads) >= len(data) // stream.CHUNK_SIZE


def test_record_larger_than_a_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "CHUNK_SIZE", 4096)
    big = bytes(range(256)) * 400  # 102,400 bytes: many chunks
    packets, reader = read_all(pcap_file([(1, 0, b"a", 1), (2, 0, big, len(big)), (3, 0, b"", 0)]))
    assert [p.data for p in packets] == [b"a", big, b""]
    assert reader.truncated is None


def test_live_pipe_yields_packets_before_the_writer_closes() -> None:
    read_fd, write_fd = os.pipe()
    got: list[CapturedPacket] = []
    two_read = threading.Event()

    def consume() -> None:
        with open(read_fd, "rb") as pipe:
            for packet in CaptureReader(pipe):
                got.append(packet)
                if len(got) == 2:
                    two_read.set()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    os.write(write_fd, pcap_file(RECORDS[:2]))
    try:
        assert two_read.wait(30), "the reader waited for more than the packets available"
    finally:
        os.write(write_fd, struct.pack("<IIII", 9, 0, 1, 1) + b"z")
        os.close(write_fd)
        thread.join(30)
    assert [p.data for p in got] == [RECORDS[0][2], RECORDS[1][2], b"z"]
