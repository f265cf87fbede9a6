"""The pcapng reader that passes over other shares' frames: record by record as the plain reader."""

from __future__ import annotations

import io
import random
import struct
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from synack.analyze.engine import CaptureStats, run
from synack.analyze.summary import ConnectionRecord, make_record
from synack.analyze.tracker import Tracker
from synack.capture import stream
from synack.capture.packet import Record, Truncation
from synack.capture.reader import open_capture
from synack.capture.share import ShareSkip, frame_share
from synack.capture.writer import PcapngWriter
from synack.cli.analyze import EXIT_OK, EXIT_TRUNCATED, command

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import synth
from test_capture_share import expected_records

ETHERNET = 1
RAW = 101
LINUX_SLL = 113
SECOND = 10**9
START = 1_700_000_000 * SECOND

# Blocks (draft-ietf-opsawg-pcapng) in either byte order.


def block(e: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) & 3)
    size = 12 + len(body)
    return struct.pack(e + "II", btype, size) + body + struct.pack(e + "I", size)


def option(e: str, code: int, value: bytes) -> bytes:
    return struct.pack(e + "HH", code, len(value)) + value + b"\0" * (-len(value) & 3)


def shb(e: str) -> bytes:
    return block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))


class Interface:
    """An IDB: link type, snaplen, if_tsresol (units per second) and if_tsoffset (seconds)."""

    def __init__(self, link_type: int, units: int = 10**6, resol: int | None = None,
                 offset_s: int = 0, snaplen: int = 65535) -> None:
        self.link_type, self.units, self.offset_s, self.snaplen = (
            link_type, units, offset_s, snaplen)
        self.resol = resol

    def idb(self, e: str) -> bytes:
        opts = b""
        if self.resol is not None:
            opts += option(e, 9, bytes([self.resol]))
        if self.offset_s:
            opts += option(e, 14, struct.pack(e + "q", self.offset_s))
        if opts:
            opts += option(e, 0, b"")
        return block(e, 1, struct.pack(e + "HHI", self.link_type, 0, self.snaplen) + opts)

    def ticks(self, ts_ns: int) -> int:
        return (ts_ns - self.offset_s * SECOND) * self.units // SECOND


MICRO = Interface(ETHERNET)
NANO = Interface(ETHERNET, 10**9, 9)
BINARY = Interface(ETHERNET, 2**20, 0x80 | 20, offset_s=-1000)  # 2**-20 s, 1000 s offset
CENTI = Interface(ETHERNET, 100, 2, offset_s=7)
RAW_NANO = Interface(RAW, 10**9, 9)
SLL = Interface(LINUX_SLL)


def epb(e: str, ifid: int, ticks: int, data: bytes, orig: int | None = None) -> bytes:
    orig = len(data) + 4 if orig is None else orig
    head = struct.pack(e + "IIIII", ifid, ticks >> 32, ticks & 0xFFFFFFFF, len(data), orig)
    return block(e, 6, head + data)


def spb(e: str, orig: int, data: bytes) -> bytes:
    return block(e, 3, struct.pack(e + "I", orig) + data)


def opb(e: str, ifid: int, ticks: int, data: bytes) -> bytes:
    head = struct.pack(e + "HHIIII", ifid, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data),
                       len(data))
    return block(e, 2, head + data)


def isb(e: str, ifid: int) -> bytes:
    return block(e, 5, struct.pack(e + "III", ifid, 0, 0))


# Frames: the common ones (Ethernet + IPv4 without options or IPv6 + TCP) and look-alikes.


def frame(rng: random.Random, kind: str) -> bytes:
    sport, dport = rng.randrange(65536), rng.randrange(65536)
    tcp = struct.pack("!HHIIHHHH", sport, dport, rng.randrange(1 << 32), 0, 0x5010, 512, 0, 0)
    tcp += rng.randbytes(rng.choice((0, 0, 1, 3, 100)))
    if kind in ("v4", "udp4", "v4opt", "cut4"):
        opts = b"\x01\x01\x01\x00" if kind == "v4opt" else b""
        ip = struct.pack("!BBHHHBBH4s4s", 0x45 + len(opts) // 4, 0, 20 + len(opts) + len(tcp),
                         0, 0x4000, 64, 17 if kind == "udp4" else 6, 0, rng.randbytes(4),
                         rng.randbytes(4)) + opts
        data = b"\x02" * 12 + b"\x08\x00" + ip + tcp
        return data[: rng.randrange(14, 54)] if kind == "cut4" else data
    if kind in ("v6", "v6ext", "cut6"):
        ip = struct.pack("!IHBB16s16s", 0x60000000, len(tcp), 0 if kind == "v6ext" else 6, 64,
                         rng.randbytes(16), rng.randbytes(16))
        data = b"\x02" * 12 + b"\x86\xdd" + ip + tcp
        return data[: rng.randrange(38, 62)] if kind == "cut6" else data
    if kind == "vlan":
        return b"\x02" * 12 + b"\x81\x00\x00\x05" + frame(rng, "v4")[12:]
    return b"\x02" * 12 + b"\x08\x06" + rng.randbytes(rng.choice((0, 5, 28)))  # ARP, runts


KINDS = ["v4", "v4", "v4", "v4", "v6", "v6", "v6", "udp4", "v4opt", "cut4", "v6ext", "cut6",
         "vlan", "arp"]


def ethernet_file(seed: int, count: int, e: str = "<", iface: Interface = MICRO) -> bytes:
    """One section, one Ethernet interface, EPBs only."""
    rng = random.Random(seed)
    out = [shb(e), iface.idb(e)]
    ts = START
    for _ in range(count):
        ts += rng.randrange(0, 3 * 10**8)
        out.append(epb(e, 0, iface.ticks(ts), frame(rng, rng.choice(KINDS))))
    return b"".join(out)


def mixed_file(seed: int, count: int, first: str = "<") -> bytes:
    """Three sections in alternating byte orders; Ethernet interfaces of several resolutions and
    offsets and ones of other link types (their frames still Ethernet bytes); EPBs, SPBs, OPBs
    and statistics blocks; an interface described in the middle of a section."""
    rng = random.Random(seed)
    other = ">" if first == "<" else "<"
    sections = [
        (first, [Interface(ETHERNET, snaplen=30), RAW_NANO, BINARY], [NANO]),
        (other, [NANO, MICRO, SLL], [CENTI]),
        (first, [SLL, CENTI], [BINARY]),
    ]
    out = []
    ts = START
    for e, ifaces, later in sections:
        out += [shb(e), *(i.idb(e) for i in ifaces)]
        ifaces = list(ifaces)
        for k in range(count):
            if k == count // 2:
                out += [i.idb(e) for i in later]
                ifaces += later
            ts += rng.randrange(0, 2 * 10**8)
            data = frame(rng, rng.choice(KINDS))
            pick = rng.random()
            if pick < 0.1:  # (its bytes beyond the snaplen are not the packet's)
                out.append(spb(e, len(data), data if rng.random() < 0.5 else
                               data[: ifaces[0].snaplen]))
            elif pick < 0.15:
                ifid = rng.randrange(len(ifaces))
                out.append(opb(e, ifid, ifaces[ifid].ticks(ts), data))
            elif pick < 0.18:
                out.append(isb(e, 0))
            else:
                ifid = rng.randrange(len(ifaces))
                out.append(epb(e, ifid, ifaces[ifid].ticks(ts), data))
    return b"".join(out)


def skipping(data: bytes, skip: ShareSkip) -> Iterator[Record]:
    records = open_capture(io.BytesIO(data)).iter_records_skipping(skip)
    assert records is not None
    return records


def assert_skips_as_contracted(data: bytes, shares: int, until: int) -> None:
    for mine in range(shares):
        skip = ShareSkip(shares, mine, until_ns=until)
        want, total = expected_records(data, shares, mine, until)
        assert [(skip.number, skip.owner, rec) for rec in skipping(data, skip)] == want
        assert skip.number == total


@pytest.mark.parametrize("e", ["<", ">"])
@pytest.mark.parametrize("shares", [2, 3])
@pytest.mark.parametrize("iface", [MICRO, NANO, BINARY, CENTI], ids=["us", "ns", "2^-20", "cs"])
def test_ethernet_file_yields_exactly_the_records_it_may_not_skip(
    e: str, shares: int, iface: Interface,
) -> None:
    data = ethernet_file(5, 300, e, iface)
    plain = list(open_capture(io.BytesIO(data)).iter_records())
    middle = plain[len(plain) // 2][0]
    for until in (0, middle - 1, middle, middle + 1, 1 << 62):
        assert_skips_as_contracted(data, shares, until)


@pytest.mark.parametrize("first", ["<", ">"])
@pytest.mark.parametrize("shares", [2, 3])
def test_mixed_file_yields_exactly_the_records_it_may_not_skip(first: str, shares: int) -> None:
    data = mixed_file(8, 150, first)
    plain = list(open_capture(io.BytesIO(data)).iter_records())
    kinds = {rec[1] for rec in plain}
    assert kinds == {ETHERNET, RAW, LINUX_SLL}
    assert sum(1 for rec in plain if rec[0] == 0) > 20  # SPBs
    # Deadlines at and around timestamps of every interface (resolutions floor them).
    rng = random.Random(1)
    untils = {0, 1, 1 << 62}
    for rec in rng.sample(plain, 12):
        untils |= {rec[0] - 1, rec[0], rec[0] + 1}
    for until in sorted(untils):
        assert_skips_as_contracted(data, shares, until)


def test_other_link_types_are_never_passed_over() -> None:
    """Ethernet bytes on RAW and LINUX_SLL interfaces (and an SPB of a LINUX_SLL interface 0)
    are yielded with owner -1 whatever the deadline."""
    data = mixed_file(3, 120)
    skip = ShareSkip(2, 0, until_ns=1 << 62)
    got = [(skip.owner, rec) for rec in skipping(data, skip)]
    others = [rec for rec in open_capture(io.BytesIO(data)).iter_records() if rec[1] != ETHERNET]
    assert [rec for _owner, rec in got if rec[1] != ETHERNET] == others
    assert {owner for owner, rec in got if rec[1] != ETHERNET} == {-1}
    assert any(frame_share(ETHERNET, rec[2], 2) == 1 for rec in others)


@pytest.mark.parametrize("make", [
    lambda: ethernet_file(9, 600, ">", BINARY), lambda: mixed_file(9, 200, "<"),
], ids=["ethernet", "mixed"])
def test_a_moved_deadline_applies_from_the_next_record(make: Callable[[], bytes]) -> None:
    data = make()
    plain = list(open_capture(io.BytesIO(data)).iter_records())
    for shares in (2, 3):
        skip = ShareSkip(shares, 1)
        got = []
        for rec in skipping(data, skip):
            got.append(skip.number)
            assert rec == plain[skip.number - 1]
            skip.until_ns = max(rec[0], START) + 5 * 10**8  # a consumer's next sweep
        want = []
        until = 0
        for number, rec in enumerate(plain, 1):
            owner = frame_share(rec[1], rec[2], shares)
            if owner >= 0 and owner != 1 and rec[0] < until:
                continue
            want.append(number)
            until = max(rec[0], START) + 5 * 10**8
        assert got == want
        assert skip.number == len(plain)
        assert len(want) < len(plain) - 50  # others' frames were passed over


def reads_as_plain(data: bytes, mine: int, until: int) -> Truncation | None:
    """Every record the skipping reader yields is the plain reader's record of that number, its
    count is the plain reader's, and so is the damage report (returned)."""
    plain = open_capture(io.BytesIO(data))
    want = list(plain.iter_records())
    skip = ShareSkip(2, mine, until_ns=until)
    reader = open_capture(io.BytesIO(data))
    records = reader.iter_records_skipping(skip)
    assert records is not None
    for rec in records:
        assert want[skip.number - 1] == rec
        assert skip.owner == frame_share(rec[1], rec[2], 2)
    assert skip.number == len(want) == reader.packets_read
    assert reader.truncated == plain.truncated
    assert reader.interfaces == plain.interfaces
    return plain.truncated


@pytest.mark.parametrize("chunk", [1, 23, 64, 300, 4096])
def test_small_chunks_and_cut_files_read_as_without_skipping(
    monkeypatch: pytest.MonkeyPatch, chunk: int,
) -> None:
    data = mixed_file(4, 40)
    monkeypatch.setattr(stream, "CHUNK_SIZE", chunk)
    middle = START + 10 * SECOND
    reports = set()
    for cut in range(len(data), len(data) - 600, -3 if chunk == 4096 else -29):
        for mine, until in ((0, 1 << 62), (1, middle)):
            report = reads_as_plain(data[:cut], mine, until)
            reports.add(report.message.split(" inside ")[-1][:9] if report else None)
    assert reports >= {None, "a block h", "the enhan"}


def test_damaged_blocks_read_as_without_skipping() -> None:
    """Single corrupted bytes and words across a file: wrong lengths, trailers, interface
    numbers, byte-order magics, block types."""
    data = mixed_file(6, 30, ">")
    rng = random.Random(6)
    messages = set()
    for _ in range(400):
        damaged = bytearray(data)
        at = rng.randrange(28, len(data))  # past the first section header
        if rng.random() < 0.7:
            at &= ~3
        if rng.random() < 0.5:
            damaged[at] ^= 1 << rng.randrange(8)
        else:
            damaged[at : at + 4] = rng.choice((b"\0\0\0\0", b"\xff\xff\xff\xff",
                                              struct.pack(">I", rng.randrange(64) * 4)))
        report = reads_as_plain(bytes(damaged), rng.randrange(2), rng.choice((0, 1 << 62)))
        if report is not None:
            messages.add(report.message.split(":")[-1].split(" at offset")[0][:18])
    assert len(messages) >= 4  # several kinds of damage were met


@settings(max_examples=80, deadline=None)
@given(st.binary(min_size=0, max_size=400), st.sampled_from(["<", ">"]))
def test_fuzzed_bodies_read_as_without_skipping(body: bytes, e: str) -> None:
    reads_as_plain(shb(e) + MICRO.idb(e) + NANO.idb(e) + body, 0, 1 << 62)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 255)), max_size=6),
       st.integers(0, 2**40))
def test_fuzzed_bytes_of_a_file_read_as_without_skipping(
    changes: list[tuple[int, int]], where: int,
) -> None:
    data = bytearray(ethernet_file(2, 12, "<"))
    for i, (shift, value) in enumerate(changes):  # past the section header
        data[28 + (where >> (6 * i)) % (len(data) - 32) + shift] = value
    reads_as_plain(bytes(data), 1, START + 2 * SECOND)


def test_only_an_unread_capture_skips(tmp_path: Path) -> None:
    data = mixed_file(1, 10)
    reader = open_capture(io.BytesIO(data))
    next(reader.iter_records())
    assert reader.iter_records_skipping(ShareSkip(2, 0)) is None  # already reading
    fresh = open_capture(io.BytesIO(data))
    assert fresh.iter_records_skipping(ShareSkip(2, 0)) is not None
    cut = open_capture(io.BytesIO(data[:10]))
    assert cut.iter_records_skipping(ShareSkip(2, 0)) is None  # no section to read


# The analysis: a worker reading through the skipping reader sees what it sees without it.


def pcapng_of(pcap: Path, path: Path, e: str) -> None:
    """The packets of an Ethernet pcap as a pcapng file: alternately on a microsecond and a
    nanosecond interface (and written in byte order `e`)."""
    ifaces = [MICRO, NANO]
    with path.open("wb") as out:
        if e == "<":
            writer = PcapngWriter(out)
            for i in ifaces:
                writer.add_interface(ETHERNET, nanosecond=i is NANO)
            for k, rec in enumerate(open_capture(pcap).iter_records()):
                writer.write(k & 1, rec[0], rec[2], rec[3])
            return
        out.write(shb(e) + b"".join(i.idb(e) for i in ifaces))
        for k, rec in enumerate(open_capture(pcap).iter_records()):
            out.write(epb(e, k & 1, ifaces[k & 1].ticks(rec[0]), rec[2], rec[3]))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("synth")
    pcap = folder / "synthetic.pcap"
    synth.generate(pcap, packets=8_000, seed=5)
    paths = {"pcap": pcap}
    for e, name in (("<", "little"), (">", "big")):
        paths[name] = folder / f"{name}.pcapng"
        pcapng_of(pcap, paths[name], e)
    return paths


def analyze_share(
    path: Path, mine: int, shares: int, skipping: bool,
) -> tuple[list[ConnectionRecord], CaptureStats, list[int]]:
    out: list[ConnectionRecord] = []
    stats = CaptureStats()
    calls: list[int] = []
    tracker = Tracker(lambda conn: out.append(make_record(conn)))
    with open_capture(path) as reader:
        skip = ShareSkip(shares, mine) if skipping else None
        records = reader.iter_records_skipping(skip) if skip else reader.iter_records()
        assert records is not None
        run(records, tracker, stats, share=(mine, shares), skip=skip, progress=calls.append,
            progress_every=1024)
        stats.truncated = reader.truncated
    tracker.finish_all()
    return out, stats, calls


@pytest.mark.parametrize("name", ["little", "big"])
def test_a_share_analysed_through_the_skipping_reader(
    synthetic: dict[str, Path], name: str, tmp_path: Path,
) -> None:
    path = synthetic[name]
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3 + 5])
    for p in (path, cut):
        for mine in range(3):
            assert analyze_share(p, mine, 3, True) == analyze_share(p, mine, 3, False)
    records, stats, calls = analyze_share(cut, 0, 2, True)
    assert stats.truncated is not None and stats.truncated.offset > 0
    assert calls[-1] == stats.packets > 5000 and len(records) > 200


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(command, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_analyze_jobs_prints_the_same_as_one_process(
    synthetic: dict[str, Path], tmp_path: Path,
) -> None:
    one = cli(str(synthetic["pcap"]), "--json", "--jobs", "1")
    assert one[0] == EXIT_OK and one[1].count("\n") > 700
    for name in ("little", "big"):
        path = str(synthetic[name])
        assert cli(path, "--json", "--jobs", "1") == one  # the same packets as the pcap
        assert cli(path, "--json", "--jobs", "2") == one
        assert cli(path, "--csv", "--jobs", "3") == cli(path, "--csv", "--jobs", "1")
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(synthetic["big"].read_bytes()[:-1000])
    single = cli(str(cut), "--json", "--jobs", "1")
    assert single[0] == EXIT_TRUNCATED
    assert cli(str(cut), "--json", "--jobs", "2") == single
