"""Flow shares from frame bytes, and the pcap reader that passes over other shares' frames."""

from __future__ import annotations

import io
import random
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synack.capture import stream
from synack.capture.packet import Record
from synack.capture.reader import open_capture
from synack.capture.share import (
    ShareSkip,
    flow_share,
    frame_share,
    share_table,
    swapped_share_table,
)
from synack.capture.writer import open_writer
from synack.wire.fastpath import decode_tcp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import synth

MICRO = 0xA1B2C3D4
NANO = 0xA1B23C4D
MODIFIED = 0xA1B2CD34


def _frame(rng: random.Random, kind: str) -> bytes:
    """An Ethernet frame: TCP over IPv4/IPv6, or one of the shapes that are not common frames."""
    sport, dport = rng.randrange(65536), rng.randrange(65536)
    tcp = struct.pack("!HHIIHHHH", sport, dport, rng.randrange(1 << 32), 0, 0x5010, 512, 0, 0)
    if kind in ("v4", "udp4", "v4opt", "cut4"):
        src, dst = rng.randbytes(4), rng.randbytes(4)
        proto = 17 if kind == "udp4" else 6
        opts = b"\x01\x01\x01\x00" if kind == "v4opt" else b""
        ip = struct.pack("!BBHHHBBH4s4s", 0x45 + len(opts) // 4, 0, 20 + len(opts) + 20, 0,
                         0x4000, 64, proto, 0, src, dst) + opts
        frame = b"\x02" * 12 + b"\x08\x00" + ip + tcp
        return frame[:rng.randrange(14, 54)] if kind == "cut4" else frame
    if kind in ("v6", "v6ext", "cut6"):
        src, dst = rng.randbytes(16), rng.randbytes(16)
        nh = 0 if kind == "v6ext" else 6
        ip = struct.pack("!IHBB16s16s", 0x60000000, 20, nh, 64, src, dst)
        frame = b"\x02" * 12 + b"\x86\xdd" + ip + tcp
        return frame[:rng.randrange(38, 58)] if kind == "cut6" else frame
    if kind == "vlan":
        return b"\x02" * 12 + b"\x81\x00\x00\x05" + _frame(rng, "v4")[12:]
    return b"\x02" * 12 + b"\x08\x06" + rng.randbytes(28)  # ARP


KINDS = ["v4", "v4", "v4", "v6", "v6", "udp4", "v4opt", "cut4", "v6ext", "cut6", "vlan", "arp"]


def test_frame_share_is_the_flow_share_of_the_decoded_segment() -> None:
    rng = random.Random(1)
    seen = set()
    for _ in range(3000):
        kind = rng.choice(KINDS)
        data = _frame(rng, kind)
        for shares in (2, 3, 5):
            got = frame_share(1, data, shares)
            if kind in ("v4", "udp4", "cut4", "v6"):
                if kind == "cut4" and len(data) < 38:
                    assert got == -1
                    continue
                # The hash's bytes: addresses' last bytes and the ports' place.
                if kind == "v6":
                    t = decode_tcp(1, data)
                    assert t is not None
                    assert got == flow_share(t[1], t[2], t[3], t[4], shares)
                else:
                    a, b, p, q = data[29], data[33], *struct.unpack_from("!HH", data, 34)
                    assert got == share_table(shares)[p ^ q ^ a ^ b]
                seen.add(kind)
            else:
                assert got == -1, kind
    assert frame_share(113, _frame(rng, "v4"), 2) == -1  # not Ethernet
    assert seen == {"v4", "udp4", "cut4", "v6"}


def test_swapped_table_is_indexed_by_the_byte_swapped_hash() -> None:
    for shares in (2, 3, 7):
        table, swapped = share_table(shares), swapped_share_table(shares)
        assert all(swapped[h] == table[(h & 0xFF) << 8 | h >> 8] for h in range(1 << 16))


def pcap_bytes(records: list[tuple[int, bytes]], *, endian: str = "<", magic: int = MICRO,
               link_type: int = 1) -> bytes:
    """A pcap file of (timestamp in ns, frame) records in any byte order and format."""
    out = [struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, link_type)]
    per_second = 10**9 if magic == NANO else 10**6
    for ts, data in records:
        sec, frac = divmod(ts * per_second // 10**9, per_second)
        out.append(struct.pack(endian + "IIII", sec, frac, len(data), len(data) + 4))
        if magic == MODIFIED:
            out.append(struct.pack(endian + "IHBB", 2, 0x0800, 0, 0))
        out.append(data)
    return b"".join(out)


def expected_records(
    data: bytes, shares: int, mine: int, until: int,
) -> tuple[list[tuple[int, int, tuple[int, int, bytes, int, int]]], int]:
    """What a skipping reader must yield: (number, owner, record), and the record count."""
    out = []
    n = 0
    for rec in open_capture(io.BytesIO(data)).iter_records():
        n += 1
        owner = frame_share(rec[1], rec[2], shares)
        if owner >= 0 and owner != mine and rec[0] < until:
            continue
        out.append((n, owner, rec))
    return out, n


def skipped_records(
    data: bytes, skip: ShareSkip,
) -> list[tuple[int, int, tuple[int, int, bytes, int, int]]]:
    records = open_capture(io.BytesIO(data)).iter_records_skipping(skip)
    assert records is not None
    return [(skip.number, skip.owner, rec) for rec in records]


def numbered(records: Iterator[Record], skip: ShareSkip) -> list[tuple[int, Record]]:
    """Each record yielded with the number the reader gave it."""
    return [(skip.number, rec) for rec in records]


def _capture(seed: int, count: int = 400) -> list[tuple[int, bytes]]:
    rng = random.Random(seed)
    ts = 1_700_000_000 * 10**9
    out = []
    for _ in range(count):
        ts += rng.randrange(0, 3 * 10**8)
        out.append((ts // 1000 * 1000, _frame(rng, rng.choice(KINDS))))
    return out


@pytest.mark.parametrize(("endian", "magic"), [
    ("<", MICRO), (">", MICRO), ("<", NANO), (">", NANO), ("<", MODIFIED), (">", MODIFIED),
])
@pytest.mark.parametrize("shares", [2, 3])
def test_skipping_reader_yields_exactly_the_records_it_may_not_skip(
    endian: str, magic: int, shares: int,
) -> None:
    records = _capture(5)
    data = pcap_bytes(records, endian=endian, magic=magic)
    middle = records[len(records) // 2][0]
    for mine in range(shares):
        for until in (0, middle, middle + 1, 1 << 62):
            skip = ShareSkip(shares, mine, until_ns=until)
            want, total = expected_records(data, shares, mine, until)
            assert skipped_records(data, skip) == want
            assert skip.number == total


def test_a_moved_deadline_applies_from_the_next_record() -> None:
    records = _capture(9, 600)
    data = pcap_bytes(records)
    plain = list(open_capture(io.BytesIO(data)).iter_records())
    skip = ShareSkip(2, 0)
    reader = open_capture(io.BytesIO(data)).iter_records_skipping(skip)
    assert reader is not None
    got = []
    for rec in reader:
        got.append(skip.number)
        assert rec == plain[skip.number - 1]
        skip.until_ns = rec[0] + 5 * 10**8  # a consumer's next sweep, half a second on
    want = []
    until = 0
    for number, rec in enumerate(plain, 1):
        owner = frame_share(1, rec[2], 2)
        if owner > 0 and rec[0] < until:
            continue
        want.append(number)
        until = rec[0] + 5 * 10**8
    assert got == want
    assert len(want) < len(plain)  # some were passed over


def assert_reads_as_plain(data: bytes, mine: int) -> None:
    """Every record the skipping reader yields is the plain reader's record of that number,
    the count is the plain reader's, and so is the damage report."""
    plain = open_capture(io.BytesIO(data))
    want = list(plain.iter_records())
    skip = ShareSkip(2, mine, until_ns=1 << 62)
    reader = open_capture(io.BytesIO(data))
    records = reader.iter_records_skipping(skip)
    assert records is not None
    got = numbered(records, skip)
    assert all(want[number - 1] == rec for number, rec in got)
    assert skip.number == len(want)
    assert reader.truncated == plain.truncated


@pytest.mark.parametrize("chunk", [1, 23, 64, 300])
def test_small_chunks_and_a_cut_file_read_as_without_skipping(
    monkeypatch: pytest.MonkeyPatch, chunk: int,
) -> None:
    data = pcap_bytes(_capture(3, 120))
    monkeypatch.setattr(stream, "CHUNK_SIZE", chunk)
    for cut in (len(data), len(data) - 1, len(data) - 40):
        assert_reads_as_plain(data[:cut], 1)


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=0, max_size=400))
def test_fuzzed_bodies_skip_as_the_plain_reader_reads(body: bytes) -> None:
    assert_reads_as_plain(pcap_bytes([]) + body, 0)


def test_only_an_unread_ethernet_capture_skips(tmp_path: Path) -> None:
    path = tmp_path / "synthetic.pcap"
    synth.generate(path, packets=200, seed=3)
    reader = open_capture(path)
    next(reader.iter_records())
    assert reader.iter_records_skipping(ShareSkip(2, 0)) is None  # already reading
    assert open_capture(path).iter_records_skipping(ShareSkip(2, 0)) is not None
    raw = pcap_bytes(_capture(1, 10), link_type=101)
    assert open_capture(io.BytesIO(raw)).iter_records_skipping(ShareSkip(2, 0)) is None
    ng = tmp_path / "x.pcapng"
    with open_writer(ng, 1) as out:
        out.write(0, _frame(random.Random(2), "v4"))
    assert open_capture(ng).iter_records_skipping(ShareSkip(2, 0)) is not None  # pcapng too


def test_synthetic_capture_shares_partition_its_common_frames(tmp_path: Path) -> None:
    path = tmp_path / "synthetic.pcap"
    synth.generate(path, packets=3000, seed=11)
    plain = list(open_capture(path).iter_records())
    numbers: list[int] = []
    for mine in range(3):
        skip = ShareSkip(3, mine, until_ns=1 << 62)
        records = open_capture(path).iter_records_skipping(skip)
        assert records is not None
        for rec in records:
            assert skip.owner == mine
            numbers.append(skip.number)
            assert rec == plain[skip.number - 1]
    assert sorted(numbers) == list(range(1, len(plain) + 1))
