"""Real captures against tshark, cut copies of them, and files written here read by the tools."""

from __future__ import annotations

import io
import random
import shutil
import struct
import subprocess
from ipaddress import ip_address
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synack.capture.packet import CapturedPacket, Truncation
from synack.capture.reader import open_capture
from synack.capture.writer import PcapngWriter, PcapWriter, open_writer
from synack.wire.errors import ParseError

TRACES = Path(__file__).resolve().parents[2] / "shared" / "captures" / "zeek" / "traces"
CAPTURES = sorted(TRACES.glob("*.pcap*")) if TRACES.is_dir() else []
ROOT_WARNING = 'Running as user "root" and group "root". This could be dangerous.'

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
needs_tcpdump = pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump not installed")


def tshark(path: Path, *fields: str, prefs: tuple[str, ...] = ()) -> tuple[list[list[str]], str]:
    """tshark's field rows for every frame, and its stderr without the running-as-root notice."""
    args = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "separator=/t"]
    for pref in prefs:
        args += ["-o", pref]
    for field in fields:
        args += ["-e", field]
    run = subprocess.run(args, capture_output=True, text=True, check=True, timeout=60)
    stderr = "".join(line for line in run.stderr.splitlines(True) if line.strip() != ROOT_WARNING)
    return [line.split("\t") for line in run.stdout.splitlines()], stderr


def epoch(ts_ns: int) -> str:
    return f"{ts_ns // 10**9}.{ts_ns % 10**9:09d}"


def read(data: bytes) -> tuple[list[CapturedPacket], Truncation | None]:
    reader = open_capture(io.BytesIO(data))
    return list(reader), reader.truncated


# Every Zeek trace, packet by packet, as tshark reads it ---------------------------------------


@pytest.mark.tools
@needs_tshark
@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_real_capture_matches_tshark(path: Path) -> None:
    rows, stderr = tshark(path, "frame.time_epoch", "frame.len", "frame.cap_len")
    with open_capture(path) as reader:
        packets = list(reader)
        assert reader.truncated is None
        assert reader.packets_read == len(packets)
    assert stderr == ""
    assert len(packets) == len(rows) > 0
    for packet, (when, length, caplen) in zip(packets, rows, strict=True):
        assert epoch(packet.timestamp_ns) == when
        assert packet.original_length == int(length)
        assert len(packet.data) == int(caplen)
        assert packet.link_type == 1


def test_zeek_traces_are_present() -> None:
    assert len(CAPTURES) >= 15


# Cut copies of the real files --------------------------------------------------------------


def record_bounds(data: bytes) -> tuple[int, list[tuple[int, bool]]]:
    """(end of the file header, [(end of each record or block, holds a packet)]) by a plain walk."""
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        e = "<" if data[8:12] == struct.pack("<I", 0x1A2B3C4D) else ">"
        first = struct.unpack_from(e + "I", data, 4)[0]
        bounds = []
        off = first
        while off < len(data):
            btype, length = struct.unpack_from(e + "II", data, off)
            off += length
            bounds.append((off, btype in (2, 3, 6)))
        return first, bounds
    e = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    bounds = []
    off = 24
    while off < len(data):
        off += 16 + struct.unpack_from(e + "I", data, off + 8)[0]
        bounds.append((off, True))
    return 24, bounds


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_cut_copies_report_offset_and_keep_what_was_read(path: Path) -> None:
    data = path.read_bytes()
    full, truncated = read(data)
    assert truncated is None
    header_end, bounds = record_bounds(data)
    assert bounds[-1][0] == len(data)
    assert sum(is_packet for _, is_packet in bounds) == len(full)
    rng = random.Random(path.name)
    cuts = {0, 1, 3, 4, 5, 12, 23, 24, header_end, header_end + 1, len(data) - 1}
    for end, _ in rng.sample(bounds, min(len(bounds), 12)):
        cuts.update({end - 1, end, end + 1, end + 11, end + 12, end + 15, end + 16, end + 17})
    cuts.update(rng.randrange(len(data)) for _ in range(20))
    for cut in sorted(c for c in cuts if 0 <= c < len(data)):
        if cut < 4:
            with pytest.raises(ParseError):
                read(data[:cut])
            continue
        packets, truncation = read(data[:cut])
        complete = [(end, is_packet) for end, is_packet in bounds if end <= cut]
        assert packets == full[: sum(is_packet for _, is_packet in complete)], cut
        start = complete[-1][0] if complete else (header_end if cut >= header_end else 0)
        if cut == start:
            assert truncation is None, cut
        else:
            assert truncation is not None, cut
            assert truncation.offset == start, (cut, truncation)
            assert f"file ends at offset {cut} inside" in truncation.message


# Hand-made files of every variant against tshark ---------------------------------------------


def _block(e: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) & 3)
    size = 12 + len(body)
    return struct.pack(e + "II", btype, size) + body + struct.pack(e + "I", size)


def _opt(e: str, code: int, value: bytes) -> bytes:
    return struct.pack(e + "HH", code, len(value)) + value + b"\0" * (-len(value) & 3)


def _variants_pcapng() -> bytes:
    frame = bytes(range(60))
    out = b""
    for e, resol, offset in (("<", 6, 0), (">", 0x80 | 20, 100), ("<", 9, -7), (">", 3, 0)):
        opts = _opt(e, 9, bytes([resol])) + _opt(e, 14, struct.pack(e + "q", offset))
        out += _block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))
        out += _block(e, 1, struct.pack(e + "HHI", 1, 0, 0) + opts + _opt(e, 0, b""))
        out += _block(e, 1, struct.pack(e + "HHI", 1, 0, 0))
        for i, ticks in enumerate((1_700_000_000_123_456_789 % 2**60, 2**33 + 12345)):
            head = struct.pack(e + "IIIII", i % 2, ticks >> 32, ticks & 0xFFFFFFFF, 60 - i, 70)
            out += _block(e, 6, head + frame[: 60 - i])
        head = struct.pack(e + "HHIIII", 1, 0, 0, 999, 60, 60)
        out += _block(e, 2, head + frame)
        out += _block(e, 5, b"\0" * 12)
    return out


def _variants_pcap(e: str, nano: bool) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, 65535, 1)
    for sec, frac, size in ((1_700_000_000, 999_999, 60), (4_000_000_000, 1, 1514), (0, 0, 14)):
        out += struct.pack(e + "IIII", sec, frac, size, size + 3) + bytes(size)
    return out


@pytest.mark.tools
@needs_tshark
@pytest.mark.parametrize("name", ["variants.pcapng", "le-micro.pcap", "be-nano.pcap"])
def test_hand_made_variants_match_tshark(tmp_path: Path, name: str) -> None:
    if name.endswith(".pcapng"):
        data = _variants_pcapng()
    else:
        data = _variants_pcap("<" if name.startswith("le") else ">", "nano" in name)
    path = tmp_path / name
    path.write_bytes(data)
    rows, stderr = tshark(path, "frame.time_epoch", "frame.len", "frame.cap_len")
    assert stderr == ""
    packets, truncation = read(data)
    assert truncation is None
    assert len(packets) == len(rows)
    for packet, (when, length, caplen) in zip(packets, rows, strict=True):
        assert (epoch(packet.timestamp_ns), packet.original_length, len(packet.data)) == (
            when,
            int(length),
            int(caplen),
        )


# Files written here, read by tcpdump and tshark ----------------------------------------------


def tcp_packets() -> list[bytes]:
    """IPv4 and IPv6 TCP packets built by synack's own codec (all checksums filled)."""
    from synack.wire.ip import build_tcp_packet
    from synack.wire.tcp import Mss, Nop, SackPermitted, TcpFlags, TcpSegment, Timestamps

    syn_options = (Mss(1460), SackPermitted(), Timestamps(1, 0), Nop(), Nop())
    segments = [
        TcpSegment(40000, 80, 2**32 - 2, 0, TcpFlags.SYN, 64240, options=syn_options),
        TcpSegment(80, 40000, 7, 2**32 - 1, TcpFlags.SYN | TcpFlags.ACK, 65160),
        TcpSegment(40000, 80, 2**32 - 1, 8, TcpFlags.ACK | TcpFlags.PSH, 502, payload=b"x" * 77),
        TcpSegment(40000, 80, 76, 8, TcpFlags.FIN | TcpFlags.ACK, 502, payload=b"odd"),
        TcpSegment(80, 40000, 8, 80, TcpFlags.RST, 0),
    ]
    pairs = [
        (ip_address("192.0.2.1"), ip_address("198.51.100.7")),
        (ip_address("2001:db8::1"), ip_address("2001:db8::2")),
    ]
    packets: list[bytes] = []
    for src, dst in pairs:
        for seg in segments:
            if seg.src_port == 80:
                packets.append(build_tcp_packet(dst, src, seg, ident=len(packets)))
            else:
                packets.append(build_tcp_packet(src, dst, seg, ident=len(packets)))
    return packets


def ethernet(ip: bytes) -> bytes:
    ethertype = b"\x08\x00" if ip[0] >> 4 == 4 else b"\x86\xdd"
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01" + ethertype + ip


START_NS = 1_700_000_000_123_456_789


def write_files(tmp_path: Path) -> dict[Path, list[tuple[int, int]]]:
    """Captures in each format; per file the (timestamp_ns, link type) expected per packet."""
    packets = tcp_packets()
    files: dict[Path, list[tuple[int, int]]] = {}
    path = tmp_path / "raw-ns.pcap"
    with path.open("wb") as file:
        writer = PcapWriter(file, 101, nanosecond=True)
        for i, ip in enumerate(packets):
            writer.write(START_NS + i * 1_000_001, ip)
    files[path] = [(START_NS + i * 1_000_001, 101) for i in range(len(packets))]
    path = tmp_path / "ether-us.pcap"
    with open_writer(path, 1) as capture:
        for i, ip in enumerate(packets):
            capture.write(START_NS + i, ethernet(ip))
    files[path] = [((START_NS + i) // 1000 * 1000, 1) for i in range(len(packets))]
    # libpcap (so tcpdump) reads only pcapng files whose interfaces share one link type;
    # Wireshark takes any mix.
    for name, links in (("two-interfaces.pcapng", (1, 1)), ("mixed-links.pcapng", (1, 101))):
        path = tmp_path / name
        expected = []
        with path.open("wb") as file:
            writer2 = PcapngWriter(file)
            micro = writer2.add_interface(links[0], name="eth0")
            nano = writer2.add_interface(links[1], name="if1", nanosecond=True)
            for i, ip in enumerate(packets):
                ts = START_NS + i * 333_333_333
                interface, link = (nano, links[1]) if i % 2 else (micro, links[0])
                writer2.write(interface, ts, ethernet(ip) if link == 1 else ip)
                expected.append((ts if i % 2 else ts // 1000 * 1000, link))
        files[path] = expected
    path = tmp_path / "single.pcapng"
    with open_writer(path, 101, nanosecond=True) as capture:
        for i, ip in enumerate(packets):
            capture.write(START_NS + i, ip)
    files[path] = [(START_NS + i, 101) for i in range(len(packets))]
    return files


@pytest.mark.tools
@needs_tshark
def test_written_files_read_by_tshark_with_valid_checksums(tmp_path: Path) -> None:
    count = len(tcp_packets())
    for path, expected in write_files(tmp_path).items():
        rows, stderr = tshark(
            path,
            "frame.time_epoch",
            "frame.protocols",
            "ip.checksum.status",
            "tcp.checksum.status",
            "_ws.expert.severity",
            prefs=("tcp.check_checksum:TRUE", "ip.check_checksum:TRUE"),
        )
        assert stderr == "", path.name
        assert len(rows) == count, path.name
        for row, (ts, _link) in zip(rows, expected, strict=True):
            when, protocols, ip_status, tcp_status = row[:4]
            assert when == epoch(ts)
            assert protocols.endswith("tcp") or ":tcp:" in protocols, protocols
            assert tcp_status == "1", (path.name, row)  # 1 = Good
            assert ip_status == ("1" if ":ip:" in protocols else ""), (path.name, row)
        packets, truncation = read(path.read_bytes())
        assert truncation is None
        assert [(p.timestamp_ns, p.link_type) for p in packets] == expected


@pytest.mark.tools
@needs_tcpdump
def test_written_files_read_by_tcpdump_without_complaint(tmp_path: Path) -> None:
    count = len(tcp_packets())
    for path in write_files(tmp_path):
        if path.name.startswith("mixed"):
            continue  # libpcap: "an interface has a type 101 different from the type of the first"
        run = subprocess.run(
            ["tcpdump", "-nn", "-v", "-r", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            env={"TZ": "UTC", "PATH": "/usr/bin:/usr/sbin:/bin:/sbin"},
        )
        assert run.returncode == 0, run.stderr
        # tcpdump's only stderr line for a good file is its "reading from file" banner.
        banner = run.stderr.splitlines()
        assert len(banner) == 1, run.stderr
        assert banner[0].startswith(f"reading from file {path}, link-type ")
        assert banner[0].endswith(", snapshot length 262144")
        lines = [line for line in run.stdout.splitlines() if not line.startswith(" ")]
        assert len(lines) == count
        assert run.stdout.count("(correct)") == count
        assert "incorrect" not in run.stdout
        assert "truncated" not in run.stdout.lower()


# Damaged real files: flipped bytes never raise anything but ParseError -----------------------


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from([p for p in CAPTURES if p.stat().st_size < 20_000]),
    st.lists(st.tuples(st.integers(0, 2**20), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_flipped_bytes_never_escape(path: Path, flips: list[tuple[int, int]]) -> None:
    data = bytearray(path.read_bytes())
    for position, value in flips:
        data[position % len(data)] = value
    try:
        reader = open_capture(io.BytesIO(bytes(data)))
    except ParseError as err:
        assert err.offset in (0, 4, 8, 12)
        return
    packets = list(reader)
    assert reader.packets_read == len(packets)
    if reader.truncated is not None:
        assert 0 <= reader.truncated.offset < len(data)
