"""Generate a large synthetic Ethernet pcap of many short TCP connections.

Each connection: three-way handshake (MSS, SACK-permitted, timestamps, window scale), a request,
one to three response segments, acknowledgments, and a FIN close from both sides. IPv4 and IPv6 are
mixed; a few dozen connections are interleaved at any time. Deterministic for a seed; every IPv4
header and TCP checksum is valid.

Speed: each packet shape is built once with synack's codec as a template; packets copy a template
and patch addresses, ports, sequence numbers and timestamps with `struct.pack_into`, updating the
checksums incrementally from the template's precomputed sum (RFC 1624).

    python benchmarks/synth.py out.pcap [--packets N] [--ipv6-share F] [--seed S]
"""

from __future__ import annotations

import argparse
import contextlib
import random
import struct
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

from synack.wire.checksum import ones_complement_sum
from synack.wire.ip import IPV4_DF, IPv4Header, IPv6Header, build_ipv4, build_ipv6
from synack.wire.tcp import (
    Mss,
    Nop,
    SackPermitted,
    TcpFlags,
    TcpOption,
    TcpSegment,
    Timestamps,
    WindowScale,
    build_tcp,
)

_PCAP_HEADER = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")
_V4_PATCH = struct.Struct("!HHBBH4s4sHHII")  # from IPv4 ident to TCP ack
_V6_PATCH = struct.Struct("!16s16sHHII")  # from IPv6 source to TCP ack
_U16 = struct.Struct("!H")
_TS = struct.Struct("!II")

CLIENT_MAC = bytes.fromhex("020000000001")
SERVER_MAC = bytes.fromhex("020000000002")
SYN_OPTIONS: tuple[TcpOption, ...] = (
    Mss(1460), SackPermitted(), Timestamps(0, 0), Nop(), WindowScale(7)
)
ACK_OPTIONS: tuple[TcpOption, ...] = (Nop(), Nop(), Timestamps(0, 0))
REQUEST_LEN = 100
FULL_LEN = 1448
LAST_LEN = 300

S, SA, A, PA, FA = (
    TcpFlags.SYN, TcpFlags.SYN | TcpFlags.ACK, TcpFlags.ACK, TcpFlags.PSH | TcpFlags.ACK,
    TcpFlags.FIN | TcpFlags.ACK,
)


@dataclass(frozen=True, slots=True)
class _Template:
    data: bytes
    ip_sum: int  # IPv4 header sum with ident, checksum and addresses zero (0 for IPv6)
    tcp_sum: int  # TCP sum with ports, seq, ack, timestamps, checksum and addresses zero
    tcp_off: int
    ts_off: int  # offset of the TSval within the frame


def _payload(n: int) -> bytes:
    pattern = b"synack synthetic payload "
    return (pattern * (n // len(pattern) + 1))[:n]


def _template(version: int, from_client: bool, flags: int, payload_len: int) -> _Template:
    options = SYN_OPTIONS if flags & TcpFlags.SYN else ACK_OPTIONS
    window = 64240 if flags == S else 502
    seg = TcpSegment(0, 0, 0, 0, TcpFlags(flags), window, 0, options, _payload(payload_len), 0)
    macs = SERVER_MAC + CLIENT_MAC if from_client else CLIENT_MAC + SERVER_MAC
    if version == 4:
        zero4 = IPv4Address(0)
        tcp = build_tcp(seg, zero4.packed, zero4.packed)
        ip = build_ipv4(IPv4Header(zero4, zero4, 6, 64, 0, 0, IPV4_DF, checksum=0), tcp)
        frame = macs + b"\x08\x00" + ip
        ip_sum, tcp_off = ones_complement_sum(ip[:20]), 34
    else:
        zero6 = IPv6Address(0)
        tcp = build_tcp(seg, zero6.packed, zero6.packed)
        frame = macs + b"\x86\xdd" + build_ipv6(IPv6Header(zero6, zero6, 6, 64), tcp)
        ip_sum, tcp_off = 0, 54
    ts_off = tcp_off + 20 + (8 if flags & TcpFlags.SYN else 4)
    return _Template(frame, ip_sum, ones_complement_sum(tcp) + 6 + len(tcp), tcp_off, ts_off)


def _words(x: int) -> int:
    return (x >> 16) + (x & 0xFFFF)


def _script(isn_c: int, isn_s: int, segments: int) -> list[tuple[bool, int, int, int, int]]:
    """(from_client, flags, payload length, seq, ack) of each packet of one connection."""
    m = 0xFFFFFFFF
    c, s = isn_c, isn_s
    out: list[tuple[bool, int, int, int, int]] = [
        (True, S, 0, c, 0), (False, SA, 0, s, (c + 1) & m)
    ]
    c, s = (c + 1) & m, (s + 1) & m
    out.append((True, A, 0, c, s))
    out.append((True, PA, REQUEST_LEN, c, s))
    c = (c + REQUEST_LEN) & m
    out.append((False, A, 0, s, c))
    for i in range(segments):
        n = LAST_LEN if i == segments - 1 else FULL_LEN
        out.append((False, PA if i == segments - 1 else A, n, s, c))
        s = (s + n) & m
    out.append((True, A, 0, c, s))
    out.append((True, FA, 0, c, s))
    c = (c + 1) & m
    out.append((False, FA, 0, s, c))
    s = (s + 1) & m
    out.append((True, A, 0, c, s))
    return out


class _Conn:
    __slots__ = ("addr_sum", "client", "cport", "index", "script", "server", "sport",
                 "start_ms", "ts", "version")

    def __init__(self, rng: random.Random, version: int, now_ms: int) -> None:
        self.version = version
        if version == 4:
            self.client = bytes((10, rng.randrange(256), rng.randrange(256), rng.randrange(1, 255)))
            self.server = bytes((192, 0, 2, rng.randrange(1, 255)))
        else:
            self.client = bytes.fromhex("fd000000000000000000") + rng.randbytes(6)
            self.server = bytes.fromhex("20010db8000000000000000000000000")[:15] + bytes(
                (rng.randrange(1, 255),)
            )
        self.cport = rng.randrange(32768, 61000)
        self.sport = 443 if rng.random() < 0.5 else 80
        self.addr_sum = (
            int.from_bytes(self.client, "big") % 0xFFFF
            + int.from_bytes(self.server, "big") % 0xFFFF
            + self.cport + self.sport
        )
        self.script = _script(rng.getrandbits(32), rng.getrandbits(32), rng.randrange(1, 4))
        self.index = 0
        self.start_ms = now_ms
        self.ts = [rng.getrandbits(31), rng.getrandbits(31)]  # client, server clocks


def generate(
    path: str | Path, packets: int = 1_000_000, ipv6_share: float = 0.3, seed: int = 1,
    concurrency: int = 32,
) -> int:
    """Write a pcap of `packets` TCP packets to `path`; returns the number written."""
    rng = random.Random(seed)
    templates: dict[tuple[int, bool, int, int], _Template] = {}
    now_us = 1_700_000_000 * 1_000_000
    ident = 0

    def new_conn() -> _Conn:
        return _Conn(rng, 6 if rng.random() < ipv6_share else 4, now_us // 1000)

    pool = [new_conn() for _ in range(concurrency)]
    buf = bytearray(_PCAP_HEADER.pack(0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    rec_pack, v4_pack, v6_pack = _RECORD.pack, _V4_PATCH.pack_into, _V6_PATCH.pack_into
    u16_pack, ts_pack = _U16.pack_into, _TS.pack_into
    randrange = rng.randrange
    with open(path, "wb") as out:
        for _ in range(packets):
            k = randrange(concurrency)
            conn = pool[k]
            from_client, flags, plen, seq, ack = conn.script[conn.index]
            conn.index += 1
            if conn.index == len(conn.script):
                pool[k] = new_conn()
            key = (conn.version, from_client, flags, plen)
            t = templates.get(key)
            if t is None:
                t = templates[key] = _template(*key)
            now_us += randrange(5, 400)
            elapsed = now_us // 1000 - conn.start_ms
            me, peer = (0, 1) if from_client else (1, 0)
            tsval = (conn.ts[me] + elapsed) & 0xFFFFFFFF
            tsecr = 0 if flags == S else (conn.ts[peer] + elapsed) & 0xFFFFFFFF
            if from_client:
                src, dst, sp, dp = conn.client, conn.server, conn.cport, conn.sport
            else:
                src, dst, sp, dp = conn.server, conn.client, conn.sport, conn.cport
            total = t.tcp_sum + conn.addr_sum + _words(seq) + _words(ack) + _words(tsval)
            total += _words(tsecr)
            tcp_ck = ~(total % 0xFFFF or 0xFFFF) & 0xFFFF
            data = t.data
            n = len(data)
            pos = len(buf) + 16
            buf += rec_pack(now_us // 1_000_000, now_us % 1_000_000, n, n)
            buf += data
            if conn.version == 4:
                ident = (ident + 1) & 0xFFFF
                ip_total = t.ip_sum + ident + (conn.addr_sum - conn.cport - conn.sport)
                ip_ck = ~(ip_total % 0xFFFF or 0xFFFF) & 0xFFFF
                v4_pack(buf, pos + 18, ident, 0x4000, 64, 6, ip_ck, src, dst, sp, dp, seq, ack)
            else:
                v6_pack(buf, pos + 22, src, dst, sp, dp, seq, ack)
            u16_pack(buf, pos + t.tcp_off + 16, tcp_ck)
            ts_pack(buf, pos + t.ts_off, tsval, tsecr)
            if len(buf) > 1 << 22:
                out.write(buf)
                buf.clear()
        out.write(buf)
    return packets


@contextlib.contextmanager
def capture_or_generated(capture: str | None, packets: int, seed: int) -> Iterator[Path]:
    """`capture` if given, else a synthetic capture of `packets` packets in a temporary
    directory that is removed afterwards (for the benchmark scripts)."""
    if capture:
        yield Path(capture)
        return
    with tempfile.TemporaryDirectory(prefix="synack-bench-") as tmp:
        path = Path(tmp) / "synthetic.pcap"
        start = time.perf_counter()
        generate(path, packets=packets, seed=seed)
        print(f"generated   {packets:>10,} packets  {path.stat().st_size / 1e6:8.1f} MB"
              f"  in {time.perf_counter() - start:6.2f} s")
        yield path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--ipv6-share", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    n = generate(args.path, packets=args.packets, ipv6_share=args.ipv6_share, seed=args.seed)
    elapsed = time.perf_counter() - start
    size = Path(args.path).stat().st_size
    print(f"wrote {n} packets ({size / 1e6:.1f} MB) to {args.path} in {elapsed:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
