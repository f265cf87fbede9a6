"""The synthetic benchmark capture: deterministic, valid checksums, complete connections."""

from __future__ import annotations

import hashlib
import sys
from collections import Counter
from pathlib import Path

import pytest

from synack.wire.fastpath import FLAGS, PAYLOAD_LEN, VERSION, decode_tcp
from synack.wire.ip import ipv4_header_ok, parse_tcp_packet
from synack.wire.tcp import TcpFlags, tcp_checksum_ok

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from synth import generate


def _packets(path: Path) -> list[bytes]:
    dpkt = pytest.importorskip("dpkt")
    with path.open("rb") as f:
        reader = dpkt.pcap.Reader(f)
        assert reader.datalink() == 1
        return [bytes(buf) for _ts, buf in reader]


def test_deterministic_and_valid(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.pcap", tmp_path / "b.pcap", tmp_path / "c.pcap"
    assert generate(a, packets=3000, ipv6_share=0.4, seed=7) == 3000
    generate(b, packets=3000, ipv6_share=0.4, seed=7)
    generate(c, packets=3000, ipv6_share=0.4, seed=8)
    digest = [hashlib.sha256(p.read_bytes()).digest() for p in (a, b, c)]
    assert digest[0] == digest[1] != digest[2]

    frames = _packets(a)
    assert len(frames) == 3000
    versions: Counter[int] = Counter()
    flags: Counter[int] = Counter()
    for frame in frames:
        fast = decode_tcp(1, frame)
        assert fast is not None
        ip, seg = parse_tcp_packet(frame[14:])
        assert tcp_checksum_ok(ip.payload, ip.src.packed, ip.dst.packed)
        assert ip.version == 6 or ipv4_header_ok(frame[14:])
        assert fast[PAYLOAD_LEN] == len(seg.payload) and fast[FLAGS] == seg.flags
        versions[fast[VERSION]] += 1
        flags[fast[FLAGS]] += 1
    assert 0.3 < versions[6] / 3000 < 0.5
    syn, fin = flags[TcpFlags.SYN], flags[TcpFlags.FIN | TcpFlags.ACK]
    assert syn > 200 and flags[TcpFlags.SYN | TcpFlags.ACK] > 200
    assert fin > 200  # connections close


def test_ipv4_only(tmp_path: Path) -> None:
    path = tmp_path / "v4.pcap"
    generate(path, packets=200, ipv6_share=0.0, seed=1)
    assert {decode_tcp(1, f)[VERSION] for f in _packets(path)} == {4}  # type: ignore[index]
