"""tcpdump lines for crafted corner cases: encapsulations, IPv6 extension headers, odd options,
flags, cut captures, malformed headers and sequence numbers near 2**32.

Each case is pinned to the exact line tcpdump 4.99 prints (so these tests need no tcpdump), and the
same frames are also written to capture files and checked against the real tcpdump when present.
"""

from __future__ import annotations

import shutil
import socket
import struct
from pathlib import Path
from typing import Any

import pytest
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import (
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.l2 import GRE, CookedLinux, Dot1Q, Ether
from scapy.packet import Raw

from synack.capture.reader import open_capture
from synack.capture.tcpdump import (
    TcpdumpFormatter,
    format_ipv6,
    format_timestamp,
    trace_capture,
)
from synack.capture.writer import open_writer
from test_trace_tcpdump import compare, needs_tcpdump, synack_packets, tcpdump_packets

ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
T0 = 1_000_000_000 * 1_000_000_000  # 2001-09-09 01:46:40 UTC, in nanoseconds
TS = "01:46:40.000000"
A, B = "10.0.0.1", "10.0.0.2"
A6, B6 = "2001:db8::1", "2001:db8::2"

DLT_NULL, DLT_EN10MB, DLT_RAW, DLT_LOOP, DLT_SLL, DLT_SLL2 = 0, 1, 101, 108, 113, 276


def tcp(**fields: Any) -> TCP:
    base: dict[str, Any] = {"sport": 40000, "dport": 80, "flags": "A", "seq": 1000, "ack": 2000}
    base.update(fields)
    return TCP(**base)


def raw_tcp(options: bytes, *, flags: int = 0x10, payload: bytes = b"") -> bytes:
    """A TCP header with exactly these option bytes (padded with zeros to a 4-byte multiple)."""
    options += b"\x00" * (-len(options) % 4)
    offset = (20 + len(options)) // 4
    header = struct.pack("!HHIIBBHHH", 40000, 80, 1000, 2000, offset << 4, flags, 8192, 0, 0)
    return header + options + payload


def eth_ip(segment: bytes | TCP, src: str = A, dst: str = B) -> bytes:
    return bytes(ETH / IP(src=src, dst=dst, proto=6) / Raw(bytes(segment)))


def line(rest: str) -> str:
    return f"{TS} {rest}"


# -- single frames, exact lines ----------------------------------------------------------------

SINGLE: list[tuple[str, int, bytes, int | None, str | None]] = [
    (
        "all eight flag letters in tcpdump's order",
        DLT_EN10MB,
        bytes(ETH / IP(src=A, dst=B) / tcp(flags="FSRPAUEC", urgptr=7)),
        None,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [FSRP.UEW], seq 1000, ack 2000, win 8192, "
        "urg 7, length 0",
    ),
    (
        "no flags at all; the AE bit (0x100) is not shown by tcpdump 4.99",
        DLT_EN10MB,
        eth_ip(raw_tcp(b"", flags=0x00)[:12] + b"\x51\x00" + raw_tcp(b"")[14:]),
        None,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [none], win 8192, length 0",
    ),
    (
        "ECE and CWR on a SYN",
        DLT_EN10MB,
        bytes(ETH / IP(src=A, dst=B) / tcp(flags="SEC", ack=0)),
        None,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [SEW], seq 1000, win 8192, length 0",
    ),
    (
        "common options",
        DLT_EN10MB,
        bytes(
            ETH
            / IP(src=A, dst=B)
            / tcp(
                flags="S",
                options=[
                    ("MSS", 1460),
                    ("SAckOK", b""),
                    ("Timestamp", (123, 0)),
                    ("NOP", None),
                    ("WScale", 7),
                ],
            )
        ),
        None,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 1000, win 8192, "
        "options [mss 1460,sackOK,TS val 123 ecr 0,nop,wscale 7], length 0",
    ),
    (
        "unknown options, TCP-AO, UTO, TFO and the experimental TFO",
        DLT_EN10MB,
        eth_ip(
            raw_tcp(
                bytes([99, 4, 1, 2, 100, 2])
                + bytes([28, 4, 0x81, 0x00])
                + bytes([34, 2])
                + bytes([254, 8, 0xF9, 0x89])
                + b"abcd"
                + bytes([29, 5, 1, 2, 0xAB])
            )
        ),
        None,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 2000, win 8192, options [unknown-99 "
        "0x0102,unknown-100,uto 0x8100 16512,tfo  cookiereq,exp-tfo cookie 61626364,tcp-ao "
        "keyid 1 rnextkeyid 2 mac 0xab,eol], length 0",
    ),
    (
        "an MD5 signature cannot be checked without a secret",
        DLT_EN10MB,
        eth_ip(raw_tcp(bytes([19, 18]) + bytes(range(16)))),
        None,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 2000, win 8192, options [md5 shared "
        "secret not supplied with -M, can't check - 000102030405060708090a0b0c0d0e0f,eol], "
        "length 0",
    ),
    (
        "MPTCP capable and data sequence signal",
        DLT_EN10MB,
        eth_ip(
            raw_tcp(
                bytes([30, 20, 0x01, 0x81])
                + bytes(range(1, 17))
                + bytes([30, 8, 0x20, 0x01])
                + struct.pack("!I", 77)
            )
        ),
        None,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 2000, win 8192, options [mptcp 20 "
        "capable v1 csum {0x102030405060708,0x90a0b0c0d0e0f10},mptcp 8 dss ack 77], length 0",
    ),
    (
        "an option longer than its kind: tcpdump notes the length and reads on",
        DLT_EN10MB,
        eth_ip(raw_tcp(bytes([1, 1, 2, 5, 1, 1]))),
        None,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 2000, win 8192, "
        "options [nop,nop,mss 257[len 5],eol], length 0",
    ),
    (
        "an option running past the header ends the line with [bad opt]",
        DLT_EN10MB,
        eth_ip(raw_tcp(bytes([1, 1, 3, 2]))),
        None,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 2000, win 8192, "
        "options [nop,nop,wscale[bad opt]]",
    ),
    (
        "malformed SACK",
        DLT_EN10MB,
        eth_ip(raw_tcp(bytes([5, 9]) + bytes(7))),
        None,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 2000, win 8192, "
        "options [sack invalid sack,eol], length 0",
    ),
    (
        "data offset below five words",
        DLT_EN10MB,
        eth_ip(raw_tcp(b"")[:12] + b"\x20" + raw_tcp(b"")[13:]),
        None,
        "IP 10.0.0.1.40000 > 10.0.0.2.80:  tcp 12 [bad hdr length 8 - too short, < 20]",
    ),
    (
        "data offset beyond the segment",
        DLT_EN10MB,
        eth_ip(raw_tcp(b"")[:12] + b"\xf0" + raw_tcp(b"")[13:]),
        None,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.] [bad hdr length 60 - too long, > 20]",
    ),
    (
        "capture cut inside the TCP ports",
        DLT_EN10MB,
        bytes(ETH / IP(src=A, dst=B) / tcp())[:36],
        60,
        "IP 10.0.0.1 > 10.0.0.2: [|tcp]",
    ),
    (
        "capture cut inside the fixed TCP header",
        DLT_EN10MB,
        bytes(ETH / IP(src=A, dst=B) / tcp())[:45],
        60,
        "IP 10.0.0.1.40000 > 10.0.0.2.80:  [|tcp]",
    ),
    (
        "capture cut inside the options",
        DLT_EN10MB,
        bytes(
            ETH
            / IP(src=A, dst=B)
            / tcp(options=[("MSS", 1460), ("NOP", None), ("WScale", 7), ("SAckOK", b"")])
        )[:61],
        80,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 2000, win 8192, "
        "options [mss 1460,nop,wscale [|tcp]>",
    ),
    (
        "capture cut inside the IPv4 header",
        DLT_EN10MB,
        bytes(ETH / IP(src=A, dst=B) / tcp())[:30],
        60,
        "IP  [|ip]",
    ),
    (
        "IP total length larger than the frame",
        DLT_EN10MB,
        bytes(ETH / IP(src=A, dst=B, len=60) / tcp()),
        None,
        "IP truncated-ip - 20 bytes missing! 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], "
        "seq 1000:1020, ack 2000, win 8192, length 20: HTTP",
    ),
    (
        "IP total length shorter than the header",
        DLT_EN10MB,
        bytes(ETH / IP(src=A, dst=B, len=12) / tcp()),
        None,
        "IP bad-len 12",
    ),
    (
        "Ethernet padding after the IP datagram is not TCP data",
        DLT_EN10MB,
        bytes(ETH / IP(src=A, dst=B) / tcp() / Raw(b"hi")) + bytes(10),
        None,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], seq 1000:1002, ack 2000, win 8192, "
        "length 2: HTTP",
    ),
    (
        "IPv4 options are not shown",
        DLT_EN10MB,
        bytes(ETH / IP(src=A, dst=B, options=[Raw(b"\x94\x04\x00\x00")]) / tcp()),
        None,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 2000, win 8192, length 0",
    ),
    (
        "a later IPv4 fragment has no TCP header",
        DLT_EN10MB,
        bytes(ETH / IP(src=A, dst=B, frag=100, proto=6) / Raw(b"x" * 16)),
        None,
        "IP 10.0.0.1 > 10.0.0.2: ip-proto-6",
    ),
    (
        "stacked 802.1Q/802.1ad tags are not shown without -e",
        DLT_EN10MB,
        bytes(Ether(type=0x88A8) / Dot1Q(vlan=10) / Dot1Q(vlan=20) / IP(src=A, dst=B) / tcp()),
        None,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 2000, win 8192, length 0",
    ),
    (
        "an MPLS label stack is shown",
        DLT_EN10MB,
        bytes(ETH / MPLS(label=16, s=0, ttl=9) / MPLS(label=17, ttl=8) / IP(src=A, dst=B) / tcp()),
        None,
        "MPLS (label 16, tc 0, ttl 9) (label 17, tc 0, [S], ttl 8) IP 10.0.0.1.40000 > "
        "10.0.0.2.80: Flags [.], ack 2000, win 8192, length 0",
    ),
    (
        "GRE with a key around IPv4",
        DLT_EN10MB,
        bytes(
            ETH
            / IP(src="192.0.2.1", dst="192.0.2.2")
            / GRE(key_present=1, key=5)
            / IP(src=A, dst=B)
            / tcp()
        ),
        None,
        "IP 192.0.2.1 > 192.0.2.2: GREv0, key=0x5, length 48: IP 10.0.0.1.40000 > "
        "10.0.0.2.80: Flags [.], ack 2000, win 8192, length 0",
    ),
    (
        "IPv6",
        DLT_EN10MB,
        bytes(ETH / IPv6(src=A6, dst="fe80::1:0:0:2") / tcp()),
        None,
        "IP6 2001:db8::1.40000 > fe80::1:0:0:2.80: Flags [.], ack 2000, win 8192, length 0",
    ),
    (
        "IPv6 hop-by-hop and destination options: ports without addresses",
        DLT_EN10MB,
        bytes(ETH / IPv6(src=A6, dst=B6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / tcp()),
        None,
        "IP6 2001:db8::1 > 2001:db8::2: HBH DSTOPT 40000 > 80: Flags [.], ack 2000, "
        "win 8192, length 0",
    ),
    (
        "IPv6 routing header",
        DLT_EN10MB,
        bytes(ETH / IPv6(src=A6, dst=B6) / IPv6ExtHdrRouting(addresses=["2001:db8::3"]) / tcp()),
        None,
        "IP6 2001:db8::1 > 2001:db8::2: RT6 (len=2, type=0 [Deprecated], segleft=1, "
        "[0]2001:db8::3) 40000 > 80: Flags [.], ack 2000, win 8192, length 0",
    ),
    (
        "IPv6 first fragment",
        DLT_EN10MB,
        bytes(ETH / IPv6(src=A6, dst=B6) / IPv6ExtHdrFragment(id=7, m=1) / tcp()),
        None,
        "IP6 2001:db8::1 > 2001:db8::2: frag (0|20) 40000 > 80: Flags [.], ack 2000, "
        "win 8192, length 0",
    ),
    (
        "IPv6 later fragment",
        DLT_EN10MB,
        bytes(ETH / IPv6(src=A6, dst=B6) / IPv6ExtHdrFragment(id=7, offset=100, nh=6) / Raw(b"x")),
        None,
        "IP6 2001:db8::1 > 2001:db8::2: frag (800|1)",
    ),
    (
        "hop-by-hop options after another extension header",
        DLT_EN10MB,
        bytes(ETH / IPv6(src=A6, dst=B6) / IPv6ExtHdrDestOpt() / IPv6ExtHdrHopByHop() / tcp()),
        None,
        None,
    ),
    (
        "IPv4-mapped addresses",
        DLT_EN10MB,
        bytes(ETH / IPv6(src="::ffff:1.2.3.4", dst="::1") / tcp()),
        None,
        "IP6 ::ffff:1.2.3.4.40000 > ::1.80: Flags [.], ack 2000, win 8192, length 0",
    ),
    (
        "Linux cooked capture (SLL)",
        DLT_SLL,
        bytes(
            CookedLinux(pkttype=4, lladdrtype=1, lladdrlen=6, proto=0x0800)
            / IP(src=A, dst=B)
            / tcp()
        ),
        None,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 2000, win 8192, length 0",
    ),
    (
        "Linux cooked capture v2 (SLL2): interface and direction",
        DLT_SLL2,
        struct.pack("!HHIHBB8s", 0x0800, 0, 0, 1, 4, 6, bytes(8)) + bytes(IP(src=A, dst=B) / tcp()),
        None,
        "?     Out IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 2000, win 8192, length 0",
    ),
    (
        "BSD loopback (host byte order family)",
        DLT_NULL,
        struct.pack("<I", 30) + bytes(IPv6(src="::1", dst="::1") / tcp()),
        None,
        "IP6 ::1.40000 > ::1.80: Flags [.], ack 2000, win 8192, length 0",
    ),
    (
        "OpenBSD loopback (network byte order family)",
        DLT_LOOP,
        struct.pack(">I", 2) + bytes(IP(src=A, dst=B) / tcp()),
        None,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 2000, win 8192, length 0",
    ),
    (
        "raw IP",
        DLT_RAW,
        bytes(IP(src=A, dst=B) / tcp(flags="R", ack=0)),
        None,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [R], seq 1000, win 8192, length 0",
    ),
    (
        "a bad TCP checksum changes nothing without -v",
        DLT_EN10MB,
        bytes(ETH / IP(src=A, dst=B) / tcp(chksum=0xDEAD) / Raw(b"abc")),
        None,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], seq 1000:1003, ack 2000, win 8192, "
        "length 3: HTTP",
    ),
    (
        "not TCP",
        DLT_EN10MB,
        bytes(ETH / IP(src=A, dst=B, proto=17) / Raw(bytes(8))),
        None,
        None,
    ),
]


@pytest.mark.parametrize(
    ("link_type", "frame", "original_length", "expected"),
    [case[1:] for case in SINGLE],
    ids=[case[0] for case in SINGLE],
)
def test_single_frame(
    link_type: int, frame: bytes, original_length: int | None, expected: str | None
) -> None:
    got = TcpdumpFormatter().format(T0, link_type, frame, original_length)
    assert got == (None if expected is None else line(expected))


# -- conversations: relative numbers, -S, SACK, wraparound ------------------------------------


def conversation() -> list[bytes]:
    """A handshake with ISNs just below 2**32, data across the wrap, a SACK, and a new SYN."""
    isn_a, isn_b = 0xFFFFFFF0, 0xFFFFFF00
    c: dict[str, Any] = {"src": A, "dst": B}
    s: dict[str, Any] = {"src": B, "dst": A}
    cp: dict[str, Any] = {"sport": 40000, "dport": 80}
    sp: dict[str, Any] = {"sport": 80, "dport": 40000}
    frames = [
        IP(**c) / TCP(**cp, flags="S", seq=isn_a),
        IP(**s) / TCP(**sp, flags="SA", seq=isn_b, ack=isn_a + 1),
        IP(**c) / TCP(**cp, flags="A", seq=isn_a + 1, ack=(isn_b + 1) & 0xFFFFFFFF),
        IP(**c) / TCP(**cp, flags="PA", seq=isn_a + 1, ack=isn_b + 1) / Raw(b"x" * 100),
        IP(**s)
        / TCP(
            **sp,
            flags="A",
            seq=isn_b + 1,
            ack=isn_a + 1,
            options=[("SAck", ((isn_a + 51) & 0xFFFFFFFF, (isn_a + 101) & 0xFFFFFFFF))],
        ),
        IP(**c) / TCP(**cp, flags="FA", seq=(isn_a + 101) & 0xFFFFFFFF, ack=isn_b + 1),
        # A new connection on the same ports: SYN-ACK resets the base, a bare SYN does not.
        IP(**c) / TCP(**cp, flags="S", seq=5000),
        IP(**c) / TCP(**cp, flags="A", seq=5001, ack=(isn_b + 1) & 0xFFFFFFFF),
        IP(**s) / TCP(**sp, flags="SA", seq=9000, ack=5001),
        IP(**c) / TCP(**cp, flags="A", seq=5001, ack=9001),
    ]
    return [bytes(frame) for frame in frames]


RELATIVE = [
    "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 4294967280, win 8192, length 0",
    "IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [S.], seq 4294967040, ack 4294967281, win 8192, "
    "length 0",
    "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 1, win 8192, length 0",
    "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [P.], seq 1:101, ack 1, win 8192, length 100: HTTP",
    "IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [.], ack 1, win 8192, "
    "options [sack 1 {51:101},eol], length 0",
    "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [F.], seq 101, ack 1, win 8192, length 0",
    "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 5000, win 8192, length 0",
    "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 1, win 8192, length 0",
    "IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [S.], seq 9000, ack 5001, win 8192, length 0",
    "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 1, win 8192, length 0",
]


def test_relative_sequence_numbers_follow_tcpdump() -> None:
    formatter = TcpdumpFormatter()
    got = [formatter.format(T0, DLT_RAW, frame) for frame in conversation()]
    assert got == [line(text) for text in RELATIVE]


def test_absolute_sequence_numbers_with_S() -> None:
    formatter = TcpdumpFormatter(absolute=True)
    got = [formatter.format(T0, DLT_RAW, frame) for frame in conversation()]
    assert got[2] == line(
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 4294967041, win 8192, length 0"
    )
    assert got[3] == line(
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [P.], seq 4294967281:85, ack 4294967041, "
        "win 8192, length 100: HTTP"
    )
    assert got[4] == line(
        "IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [.], ack 4294967281, win 8192, "
        "options [sack 1 {35:85},eol], length 0"
    )


def test_equal_ports_order_by_address() -> None:
    formatter = TcpdumpFormatter()
    first = bytes(IP(src=B, dst=A) / TCP(sport=7, dport=7, flags="A", seq=10, ack=20))
    reply = bytes(IP(src=A, dst=B) / TCP(sport=7, dport=7, flags="A", seq=30, ack=15))
    assert formatter.format(T0, DLT_RAW, first) == line(
        "IP 10.0.0.2.7 > 10.0.0.1.7: Flags [.], ack 20, win 8192, length 0"
    )
    assert formatter.format(T0, DLT_RAW, reply) == line(
        "IP 10.0.0.1.7 > 10.0.0.2.7: Flags [.], ack 5, win 8192, length 0"
    )


# -- timestamps and addresses ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("timestamp_ns", "expected"),
    [
        (0, "00:00:00.000000"),
        (T0 + 999, "01:46:40.000000"),  # nanoseconds are truncated, as libpcap does
        (T0 + 123_456_789, "01:46:40.123456"),
        (86_399 * 10**9 + 999_999_999, "23:59:59.999999"),
        (86_400 * 10**9 * 365 + 3_600 * 10**9, "01:00:00.000000"),
    ],
)
def test_timestamp(timestamp_ns: int, expected: str) -> None:
    assert format_timestamp(timestamp_ns) == expected


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("::", "::"),
        ("::1", "::1"),
        ("1::", "1::"),
        ("2001:db8::1", "2001:db8::1"),
        ("fe80::1:0:0:2", "fe80::1:0:0:2"),
        ("1:0:0:2:0:0:3:4", "1::2:0:0:3:4"),  # the first of equally long zero runs
        ("0:0:2:0:0:0:0:1", "0:0:2::1"),  # the longest zero run
        ("1:0:2:0:3:0:4:0", "1:0:2:0:3:0:4:0"),  # single zero words stay
        ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
        ("::1.2.3.4", "::1.2.3.4"),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
    ],
)
def test_ipv6_text(address: str, expected: str) -> None:
    assert format_ipv6(socket.inet_pton(socket.AF_INET6, address)) == expected


# -- the same frames against the real tcpdump ------------------------------------------------


def write(path: Path, link_type: int, frames: list[tuple[bytes, int | None]]) -> Path:
    with open_writer(path, link_type) as capture:
        for index, (frame, original_length) in enumerate(frames):
            capture.write(T0 + index * 1_000_123, frame, original_length)
    return path


@needs_tcpdump
@pytest.mark.tools
@pytest.mark.parametrize("absolute", [False, True], ids=["relative", "absolute"])
def test_crafted_frames_match_tcpdump(tmp_path: Path, absolute: bool) -> None:
    by_link: dict[int, list[tuple[bytes, int | None]]] = {}
    for _, link_type, frame, original_length, _ in SINGLE:
        by_link.setdefault(link_type, []).append((frame, original_length))
    by_link[DLT_RAW] += [(frame, None) for frame in conversation()]
    for link_type, frames in by_link.items():
        path = write(tmp_path / f"dlt{link_type}.pcap", link_type, frames)
        result = compare(path, absolute=absolute)
        assert result.mismatches == [], result.report()
        # Whole lines too, with what tcpdump appends after `length N`.
        expected = tcpdump_packets(path, absolute=absolute)
        got = synack_packets(path, absolute=absolute)
        assert {number: expected.get(number) for number in got} == got


@needs_tcpdump
@pytest.mark.tools
def test_nanosecond_pcapng_matches_tcpdump(tmp_path: Path) -> None:
    path = tmp_path / "ns.pcapng"
    with open_writer(path, DLT_EN10MB, nanosecond=True) as capture:
        for index, frame in enumerate(conversation()):
            capture.write(T0 + index * 333_333_333 + 999, bytes(ETH / IP(frame)))
    result = compare(path)
    assert result.total == len(conversation())
    assert result.mismatches == [], result.report()


def test_pcap_records_longer_than_the_snapshot_are_cut(tmp_path: Path) -> None:
    """libpcap cuts a record longer than the pcap header's snapshot length; so does synack."""
    frame = bytes(
        ETH / IP(src=A, dst=B) / tcp(options=[("MSS", 1460), ("NOP", None), ("WScale", 7)])
    )
    path = tmp_path / "snap60.pcap"
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 60, DLT_EN10MB)
    record = struct.pack("<IIII", T0 // 10**9, 0, len(frame), len(frame)) + frame
    path.write_bytes(header + record)
    with open_capture(path) as reader:
        lines = list(trace_capture(reader))
    assert lines == [
        (
            1,
            line(
                "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 2000, win 8192, "
                "options [mss 1460,nop, [|tcp]"
            ),
        )
    ]
    if shutil.which("tcpdump"):
        assert compare(path).mismatches == []
