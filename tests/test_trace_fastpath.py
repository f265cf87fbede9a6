"""The fast path for common frames (capture/tcpdump/fast.py) against the general printers.

Every frame is formatted twice, in order and with state: by the formatter as `synack trace` runs
it (fast path first, general printers for what it leaves) and by the general printers alone.
The lines must be identical, frame after frame, with relative and with absolute (-S) numbers.
The frames are mostly of the kinds the fast path takes (Ethernet with and without VLAN tags,
Linux SLL, BSD null/loopback and raw IP; IPv4 without options, IPv6 without extension headers;
random layouts of the usual TCP options) with the near misses mixed in: wrong option lengths,
unknown options, IPv4 options, IPv6 extension headers, fragments, cut captures, padding, wrong
IP lengths. A few shared addresses and ports make conversations repeat, so relative numbers
and SACK blocks depend on earlier frames of either path.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from synack.capture.reader import open_capture
from synack.capture.tcpdump import TcpdumpFormatter, trace_capture, write_trace
from synack.capture.tcpdump.fast import _FastPath
from synack.capture.writer import open_writer
from test_trace_fuzz import APPLICATION_PAYLOADS, authentication_header, routing_header
from test_trace_tcpdump import compare, needs_tcpdump, synack_packets, tcpdump_packets

T0 = 1_700_000_000_000_000_000
DLT_NULL, DLT_EN10MB, DLT_RAW, DLT_LOOP, DLT_SLL, DLT_SLL2 = 0, 1, 101, 108, 113, 276
LINK_TYPES = [DLT_EN10MB, DLT_EN10MB, DLT_EN10MB, DLT_SLL, DLT_RAW, DLT_NULL, DLT_LOOP]

ADDRESSES_V4 = [bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]), bytes([192, 168, 200, 30])]
ADDRESSES_V6 = [
    bytes(15) + b"\x01",
    bytes.fromhex("20010db8000000000000000000000002"),
    bytes.fromhex("fd000000000000000000ffff01020304"),
]
PORTS = [80, 443, 22, 25, 21, 23, 554, 8080, 179, 40000, 40000, 65535]
# Without the ports of tcpdump's decoders that synack does not reproduce (telnet, BGP).
TCPDUMP_PORTS = [port for port in PORTS if port not in (23, 179)]
NUMBERS = [0, 1, 2, 1000, 0x7FFFFFFF, 0xFFFFFFFF, 0xFFFFFFF0, 0xFFFFFF00]

Frame = tuple[int, int, bytes, int]  # timestamp_ns, link type, captured bytes, wire length


# -- frames ------------------------------------------------------------------------------------


def option_bytes(rng: random.Random) -> bytes:
    """A TCP option list: a common layout, or random items, mostly of the usual kinds."""
    choice = rng.random()
    ts = struct.pack("!BBII", 8, 10, rng.getrandbits(32), rng.getrandbits(32))
    if choice < 0.25:
        return b"\x01\x01" + ts  # NOP, NOP, timestamps
    if choice < 0.35:  # Linux's SYN: mss, sackOK, TS, nop, wscale (with a near miss now and then)
        wscale = rng.choice([b"\x03\x03", b"\x03\x03", b"\x03\x04", b"\x04\x03"])
        mss = struct.pack("!BBH", 2, rng.choice([4, 4, 4, 5]), rng.getrandbits(16))
        return (mss + b"\x04\x02" + ts + b"\x01" + wscale + bytes([rng.getrandbits(4)]))[:20]
    if choice < 0.4:
        return b""
    items = []
    for _ in range(rng.randint(1, 5)):
        kind = rng.choice([0, 1, 1, 2, 3, 4, 5, 5, 8, 8, 30, 34, 99])
        if kind in (0, 1):
            items.append(bytes([kind]))
        elif kind == 2:
            items.append(struct.pack("!BBH", 2, 4, rng.getrandbits(16)))
        elif kind == 3:
            items.append(bytes([3, 3, rng.getrandbits(4)]))
        elif kind == 4:
            items.append(b"\x04\x02")
        elif kind == 5:
            blocks = rng.choice([1, 1, 2, 3, 4, 0])
            body = b"".join(
                struct.pack("!II", rng.choice(NUMBERS) + rng.randint(0, 3000) & 0xFFFFFFFF,
                            rng.getrandbits(32))
                for _ in range(blocks)
            )
            items.append(bytes([5, 2 + len(body)]) + body)
        elif kind == 8:
            items.append(ts)
        else:
            body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 6)))
            items.append(bytes([kind, 2 + len(body)]) + body)
    out = b"".join(items)
    if rng.random() < 0.1:  # a wrong length byte somewhere
        at = rng.randrange(len(out)) if out else 0
        out = out[:at] + bytes([rng.randint(0, 12)]) + out[at + 1 :]
    out = out[:40]
    return out + b"\x00" * (-len(out) % 4)


def tcp_segment(rng: random.Random, sport: int, dport: int, seq: int, ack: int) -> bytes:
    options = option_bytes(rng)
    offset = (20 + len(options)) // 4
    if rng.random() < 0.03:
        offset = rng.randint(0, 15)  # too short or too long a header
    if rng.random() < 0.4:
        flags = rng.getrandbits(8)  # every combination, ECE/CWR/URG included
    else:
        flags = rng.choice([0x02, 0x12, 0x10, 0x18, 0x11, 0x19, 0x04, 0x14, 0x52, 0xC2, 0x30])
    reserved = rng.choice([0, 0, 0, 1, 0xE])  # 1 is AE (RFC 9768), which tcpdump 4.99 ignores
    if rng.random() < 0.3:
        payload = rng.choice(APPLICATION_PAYLOADS)
    else:
        payload = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 0, 0, 1, 7, 300])))
    header = struct.pack(
        "!HHIIBBHHH", sport, dport, seq, ack, (offset << 4) | reserved, flags,
        rng.getrandbits(16), rng.getrandbits(16),  # window; checksum (not checked without -v)
        rng.choice([0, 0, 1, 0xFFFF]),
    )
    return header + options + payload


def ipv4(rng: random.Random, src: bytes, dst: bytes, payload: bytes) -> bytes:
    options = b"\x01\x01\x01\x00" if rng.random() < 0.05 else b""
    total = 20 + len(options) + len(payload)
    if rng.random() < 0.04:
        total = rng.choice([total - 1, total + 3, 20, 39, 40, 0])
    frag = 0x4000  # DF
    if rng.random() < 0.1:  # MF, reserved bit, any offset bit
        frag = rng.choice([0x2000, 0x6000, 0x8000, 0x0000, 1 << rng.randrange(13)])
    proto = 6 if rng.random() < 0.9 else rng.choice([17, 1, 132, 33, 4, 41, 47, 51, 0])
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x40 | (5 + len(options) // 4), rng.getrandbits(8), total & 0xFFFF,
        rng.getrandbits(16), frag, 64, proto, rng.getrandbits(16), src, dst,
    )
    return header + options + payload


def ipv6(rng: random.Random, src: bytes, dst: bytes, payload: bytes) -> bytes:
    next_header = 6 if rng.random() < 0.9 else rng.choice([17, 58, 4, 41, 47, 51, 43, 44, 59])
    if rng.random() < 0.12:  # an extension header first
        kind = rng.choice([60, 0, 43, 44])
        if kind == 43:
            payload = routing_header(rng, next_header) + payload
        elif kind == 44:  # a first fragment, or a later one
            offset = rng.choice([0, 1, 8])
            payload = bytes([next_header, 0]) + struct.pack("!HI", offset, 7) + payload
        else:
            payload = bytes([next_header, 0, 1, 4, 0, 0, 0, 0]) + payload
        next_header = kind
    length = len(payload)
    if rng.random() < 0.04:
        length = rng.choice([length - 1, length + 3, 0, 19])
    return struct.pack(
        "!IHBB16s16s", 0x60000000 | rng.getrandbits(20), length & 0xFFFF, next_header, 64,
        src, dst,
    ) + payload


def ip_packet(rng: random.Random, conversation: tuple[int, int, int, int, bool]) -> bytes:
    a, b, sport, dport, v6 = conversation
    if rng.random() < 0.5:  # either direction
        a, b, sport, dport = b, a, dport, sport
    seq = rng.choice(NUMBERS) + rng.randint(0, 5000) & 0xFFFFFFFF
    ack = rng.choice(NUMBERS) + rng.randint(0, 5000) & 0xFFFFFFFF
    segment = tcp_segment(rng, sport, dport, seq, ack)
    if v6:
        packet = ipv6(rng, ADDRESSES_V6[a], ADDRESSES_V6[b], segment)
    else:
        packet = ipv4(rng, ADDRESSES_V4[a], ADDRESSES_V4[b], segment)
    if rng.random() < 0.05:  # in a tunnel: IP in IP, IPv6 in IP, GRE, or after AH
        tunnel = rng.choice(["ip", "gre", "ah"])
        inner = 41 if v6 else 4
        if tunnel == "gre":
            packet = struct.pack("!HH", 0, 0x86DD if v6 else 0x0800) + packet
            inner = 47
        elif tunnel == "ah" and not v6:
            packet = authentication_header(rng, 6) + packet[20:]
            inner = 51
        outer = ipv4(rng, ADDRESSES_V4[b], ADDRESSES_V4[a], packet)
        packet = outer[:9] + bytes([inner]) + outer[10:]
    return packet


def link_frame(rng: random.Random, link_type: int, packet: bytes) -> bytes:
    v6 = packet[0] >> 4 == 6
    ethertype = struct.pack("!H", 0x86DD if v6 else 0x0800)
    if link_type == DLT_EN10MB:
        tags = b"".join(
            struct.pack("!HH", rng.choice([0x8100, 0x88A8]), rng.getrandbits(12))
            for _ in range(rng.choice([0, 0, 0, 0, 1, 2]))
        )
        padding = bytes(rng.randint(1, 20)) if rng.random() < 0.1 else b""
        return bytes(12) + tags + ethertype + packet + padding
    if link_type == DLT_SLL:
        return struct.pack("!HHH8s", rng.randint(0, 4), 1, 6, bytes(8)) + ethertype + packet
    if link_type == DLT_NULL:
        return struct.pack("<I", rng.choice([24, 28, 30]) if v6 else 2) + packet
    if link_type == DLT_LOOP:
        return struct.pack(">I", 30 if v6 else 2) + packet
    return packet


def random_frames(seed: int, count: int, ports: list[int] = PORTS) -> list[Frame]:
    rng = random.Random(seed)
    conversations = [
        (rng.randrange(3), rng.randrange(3), rng.choice(ports), rng.choice(ports), v6)
        for v6 in (False, True) for _ in range(6)
    ]
    frames: list[Frame] = []
    timestamp = T0
    for _ in range(count):
        timestamp += rng.choice([1, 999, 1000, 123_456, 999_999_999, 86_400 * 10**9])
        if rng.random() < 0.01:
            timestamp -= 5 * 10**9  # out of order: the clock text goes back
        link_type = rng.choice(LINK_TYPES)
        data = link_frame(rng, link_type, ip_packet(rng, rng.choice(conversations)))
        wire = len(data)
        if rng.random() < 0.08:
            data = data[: rng.randint(0, len(data))]  # a capture cut short
        elif rng.random() < 0.03:
            wire += rng.randint(1, 50)
        frames.append((timestamp, link_type, data, wire))
    return frames


# -- the comparison ----------------------------------------------------------------------------


def fast_and_general(
    frames: list[Frame], absolute: bool
) -> tuple[list[str | None], list[str | None], int]:
    """Each frame's line as `synack trace` makes it and from the general printers alone, and
    how many frames the fast path took."""
    reference = TcpdumpFormatter(absolute=absolute, fast=False)
    general = TcpdumpFormatter(absolute=absolute, fast=False)
    fast = _FastPath(general._seq.bases, absolute)
    got: list[str | None] = []
    taken = 0
    for timestamp, link_type, data, wire in frames:
        line = fast.line(timestamp, link_type, data, wire)
        if line is None:
            line = general.format_general(timestamp, link_type, data, wire)
        else:
            taken += 1
        got.append(line)
    expected = [reference.format_general(*frame) for frame in frames]
    return got, expected, taken


def first_difference(got: list[str | None], expected: list[str | None]) -> str:
    for number, (have, want) in enumerate(zip(got, expected, strict=True), 1):
        if have != want:
            return f"frame {number}:\n  fast:    {have}\n  general: {want}"
    return ""


@pytest.mark.parametrize("absolute", [False, True], ids=["relative", "absolute"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_path_lines_equal_the_general_printers(seed: int, absolute: bool) -> None:
    frames = random_frames(seed, 4000)
    got, expected, taken = fast_and_general(frames, absolute)
    assert got == expected, first_difference(got, expected)
    assert taken > len(frames) * 0.3  # the fast path is exercised, not bypassed
    assert sum(line is not None for line in expected) - taken > len(frames) * 0.1


def test_the_formatter_takes_the_fast_path_by_default() -> None:
    frames = random_frames(4, 1500)
    formatter = TcpdumpFormatter()
    assert formatter._fast is not None
    got = [formatter.format(timestamp, link, data, wire) for timestamp, link, data, wire in frames]
    _, expected, _ = fast_and_general(frames, absolute=False)
    assert got == expected, first_difference(got, expected)


def write_pcap(path: Path, frames: list[Frame], link_type: int, snaplen: int) -> Path:
    """A pcap whose header announces `snaplen` while its records may be longer (libpcap cuts
    them on reading, and so must `synack trace`)."""
    records = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, link_type)]
    for timestamp, _, data, wire in frames:
        seconds, nanos = divmod(timestamp, 10**9)
        records.append(struct.pack("<IIII", seconds, nanos // 1000, len(data), wire) + data)
    path.write_bytes(b"".join(records))
    return path


@pytest.mark.parametrize("absolute", [False, True], ids=["relative", "absolute"])
@pytest.mark.parametrize("snaplen", [65535, 60, 90])
def test_the_trace_loop_equals_the_general_printers(
    tmp_path: Path, snaplen: int, absolute: bool
) -> None:
    """`write_trace` (what `synack trace` runs) on Ethernet captures, records cut to the
    snapshot length, against the general printers on the cut records."""
    frames = [
        (timestamp // 1000 * 1000, link, data, wire)  # pcap keeps microseconds
        for timestamp, link, data, wire in random_frames(10 + snaplen, 3000)
        if link == DLT_EN10MB
    ]
    path = write_pcap(tmp_path / "cut.pcap", frames, DLT_EN10MB, snaplen)
    got: list[str] = []
    with open_capture(path) as reader:
        write_trace(reader, got.append, absolute=absolute)
    reference = TcpdumpFormatter(absolute=absolute, fast=False)
    expected = [
        line
        for timestamp, link, data, wire in frames
        if (line := reference.format_general(timestamp, link, data[:snaplen], wire)) is not None
    ]
    assert got == expected, first_difference(got, expected)  # type: ignore[arg-type]
    with open_capture(path) as reader:  # the numbered records of the other readers agree
        assert [line for _, line in trace_capture(reader, absolute=absolute)] == expected


# -- crafted cases, each with the exact line ------------------------------------------------------

A4, B4 = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
ETHERNET_V4 = bytes(12) + b"\x08\x00"


def v4_frame(
    sport: int, dport: int, seq: int, ack: int, flags: int, options: bytes = b"",
    payload: bytes = b"", *, src: bytes = A4, dst: bytes = B4, urgent: int = 0,
) -> bytes:
    header = struct.pack(
        "!HHIIBBHHH", sport, dport, seq, ack, ((20 + len(options)) // 4) << 4, flags, 502, 0,
        urgent,
    )
    segment = header + options + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(segment), 0, 0x4000, 64, 6, 0, src, dst)
    return ETHERNET_V4 + ip + segment


def lines_of(frames: list[bytes], absolute: bool = False) -> list[str | None]:
    records = [(T0 + i * 1000, DLT_EN10MB, frame, len(frame)) for i, frame in enumerate(frames)]
    got, expected, taken = fast_and_general(records, absolute)
    assert got == expected, first_difference(got, expected)
    assert taken == len(frames)
    return [None if line is None else line.split(" ", 1)[1] for line in got]


BACK = {"src": B4, "dst": A4}  # the other direction


def sack(*blocks: tuple[int, int]) -> bytes:
    body = b"".join(struct.pack("!II", start, end) for start, end in blocks)
    return b"\x01\x01" + bytes([5, 2 + len(body)]) + body


def test_sack_blocks_relative_to_the_peer_from_the_segment_that_starts_the_conversation() -> None:
    """The first ACK segment here comes from the higher port (tcp_seq_hash's reversed key):
    its SACK blocks are already relative, to its ack - 1, as are those of the other side."""
    lines = lines_of([
        v4_frame(40000, 80, 9000, 5001, 0x10, sack((5101, 5201))),
        v4_frame(80, 40000, 5001, 9001, 0x10, sack((9101, 9201), (9301, 9401)), **BACK),
        v4_frame(40000, 80, 9001, 5001, 0x10, sack((5101, 5201))),
    ])
    assert lines == [
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 5001, win 502, "
        "options [nop,nop,sack 1 {101:201}], length 0",
        "IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [.], ack 1, win 502, "
        "options [nop,nop,sack 2 {101:201}{301:401}], length 0",
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 1, win 502, "
        "options [nop,nop,sack 1 {101:201}], length 0",
    ]


def test_relative_numbers_across_the_wrap_and_with_S() -> None:
    frames = [
        v4_frame(40000, 443, 0xFFFFFFF0, 0, 0x02),
        v4_frame(443, 40000, 0xFFFFFF00, 0xFFFFFFF1, 0x12, **BACK),
        v4_frame(40000, 443, 0xFFFFFFF1, 0xFFFFFF01, 0x18, payload=b"x" * 100),
    ]
    assert lines_of(frames)[1:] == [
        "IP 10.0.0.2.443 > 10.0.0.1.40000: Flags [S.], seq 4294967040, ack 4294967281, win 502, "
        "length 0",
        "IP 10.0.0.1.40000 > 10.0.0.2.443: Flags [P.], seq 1:101, ack 1, win 502, length 100",
    ]
    assert lines_of(frames, absolute=True)[2] == (
        "IP 10.0.0.1.40000 > 10.0.0.2.443: Flags [P.], seq 4294967281:85, ack 4294967041, "
        "win 502, length 100"
    )


def test_flags_urgent_pointer_and_options_of_every_usual_kind() -> None:
    options = (
        b"\x02\x04\x05\xb4\x01\x03\x03\x0e\x04\x02\x08\x0a\x00\x00\x00\x07\x00\x00\x00\x00"
        + b"\x01\x00\x00\x00"
    )
    lines = lines_of([v4_frame(40000, 80, 7, 0, 0xE3, options, b"GET / HTTP/1.1\r\n", urgent=9)])
    assert lines == [
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [FSUEW], seq 7:23, win 502, urg 9, "
        "options [mss 1460,nop,wscale 14,sackOK,TS val 7 ecr 0,nop,eol], length 16: "
        "HTTP: GET / HTTP/1.1"
    ]


def test_a_conversation_alternating_between_the_fast_and_the_general_path() -> None:
    """An IPv4 option (general path) in the middle of a conversation the fast path numbers."""
    plain = v4_frame(40000, 443, 1001, 2001, 0x10)
    ip = plain[14:34]
    options = b"\x01\x01\x01\x00"  # NOPs and the end of the list: four bytes, IHL 6
    header = b"\x46" + ip[1:2] + struct.pack("!H", 44) + ip[4:] + options
    frames = [
        v4_frame(40000, 443, 1000, 0, 0x02),
        v4_frame(443, 40000, 2000, 1001, 0x12, **BACK),
        plain[:14] + header + plain[34:],
        v4_frame(40000, 443, 1001, 2001, 0x18, payload=b"abc"),
    ]
    records = [(T0, DLT_EN10MB, frame, len(frame)) for frame in frames]
    got, expected, taken = fast_and_general(records, absolute=False)
    assert got == expected, first_difference(got, expected)
    assert taken == 3
    assert got[2] is not None and got[2].endswith("Flags [.], ack 1, win 502, length 0")
    assert got[3] is not None and got[3].endswith("Flags [P.], seq 1:4, ack 1, win 502, length 3")


@pytest.mark.parametrize(
    ("timestamp_ns", "clock"),
    [
        (0, "00:00:00.000000"),
        (999_999, "00:00:00.000999"),
        (T0 + 999, "22:13:20.000000"),
        (T0 + 86_399_999_999_999, "22:13:19.999999"),
        (T0 - 1, "22:13:19.999999"),
    ],
)
def test_timestamps_in_the_fast_path(timestamp_ns: int, clock: str) -> None:
    fast = _FastPath({}, absolute=False)
    frame = v4_frame(40000, 80, 7, 0, 0x02)
    fast.line(T0 + 5 * 10**9, DLT_EN10MB, frame, len(frame))  # another second first
    line = fast.line(timestamp_ns, DLT_EN10MB, frame, len(frame))
    assert line is not None and line.startswith(f"{clock} IP 10.0.0.1.40000 > ")


def test_link_layers_the_fast_path_takes() -> None:
    packet = v4_frame(40000, 80, 7, 0, 0x02)[14:]
    packet6 = struct.pack("!IHBB16s16s", 0x60000000, 20, 6, 64, bytes(15) + b"\x01", bytes(16))
    packet6 += packet[20:40]
    tag, qinq = b"\x81\x00\x00\x05", b"\x88\xa8\x00\x06"
    frames = {
        "Ethernet": (DLT_EN10MB, bytes(12) + b"\x08\x00" + packet),
        "802.1Q": (DLT_EN10MB, bytes(12) + tag + b"\x08\x00" + packet),
        "802.1ad + 802.1Q": (DLT_EN10MB, bytes(12) + qinq + tag + b"\x86\xdd" + packet6),
        "Linux SLL": (DLT_SLL, bytes(14) + b"\x86\xdd" + packet6),
        "raw": (DLT_RAW, packet),
        "raw IPv6 (DLT_IPV4 holding IPv6)": (228, packet6),
        "BSD null, host order": (DLT_NULL, b"\x02\x00\x00\x00" + packet),
        "BSD null, the other order": (DLT_NULL, b"\x00\x00\x00\x02" + packet),
        "BSD null, IPv6 (FreeBSD)": (DLT_NULL, b"\x1c\x00\x00\x00" + packet6),
        "OpenBSD loop": (DLT_LOOP, b"\x00\x00\x00\x18" + packet6),
    }
    for name, (link, frame) in frames.items():
        fast = _FastPath({}, absolute=False)
        line = fast.line(T0, link, frame, len(frame))
        assert line is not None, name
        assert line == TcpdumpFormatter(fast=False).format(T0, link, frame), name


def test_frames_the_fast_path_leaves_to_the_general_printers() -> None:
    fast = _FastPath({}, absolute=False)
    good = v4_frame(40000, 80, 7, 0, 0x02, b"\x01\x01" + bytes([8, 10]) + bytes(8))
    assert fast.line(T0, DLT_EN10MB, good, len(good)) is not None
    left = {
        "cut in the options": good[:60],
        "IPv4 total length past the capture": good[:16] + struct.pack("!H", 100) + good[18:],
        "a later fragment": good[:20] + b"\x00\x01" + good[22:],
        "UDP": good[:23] + b"\x11" + good[24:],
        "unknown option": good[:54] + bytes([99, 10]) + good[56:],
        "SACK of 10 bytes + 1": good[:54] + bytes([5, 11]) + good[56:],
        "timestamps of 11 bytes": good[:56] + b"\x08\x0b" + good[58:],
        "option length past the header": good[:56] + b"\x08\x0d" + good[58:],
        "header length over the segment": good[:46] + b"\xf0" + good[47:],
        "SLL2 (prints the interface)": good,
    }
    for name, frame in left.items():
        link = DLT_SLL2 if name.startswith("SLL2") else DLT_EN10MB
        assert fast.line(T0, link, frame, len(frame)) is None, name


# -- application decoders and addresses: the old byte-by-byte readings as references -------------


def reference_application(data: bytes, offset: int, length: int, end: int, port: int) -> str:
    """tcpdump's txtproto_print and SSH banner read byte by byte, as a model (`end`: where the
    capture stops). Returns the appended text, then ` [|proto]` when the read ran past."""
    out: list[str] = []

    class Past(Exception):
        pass

    def u8(at: int) -> int:
        if at >= end:
            raise Past
        return data[at]

    def printable(byte: int) -> bool:
        return 0x20 <= byte <= 0x7E

    def token(index: int) -> tuple[int, str]:
        chars = bytearray()
        while index < length:
            if offset + index >= end:
                return 0, ""
            byte = data[offset + index]
            if byte > 0x7F:
                return 0, ""
            if byte in b" \t\r\n":
                break
            if not printable(byte) or len(chars) + 2 > 129:
                return 0, ""
            chars.append(byte)
            index += 1
        if not chars:
            return 0, ""
        while index < length and offset + index < end and data[offset + index] == 0x20:
            index += 1
        return index, chars.decode()

    def text(name: str, commands: set[str] | None) -> None:
        out.append(f": {name.upper()}")
        show = commands is None
        if commands is not None:
            index, first = token(0)
            if index:
                show = first.upper() in commands
                index, second = token(index)
                if index and len(second) == 3 and second.isdigit():
                    show = True
        if not show:
            return
        for i in range(length):
            byte = u8(offset + i)
            if byte == 0x0A:
                break
            if byte == 0x0D:
                if i + 1 >= length or u8(offset + i + 1) != 0x0A:
                    return
                break
            if not printable(byte) and byte != 0x09:
                return
        else:
            out.append(f": {data[offset : offset + length].decode()}")
            raise Past
        out.append(f": {data[offset : offset + i].decode()}")

    def ssh() -> None:
        for i, expected in enumerate(b"SSH-"):
            if u8(offset + i) != expected:
                return
        for i in range(4, length):
            byte = u8(offset + i)
            if byte == 0x0A or (byte == 0x0D and i + 1 < length and u8(offset + i + 1) == 0x0A):
                out.append(f": SSH: {data[offset : offset + i].decode()}")
                return
            if not printable(byte):
                return

    names = {21: "ftp", 22: "ssh", 23: "telnet", 25: "smtp", 80: "http", 554: "rtsp"}
    protocol = names[port]
    http = {"GET", "POST", "HEAD", "OPTIONS", "PROPFIND", "PUT"}
    try:
        if port == 23:
            u8(offset)
        elif port == 22:
            ssh()
        else:
            commands = {"OPTIONS", "PLAY", "SETUP"} if port == 554 else http
            text(protocol, None if port in (21, 25) else commands)
    except Past:
        out.append(f" [|{protocol}]")
    return "".join(out)


def test_application_decoders_equal_the_byte_by_byte_reading() -> None:
    from synack.capture.tcpdump.apps import decoder_for

    rng = random.Random(2616)
    pieces = [
        b"GET", b"get", b"POST", b"HTTP/1.1", b"200", b"2000", b"OK", b"SSH-2.0-x", b"A" * 128,
        b"B" * 129, b"PLAY", b"220", b" ", b"  ", b"\t", b"\r\n", b"\n", b"\r", b"\x00",
        b"\x7f", b"\xff", b"x",
    ]
    for _ in range(20_000):
        payload = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
        if rng.random() < 0.5:
            payload = rng.choice(APPLICATION_PAYLOADS) + payload
        data = bytes(rng.randint(0, 3)) + payload + bytes(rng.randint(0, 3))
        offset = data.index(payload) if payload else 0
        end = rng.choice([len(data), len(data), rng.randint(offset, len(data))])
        port = rng.choice([21, 22, 23, 25, 80, 554])
        decoder = decoder_for(port, 40000)
        assert decoder is not None
        text, truncated = decoder(data, offset, len(payload), end)
        got = text if truncated is None else f"{text} [|{truncated}]"
        assert got == reference_application(data, offset, len(payload), end, port), (
            port, data, offset, end,
        )


def reference_ipv6(raw: bytes) -> str:
    """tcpdump's addrtostr6, word by word."""
    words = struct.unpack("!8H", raw)
    best_base, best_len, cur_base, cur_len = -1, 0, -1, 0
    for i, word in enumerate((*words, 1)):
        if word == 0:
            cur_base, cur_len = (i, 1) if cur_base == -1 else (cur_base, cur_len + 1)
        elif cur_base != -1:
            if best_base == -1 or cur_len > best_len:
                best_base, best_len = cur_base, cur_len
            cur_base = -1
    if best_len < 2:
        best_base = -1
    parts: list[str] = []
    i = 0
    while i < 8:
        if best_base != -1 and best_base <= i < best_base + best_len:
            parts.append(":" if i == best_base else "")
            i += 1
            continue
        if i:
            parts.append(":")
        if i == 6 and best_base == 0 and (best_len == 6 or (best_len == 5 and words[5] == 0xFFFF)):
            parts.append(".".join(str(byte) for byte in raw[12:]))
            break
        parts.append(f"{words[i]:x}")
        i += 1
    if best_base != -1 and best_base + best_len == 8:
        parts.append(":")
    return "".join(parts)


def test_ipv6_text_equals_the_word_by_word_reading() -> None:
    from synack.capture.tcpdump import format_ipv6
    from synack.capture.tcpdump.text import format_ipv4

    rng = random.Random(5952)
    for _ in range(50_000):
        words = [rng.choice([0, 0, 0, 1, 0xFFFF, rng.getrandbits(16), rng.getrandbits(8)])
                 for _ in range(8)]
        raw = struct.pack("!8H", *words)
        assert format_ipv6.__wrapped__(raw) == reference_ipv6(raw), words
    for _ in range(1000):
        raw = bytes(rng.getrandbits(8) for _ in range(4))
        assert format_ipv4.__wrapped__(raw) == ".".join(map(str, raw))


# -- against the real tcpdump ----------------------------------------------------------------------


@needs_tcpdump
@pytest.mark.tools
@pytest.mark.parametrize("link_type", [DLT_EN10MB, DLT_SLL, DLT_RAW, DLT_NULL])
def test_fast_path_frames_match_tcpdump(tmp_path: Path, link_type: int) -> None:
    """The same kind of frames, one link type per file, through `synack trace`'s readers and
    the real tcpdump: whole lines, relative and absolute."""
    frames = [
        (timestamp // 1000 * 1000, link, data, wire)
        for timestamp, link, data, wire in random_frames(700 + link_type, 6000, TCPDUMP_PORTS)
        if link == link_type
    ][:1500]
    path = tmp_path / "fast.pcap"
    with open_writer(path, link_type) as capture:
        for timestamp, _, data, wire in frames:
            capture.write(timestamp, data, wire)
    for absolute in (False, True):
        result = compare(path, absolute=absolute)
        assert result.mismatches == [], result.report()
    expected = tcpdump_packets(path)
    got = synack_packets(path)
    assert len(got) > len(frames) * 0.8
    assert {number: expected.get(number) for number in got} == got


def test_random_frames_cover_what_the_fast_path_must_decline() -> None:
    """The generator really produces the near misses the fast path has to leave alone."""
    frames = random_frames(1, 4000)
    left = [frame for frame in frames if _FastPath({}, False).line(*frame) is None]
    formatter = TcpdumpFormatter(fast=False)
    printed = [frame for frame in left if formatter.format_general(*frame) is not None]
    assert len(printed) > 300  # TCP lines the general printers make: errors, cuts, odd options
