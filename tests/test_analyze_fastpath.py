"""The observer's direct per-packet paths (`engine.run`) and `Tracker.segment` agree.

`engine.run` applies the common segments itself: data and ACKs inline; opening SYNs, SYN-ACKs,
and FINs and RSTs of established connections through `Tracker.open_syn`, `syn_ack_reply`,
`fin_established` and `rst_established`. With an `on_packet` hook it sends every segment through
`Tracker.segment` instead. Both must produce the same connection records, and the same state of
every Zeek, Wireshark and RFC 9293 field after every packet. `flags.analyze`'s quick cases must
agree with the full order of Wireshark's tests (`flags.classify`).
"""

from __future__ import annotations

import ipaddress
import random
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from synack.analyze import analyze_file, shapes
from synack.analyze import flags as wsflags
from synack.analyze.engine import CaptureStats, run
from synack.analyze.summary import ConnectionRecord, make_record
from synack.analyze.tracker import Connection, Side, Tracker
from synack.capture.packet import Record
from synack.capture.reader import open_capture
from synack.wire.fastpath import decode_tcp
from synack.wire.ip import build_tcp_packet
from synack.wire.link import LinkType
from synack.wire.tcp import TcpFlags, TcpSegment

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import synth

TRACES = Path(__file__).resolve().parents[2] / "shared" / "captures" / "zeek" / "traces"


def records(path: Path, *, hooked: bool) -> list[ConnectionRecord]:
    out: list[ConnectionRecord] = []
    hook = (lambda *args: None) if hooked else None
    analyze_file(path, lambda record, conn: out.append(record), on_packet=hook)
    return out


# Per-packet snapshots ---------------------------------------------------------------------------


def _value(v: Any, conn: Connection | None) -> Any:
    if isinstance(v, Side) and conn is not None:
        return "orig" if v is conn.orig else "resp" if v is conn.resp else "other"
    if isinstance(v, (wsflags.WsDir, wsflags.WsStream)):
        return tuple(_value(getattr(v, name), conn) for name in type(v).__slots__)
    if isinstance(v, list):
        return tuple(_value(x, conn) for x in v)
    return v


def _fields(obj: Any, conn: Connection, skip: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(
        (name, _value(getattr(obj, name), conn))
        for name in type(obj).__slots__ if name not in skip
    )


def snapshot(tracker: Tracker, key: tuple[bytes, bytes, int, int]) -> tuple[Any, ...] | None:
    """Every field of the connection `key` belongs to (both endpoints, Zeek's, Wireshark's and
    the RFC view), None when no connection is live on `key`."""
    side = tracker.table.get(key)
    if side is None:
        return None
    conn = side.conn
    return (
        _fields(conn, conn, ("orig", "resp", "packets")),
        _fields(conn.orig, conn, ("conn",)),
        _fields(conn.resp, conn, ("conn",)),
    )


def run_probed(
    recs: Iterable[Record], *, hooked: bool,
) -> tuple[list[tuple[Any, ...] | None], list[ConnectionRecord], CaptureStats]:
    """Run the engine; the snapshot of each TCP segment's connection after it, the records."""
    out: list[ConnectionRecord] = []
    hook = (lambda *args: None) if hooked else None
    tracker = Tracker(lambda conn: out.append(make_record(conn)), on_packet=hook)
    snaps: list[tuple[Any, ...] | None] = []

    def probe() -> Iterator[Record]:
        for rec in recs:
            yield rec  # the engine asks for the next record once it has applied this one
            t = decode_tcp(rec[1], rec[2])
            if t is not None:
                snaps.append(snapshot(tracker, (t[1], t[2], t[3], t[4])))

    stats = CaptureStats()
    run(probe(), tracker, stats)
    tracker.finish_all()
    return snaps, out, stats


def assert_paths_agree(recs: list[Record]) -> int:
    """Both paths give the same per-packet states and records; returns the connections."""
    direct = run_probed(recs, hooked=False)
    general = run_probed(recs, hooked=True)
    assert len(direct[0]) == len(general[0])
    for i, (a, b) in enumerate(zip(direct[0], general[0], strict=True)):
        assert a == b, f"state after TCP segment {i + 1} differs"
    assert direct[1] == general[1]
    assert direct[2] == general[2]
    return len(direct[1])


def file_records(path: Path) -> list[Record]:
    with open_capture(path) as reader:
        return list(reader.iter_records())


# Random connections of many shapes ------------------------------------------------------------

_ETH_V4 = bytes(12) + b"\x08\x00"
_ETH_V6 = bytes(12) + b"\x86\xdd"
_FLAG_SETS = {
    "S": TcpFlags.SYN, "SA": TcpFlags.SYN | TcpFlags.ACK, "A": TcpFlags.ACK,
    "PA": TcpFlags.PSH | TcpFlags.ACK, "FA": TcpFlags.FIN | TcpFlags.ACK, "F": TcpFlags.FIN,
    "R": TcpFlags.RST, "RA": TcpFlags.RST | TcpFlags.ACK, "SF": TcpFlags.SYN | TcpFlags.FIN,
    "FPA": TcpFlags.FIN | TcpFlags.PSH | TcpFlags.ACK, "SAE": TcpFlags.SYN | TcpFlags.ECE,
    "FR": TcpFlags.FIN | TcpFlags.RST,
}


def random_capture(seed: int, connections: int = 60) -> list[Record]:
    """Connections that mostly follow a handshake, data and a close, with random detours:
    lost, repeated and reordered segments, zero windows, resets, FINs with data or without
    ACK, new SYNs on the same ports, odd flag sets and pauses long enough for Zeek's timers."""
    rng = random.Random(seed)
    packets: list[tuple[float, bytes]] = []
    t = 1000.0
    for i in range(connections):
        v6 = rng.random() < 0.3
        if v6:
            ca: Any = ipaddress.IPv6Address(f"2001:db8::{i % 7 + 1:x}")
            sa: Any = ipaddress.IPv6Address("2001:db8::ff")
        else:
            ca = ipaddress.IPv4Address(f"10.0.0.{i % 7 + 1}")
            sa = ipaddress.IPv4Address("10.0.1.1")
        cport = 40000 + rng.randrange(5)  # 4-tuples reused now and then
        sport = rng.choice((80, 443, 5555))
        seqs = [rng.getrandbits(32), rng.getrandbits(32)]
        closer = rng.random() < 0.7  # the client closes first
        script = [
            (True, "S"), (False, "SA"), (True, "A"), (True, "PA"), (False, "A"), (False, "PA"),
            (True, "A"), (closer, "FA"), (not closer, "FA"), (closer, "A"),
        ]
        if rng.random() < 0.2:
            script[7:] = [(closer, rng.choice(("R", "RA")))]  # an abort instead of a close
        sent: list[tuple[bool, str, int, int, int]] = []
        for from_client, step in script:
            roll = rng.random()
            if roll < 0.2:
                step = rng.choice(list(_FLAG_SETS))
            if roll > 0.95:
                from_client = not from_client
            me = 0 if from_client else 1
            plen = rng.choice((0, 0, 0, 1, 100)) if step not in ("PA", "FPA") else 100
            if step in ("R", "RA", "FR"):
                plen = rng.choice((0, 0, 0, 5))  # a RST's payload is a diagnostic, not data
            seq = seqs[me]
            if rng.random() < 0.1:
                seq = (seq - rng.choice((1, 100))) & 0xFFFFFFFF  # retransmission / keep-alive
            if "R" in step and rng.random() < 0.3:
                seq = (seq + rng.choice((1, 1000, 1 << 21))) & 0xFFFFFFFF  # a RST ahead
            ack = seqs[1 - me] if "A" in step or rng.random() < 0.1 else 0
            if roll >= 0.08:  # else sent but not captured
                sent.append((from_client, step, seq, ack, plen))
            if rng.random() < 0.07 and len(sent) > 1:
                sent[-1], sent[-2] = sent[-2], sent[-1]  # reordered
            if rng.random() < 0.05 and sent:
                sent.append(sent[-1])  # repeated
            if seq == seqs[me]:
                seqs[me] = (seq + plen + ("S" in step) + ("F" in step)) & 0xFFFFFFFF
        for from_client, step, seq, ack, plen in sent:
            t += rng.choice((0.0001, 0.001, 0.01, 0.2)) if rng.random() < 0.97 else rng.choice(
                (3.5, 5.5, 7.0, 70.0)
            )
            window = 0 if rng.random() < 0.07 else 65535
            src, dst = (ca, sa) if from_client else (sa, ca)
            sp, dp = (cport, sport) if from_client else (sport, cport)
            seg = TcpSegment(sp, dp, seq, ack, _FLAG_SETS[step], window, payload=b"x" * plen)
            ip = build_tcp_packet(src, dst, seg)
            packets.append((t, (_ETH_V6 if v6 else _ETH_V4) + ip))
        t -= rng.choice((0.0, 0.0, 0.05))  # the next connection may overlap this one
    packets.sort(key=lambda p: p[0])
    return [(round(ts * 1e9), int(LinkType.ETHERNET), data, len(data), 0)
            for ts, data in packets]


# Tests -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(TRACES.iterdir()), ids=lambda p: p.name)
def test_shared_captures_same_records_either_path(path: Path) -> None:
    inline = records(path, hooked=False)
    assert inline == records(path, hooked=True)


@pytest.mark.parametrize("path", sorted(TRACES.iterdir()), ids=lambda p: p.name)
def test_shared_captures_same_state_after_every_packet(path: Path) -> None:
    assert assert_paths_agree(file_records(path)) > 0


def test_synthetic_capture_same_records_either_path(tmp_path: Path) -> None:
    path = tmp_path / "synthetic.pcap"
    synth.generate(path, packets=20_000, seed=5)
    inline = records(path, hooked=False)
    assert len(inline) > 1000
    assert inline == records(path, hooked=True)


def test_synthetic_capture_same_state_after_every_packet(tmp_path: Path) -> None:
    path = tmp_path / "synthetic.pcap"
    synth.generate(path, packets=5_000, seed=11)
    assert assert_paths_agree(file_records(path)) > 300


def test_shapes_same_state_after_every_packet(tmp_path: Path) -> None:
    path = tmp_path / "shapes.pcap"
    shapes.write_merged(path)
    assert assert_paths_agree(file_records(path)) >= len(shapes.SHAPES)


@pytest.mark.parametrize("seed", range(12))
def test_random_shapes_same_state_after_every_packet(seed: int) -> None:
    assert assert_paths_agree(random_capture(seed)) > 20


def test_random_shapes_take_every_direct_path() -> None:
    """The random captures reach each direct path (else the comparisons above prove little)."""
    calls: dict[str, int] = {}

    class Counting(Tracker):
        def open_syn(self, *args: Any) -> None:
            calls["open_syn"] = calls.get("open_syn", 0) + 1
            super().open_syn(*args)

        def syn_ack_reply(self, *args: Any) -> None:
            calls["syn_ack_reply"] = calls.get("syn_ack_reply", 0) + 1
            super().syn_ack_reply(*args)

        def fin_established(self, *args: Any) -> None:
            calls["fin_established"] = calls.get("fin_established", 0) + 1
            super().fin_established(*args)

        def rst_established(self, *args: Any) -> None:
            calls["rst_established"] = calls.get("rst_established", 0) + 1
            super().rst_established(*args)

    for seed in range(4):
        tracker = Counting(lambda conn: None)
        run(random_capture(seed), tracker, CaptureStats())
    assert set(calls) == {"open_syn", "syn_ack_reply", "fin_established", "rst_established"}
    assert min(calls.values()) >= 10, calls


def _random_dir(rng: random.Random) -> wsflags.WsDir:
    d = wsflags.WsDir()
    base = rng.choice((0, 1000, 0xFFFFFFF0))
    d.base_seq = rng.choice((-1, base))
    d.nextseq = rng.choice((0, base, base + 1, base + 100)) & 0xFFFFFFFF
    d.nextseqtime = rng.choice((0.0, 9.999, 9.9))
    d.maxseqtobeacked = rng.choice((0, d.nextseq, (d.nextseq - 50) & 0xFFFFFFFF))
    d.lastack = rng.choice((0, 500, 600))
    d.lastacktime = rng.choice((0.0, 9.995))
    d.window = rng.choice((-1, 0, 100))
    d.dupacks = rng.choice((0, 1, 2))
    d.lastflags = rng.choice((0, wsflags.KEEP_ALIVE, wsflags.ZERO_WINDOW_PROBE))
    return d


def _dir_state(d: wsflags.WsDir) -> tuple[Any, ...]:
    """A direction's state; the time of `nextseq` only once something was seen (it is read only
    then, and the quick case for ACKs leaves it while nothing was)."""
    state = _value(d, None)
    return state if d.nextseq else state[:7] + state[8:]


def test_analyze_quick_cases_match_full_classification() -> None:
    """`analyze` with its quick cases and `classify` alone leave the same bits and state."""
    rng = random.Random(3)
    taken = 0
    for _ in range(20_000):
        fwd, rev = _random_dir(rng), _random_dir(rng)
        fwd_seq = [fwd.nextseq, (fwd.nextseq + 1) & 0xFFFFFFFF, (fwd.nextseq - 1) & 0xFFFFFFFF]
        seq = rng.choice([*fwd_seq, rng.getrandbits(32)])
        ack = rng.choice((500, 600, rev.nextseq, (rev.nextseq + 10) & 0xFFFFFFFF))
        flags = rng.choice((0x02, 0x12, 0x01, 0x11, 0x19, 0x10, 0x18, 0x04, 0x14, 0x03, 0x05))
        window = rng.choice((0, 100, 200))
        seglen = rng.choice((0, 1, 2, 100))
        stream = wsflags.WsStream()
        stream.first_rtt = rng.choice((0.0, 0.05))
        stream.mru_syn = rng.choice((0.0, 9.98))
        copies = []
        for _ in range(2):
            s = wsflags.WsStream()
            s.first_rtt = stream.first_rtt
            s.mru_syn = stream.mru_syn
            a, b = wsflags.WsDir(), wsflags.WsDir()
            for name in wsflags.WsDir.__slots__:
                setattr(a, name, getattr(fwd, name))
                setattr(b, name, getattr(rev, name))
            copies.append((s, a, b))
        (s1, a1, b1), (s2, a2, b2) = copies
        bits = wsflags.analyze(s1, a1, b1, 10.0, seq, ack, flags, window, seglen)
        # `analyze`'s first steps (which neither way of classifying changes), then the full
        # classification
        a2.base_seq = a1.base_seq
        s2.first_rtt = s1.first_rtt
        s2.mru_syn = s1.mru_syn
        full = wsflags.classify(s2, a2, b2, 10.0, seq, ack, flags, window, seglen)
        assert bits == full
        assert _dir_state(a1) == _dir_state(a2)
        assert _dir_state(b1) == _dir_state(b2)
        taken += flags & 0x07 in (0x01, 0x02) and (seq == fwd.nextseq or not fwd.nextseq)
    assert taken > 1000
