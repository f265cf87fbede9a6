"""Randomized frames, compared packet by packet with the real tcpdump.

A seeded generator writes thousands of TCP packets per link-layer type: random flags, sequence
numbers near 0 and 2**32, option lists mixing every kind tcpdump names (with wrong lengths now and
then), IPv4 options and fragments, IPv6 extension headers, tunnels, MPLS and VLAN tags, bad header
lengths and captures cut at random points. A few shared addresses and ports make conversations
repeat, so relative sequence numbering is exercised across packets.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from synack.capture.writer import open_writer
from test_trace_tcpdump import compare, needs_tcpdump, synack_packets, tcpdump_packets

ADDRESSES_V4 = [bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]), bytes([192, 168, 1, 1])]
ADDRESSES_V6 = [
    bytes(15) + b"\x01",
    bytes.fromhex("20010db8000000000000000000000002"),
    bytes.fromhex("fe800000000000000000ffff01020304"),
    bytes(10) + b"\xff\xff" + bytes([1, 2, 3, 4]),
    bytes(12) + bytes([1, 2, 3, 4]),
    bytes.fromhex("00010000000200000000000300040000"),
    bytes.fromhex("00000000000200000000000000000001"),
]
PORTS = [80, 443, 1000, 5000, 65535, 80]
OPTION_KINDS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 19, 20, 28, 29, 30, 34, 254, 253, 99, 9]
# A plausible total length per option kind (random lengths are used now and then instead).
USUAL_LENGTHS = {
    2: [4],
    3: [3],
    4: [2],
    5: [2, 10, 18, 26, 34],
    6: [6],
    7: [6],
    8: [10],
    11: [6],
    12: [6],
    13: [6],
    19: [18],
    20: [4],
    28: [4],
    29: [2, 3, 4, 6, 8],
    34: [2, 4, 6, 8, 10, 18],
    254: [2, 3, 4, 6, 8, 12],
    30: [3, 4, 8, 10, 12, 16, 18, 20, 22, 24, 28, 30],
}
COMMON_FLAGS = [0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14, 0x19, 0x30, 0xC2, 0x52]
LINK_TYPES = [0, 1, 9, 101, 108, 113, 276]
PACKETS_PER_LINK_TYPE = 1500


def random_bytes(rng: random.Random, count: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(count))


def random_options(rng: random.Random) -> bytes:
    out = b""
    for _ in range(rng.choice([0, 0, 1, 2, 3, 4, 6])):
        kind = rng.choice(OPTION_KINDS)
        if kind in (0, 1):
            out += bytes([kind])
            continue
        usual = USUAL_LENGTHS.get(kind, [rng.randint(2, 8)])
        length = rng.choice(usual) if rng.random() < 0.8 else rng.randint(0, 12)
        body = random_bytes(rng, max(0, length - 2))
        if kind == 254 and len(body) >= 2 and rng.random() < 0.6:
            body = b"\xf9\x89" + body[2:]
        if kind == 30 and body and rng.random() < 0.9:  # MPTCP subtype and version/flags nibble
            body = bytes([(rng.randint(0, 9) << 4) | rng.choice([0, 1, rng.getrandbits(4)])])
            body += random_bytes(rng, length - 3)
        out += bytes([kind, length & 0xFF]) + body
    if rng.random() < 0.1:
        out += random_bytes(rng, rng.randint(1, 6))
    out = out[:40]
    return out + b"\x00" * (-len(out) % 4)


def random_segment(rng: random.Random) -> bytes:
    options = random_options(rng)
    offset = (20 + len(options)) // 4
    if rng.random() < 0.05:
        offset = rng.randint(0, 15)
    flags = rng.getrandbits(8) if rng.random() < 0.3 else rng.choice(COMMON_FLAGS)
    reserved = rng.choice([0, 0, 0, 1, 0xE])  # 1 is the AE bit (RFC 9293 §3.1 / RFC 9768)

    def number() -> int:
        return rng.choice(
            [rng.getrandbits(32), 0xFFFFFFFF - rng.randint(0, 100), rng.randint(0, 100)]
        )

    payload = random_bytes(rng, rng.choice([0, 0, 0, 1, 5, 20, 100]))
    header = struct.pack(
        "!HHIIBBHHH",
        rng.choice(PORTS),
        rng.choice(PORTS),
        number(),
        number(),
        (offset << 4) | reserved,
        flags,
        rng.getrandbits(16),
        0,
        rng.choice([0, 0, 1, 65535]),
    )
    return header + options + payload


def ipv4(rng: random.Random, payload: bytes, proto: int = 6) -> bytes:
    options = bytes([1, 1, 1, 0]) if rng.random() < 0.1 else b""
    ihl = 5 + len(options) // 4
    total = 20 + len(options) + len(payload)
    if rng.random() < 0.05:
        total = rng.choice([0, 10, 20, total - 3, total + 5, ihl * 4])
    frag = rng.choice([0x2000, 0x0010, 0x4000]) if rng.random() < 0.05 else 0x4000
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x40 | ihl,
        0,
        total & 0xFFFF,
        1,
        frag,
        64,
        proto,
        0,
        rng.choice(ADDRESSES_V4),
        rng.choice(ADDRESSES_V4),
    )
    return header + options + payload


def ipv6(rng: random.Random, payload: bytes, proto: int = 6) -> bytes:
    chain, next_header = b"", proto
    for _ in range(rng.choice([0, 0, 0, 1, 2])):
        kind = rng.choice([0, 60, 44, 43, 43, 51])
        if kind in (0, 60):
            ext = bytes([next_header, 0, 1, 4, 0, 0, 0, 0])
        elif kind == 44:
            ext = bytes([next_header, 0]) + struct.pack("!HI", rng.choice([0, 0, 8, 1]), 7)
        elif kind == 51:
            ext = authentication_header(rng, next_header)
        else:
            ext = routing_header(rng, next_header)
        chain, next_header = ext + chain, kind
    length = len(chain) + len(payload)
    if rng.random() < 0.05:
        length = rng.choice([0, length - 3, length + 5])
    header = struct.pack(
        "!IHBB16s16s",
        0x60000000,
        length & 0xFFFF,
        next_header,
        64,
        rng.choice(ADDRESSES_V6),
        rng.choice(ADDRESSES_V6),
    )
    return header + chain + payload


def routing_header(rng: random.Random, next_header: int) -> bytes:
    kind = rng.choice([0, 2, 4, 4, 3])
    count = rng.randint(1, 3) if kind != 2 else 1
    extra = bytes([rng.randint(0, count - 1), rng.choice([0, 0, 0x80]), 0, rng.randint(0, 20)])
    if kind != 4 and rng.random() < 0.1:
        extra = random_bytes(rng, 4)  # reserved bits set
    length = 2 * count if rng.random() < 0.9 else 2 * count - 1
    head = bytes([next_header, length, kind, rng.randint(0, count)])
    return (
        head
        + (extra if kind == 4 else bytes(4))
        + b"".join(rng.choice(ADDRESSES_V6) for _ in range(count))
    )


def authentication_header(rng: random.Random, next_header: int) -> bytes:
    words = rng.choice([1, 3, 4, 6])  # total length (words + 2) * 4, as RFC 4302 §2.2 counts it
    body = struct.pack("!II", rng.getrandbits(32), rng.getrandbits(16))
    return bytes([next_header, words, 0, 0]) + body + random_bytes(rng, (words + 2) * 4 - 12)


def ip_packet(rng: random.Random) -> bytes:
    segment = random_segment(rng)
    if rng.random() < 0.03:
        segment = authentication_header(rng, 6) + segment
        packet = ipv6(rng, segment, 51) if rng.random() < 0.35 else ipv4(rng, segment, 51)
    else:
        packet = ipv6(rng, segment) if rng.random() < 0.35 else ipv4(rng, segment)
    tunnel = rng.random()
    if tunnel < 0.03:  # IP in IP
        version = packet[0] >> 4
        packet = ipv4(rng, packet, 4 if version == 4 else 41)
    elif tunnel < 0.06:  # GRE, sometimes with a key and a sequence number
        version = packet[0] >> 4
        flags = rng.choice([0, 0x2000, 0x1000, 0x3000, 0x8000])
        gre = struct.pack("!HH", flags, 0x0800 if version == 4 else 0x86DD)
        gre += bytes(4) * bin(flags).count("1")
        packet = ipv4(rng, gre + packet, 47)
    return packet


def frame(rng: random.Random, link_type: int, packet: bytes) -> bytes:
    ethertype = 0x86DD if packet[0] >> 4 == 6 else 0x0800
    if link_type == 1:
        head = bytes(12)
        for _ in range(rng.choice([0, 0, 0, 1, 2])):
            head += struct.pack("!HH", rng.choice([0x8100, 0x88A8]), rng.getrandbits(12))
        encapsulation = rng.random()
        if encapsulation < 0.08:  # MPLS, with the explicit-null labels now and then
            labels = [rng.choice([0, 2, 3, 16, 999, 1048575]) for _ in range(rng.randint(1, 3))]
            stack = b"".join(
                struct.pack("!I", (label << 12) | (0x100 if i == len(labels) - 1 else 0) | 64)
                for i, label in enumerate(labels)
            )
            return head + struct.pack("!H", 0x8847) + stack + packet
        if encapsulation < 0.12:  # PPPoE session, its length field sometimes wrong
            ppp = struct.pack("!H", 0x0021 if ethertype == 0x0800 else 0x0057) + packet
            length = len(ppp) if rng.random() < 0.8 else rng.randint(0, len(ppp) + 10)
            pppoe = struct.pack("!BBHH", 0x11, 0, rng.getrandbits(16), length)
            return head + struct.pack("!H", 0x8864) + pppoe + ppp
        if encapsulation < 0.15:  # IEEE 802.3 with LLC/SNAP
            snap = b"\xaa\xaa\x03\x00\x00\x00" + struct.pack("!H", ethertype) + packet
            return head + struct.pack("!H", min(len(snap), 1500)) + snap
        return head + struct.pack("!H", ethertype) + packet
    if link_type == 0:
        return struct.pack("<I", 2 if ethertype == 0x0800 else rng.choice([24, 28, 30])) + packet
    if link_type == 108:
        return struct.pack(">I", 2 if ethertype == 0x0800 else 30) + packet
    if link_type == 113:
        if rng.random() < 0.1:
            tag = struct.pack("!HH", rng.getrandbits(12), ethertype)
            return struct.pack("!HHH8sH", 0, 1, 6, bytes(8), 0x8100) + tag + packet
        return struct.pack("!HHH8sH", rng.randint(0, 4), 1, 6, bytes(8), ethertype) + packet
    if link_type == 9:
        protocol = struct.pack("!H", 0x0021 if ethertype == 0x0800 else 0x0057)
        return (b"\xff\x03" if rng.random() < 0.5 else b"") + protocol + packet
    if link_type == 276:
        ifindex = rng.choice([0, 1, 4242])
        return struct.pack(
            "!HHIHBB8s", ethertype, 0, ifindex, 1, rng.randint(0, 5), 6, bytes(8)
        ) + (packet)
    return packet


def random_capture(path: Path, link_type: int, seed: int, count: int) -> Path:
    rng = random.Random(seed)
    with open_writer(path, link_type) as capture:
        for index in range(count):
            data = frame(rng, link_type, ip_packet(rng))
            original_length = len(data)
            if rng.random() < 0.15:
                data = data[: rng.randint(0, len(data))]
            elif rng.random() < 0.05:
                original_length += rng.randint(1, 50)
            capture.write(1_600_000_000_000_000_000 + index * 1_234_567, data, original_length)
    return path


@needs_tcpdump
@pytest.mark.tools
@pytest.mark.parametrize("link_type", LINK_TYPES)
def test_random_frames_match_tcpdump(tmp_path: Path, link_type: int) -> None:
    path = random_capture(
        tmp_path / "random.pcap", link_type, 9293 + link_type, PACKETS_PER_LINK_TYPE
    )
    for absolute in (False, True):
        result = compare(path, absolute=absolute)
        assert result.total > PACKETS_PER_LINK_TYPE * 0.9
        assert result.mismatches == [], result.report()


APPLICATION_PAYLOADS = [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"get /x HTTP/1.0\n",
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.1 2000 OK\r\n",
    b"FOO 200 bar\r\n",
    b"POST  /a\tb HTTP/1.1\r\n",
    b"GET / HTTP\rX",
    b"SSH-2.0-OpenSSH_9.6\r\n",
    b"SSH-1.5-x\n",
    b"220 ready\r\n",
    b"USER anonymous\r\n",
    b"\r\n",
    b"\x00\x01binary",
    b"GET \xff\r\n",
    b" GET / HTTP/1.1\r\n",
    b"PLAY rtsp://x/ RTSP/1.0\r\n",
    b"RTSP/1.0 200 OK\r\n",
    b"PROPFIND / x\r\n",
    b"A" * 200 + b" 200\r\n",
    b"GET " + b"B" * 130 + b" 404\r\n",
]
APPLICATION_PORTS = [21, 22, 23, 25, 80, 554, 8080, 8554, 40000]


@needs_tcpdump
@pytest.mark.tools
def test_application_first_lines_match_tcpdump(tmp_path: Path) -> None:
    """Whole lines, with the first line tcpdump shows for SMTP, SSH, FTP, HTTP and RTSP."""
    rng = random.Random(2616)
    path = tmp_path / "text.pcap"
    with open_writer(path, 101) as capture:
        for index in range(1500):
            payload = rng.choice(APPLICATION_PAYLOADS)
            if rng.random() < 0.3:
                payload = payload[: rng.randint(0, len(payload))]
            if rng.random() < 0.2:
                payload += random_bytes(rng, 5)
            ports = (rng.choice(APPLICATION_PORTS), rng.choice(APPLICATION_PORTS))
            segment = struct.pack("!HHIIBBHHH", *ports, 1, 1, 0x50, 0x18, 100, 0, 0) + payload
            packet = ipv4(rng, segment)
            data = packet[: rng.randint(40, len(packet))] if rng.random() < 0.2 else packet
            capture.write(1_700_000_000_000_000_000 + index * 1000, data, len(packet))
    expected = tcpdump_packets(path)
    got = synack_packets(path)
    assert len(got) > 1400
    assert {number: expected.get(number) for number in got} == got


@needs_tcpdump
@pytest.mark.tools
@pytest.mark.parametrize("link_type", LINK_TYPES)
def test_mutated_frames_match_tcpdump(tmp_path: Path, link_type: int) -> None:
    """The same frames with a few random bytes overwritten in their first 80 bytes."""
    rng = random.Random(793 + link_type)
    path = tmp_path / "mutated.pcap"
    with open_writer(path, link_type) as capture:
        for index in range(1000):
            data = bytearray(frame(rng, link_type, ip_packet(rng)))
            for _ in range(rng.randint(1, 3)):
                data[rng.randrange(min(len(data), 80))] = rng.getrandbits(8)
            original_length = len(data) + rng.choice([0, 0, 0, 5])
            capture.write(1_650_000_000_000_000_000 + index * 1000, bytes(data), original_length)
    result = compare(path)
    assert result.total > 700
    assert result.mismatches == [], result.report()
