"""Per-packet analysis flags and the handshake RTT against `tshark -2` on the same captures."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from synack.analyze import flags as wsflags
from synack.analyze.flags import WsStream
from synack.analyze.shapes import SHAPES, write_merged
from synack.analyze.tracker import Connection, Side, Tracker
from synack.capture.pcapng import PcapngWriter
from synack.capture.reader import open_capture
from synack.wire.errors import ParseError
from synack.wire.fastpath import decode_tcp

ZEEK_TRACES = Path(os.environ.get(
    "SYNACK_ZEEK_CAPTURES", Path(__file__).resolve().parents[2] / "shared" / "captures" / "zeek"
)) / "traces"
FIELDS = [
    "retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order",
    "lost_segment", "duplicate_ack", "zero_window", "zero_window_probe", "zero_window_probe_ack",
    "window_update", "keep_alive", "keep_alive_ack", "ack_lost_segment",
]

pytestmark = [
    pytest.mark.tools,
    pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed"),
]


def synack_flags(path: Path) -> dict[int, tuple[int, WsStream]]:
    """Frame number -> (analysis bits, Wireshark stream state) as synack computes them."""
    out: dict[int, tuple[int, WsStream]] = {}
    last: list[tuple[int, WsStream]] = []

    def hook(conn: Connection, side: Side, bits: int, now: float, flags: int, seq: int,
             ack: int, plen: int) -> None:
        last.append((bits, conn.ws))

    tracker = Tracker(lambda conn: None, on_packet=hook)
    with open_capture(path) as reader:
        for number, (ts, lt, data, _ol, _i) in enumerate(reader.iter_records(), 1):
            try:
                t = decode_tcp(lt, data)
            except ParseError:
                continue
            if t is None:
                continue
            v, src, dst, sp, dp, seq, ack, fl, win, _hl, plen, _il, _off = t
            tracker.segment(ts / 1e9, v, src, dst, sp, dp, seq, ack, fl, win, plen)
            out[number] = last.pop()
    return out


def tshark_flags(path: Path) -> dict[int, tuple[str, list[bool]]]:
    cmd = ["tshark", "-2", "-r", str(path), "-Y", "tcp", "-T", "fields",
           "-e", "frame.number", "-e", "tcp.analysis.initial_rtt"]
    for f in FIELDS:
        cmd += ["-e", f"tcp.analysis.{f}"]
    text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    out = {}
    for line in text.splitlines():
        parts = line.split("\t")
        out[int(parts[0])] = (parts[1], [bool(x) for x in parts[2:]])
    return out


def compare(path: Path) -> tuple[list[str], dict[str, int]]:
    """Disagreements (empty when equal) and how often tshark raised each flag."""
    mine = synack_flags(path)
    theirs = tshark_flags(path)
    problems = []
    seen = dict.fromkeys(FIELDS, 0)
    rtts: dict[int, tuple[WsStream, set[str]]] = {}
    for number, (rtt, values) in theirs.items():
        if number not in mine:
            continue  # TCP inside ICMP errors, which synack does not count as segments
        bits, stream = mine[number]
        for field, value in zip(FIELDS, values, strict=True):
            seen[field] += value
            if bool(bits & wsflags.FIELD_BITS[field]) != value:
                problems.append(f"frame {number}: {field} synack={not value} tshark={value}")
        entry = rtts.setdefault(id(stream), (stream, set()))
        if rtt:
            entry[1].add(rtt)
    for stream, shown in rtts.values():
        if len(shown) > 1:
            problems.append(f"several initial RTTs {shown}")
        elif shown:
            if abs(float(shown.pop()) - stream.first_rtt) > 2e-6:
                problems.append(f"initial RTT {stream.first_rtt} != tshark's")
        elif stream.first_rtt:
            problems.append(f"initial RTT {stream.first_rtt}, tshark has none")
    missing = set(theirs) - set(mine)
    if len(missing) > 2:
        problems.append(f"frames only tshark decoded as TCP: {sorted(missing)[:10]}")
    return problems, seen


TRACES = sorted(ZEEK_TRACES.glob("*.pcap*"))


def merge_traces(path: Path) -> None:
    """All shared traces in one pcapng (one tshark run): trace i shifted to start 10**6 * i s
    after the first, so each keeps its own timing and Zeek's timers part them."""
    with path.open("wb") as f:
        writer = PcapngWriter(f)
        interfaces: dict[int, int] = {}
        for i, trace in enumerate(TRACES):
            with open_capture(trace) as reader:
                shift: int | None = None
                for ts, lt, data, orig_len, _iface in reader.iter_records():
                    if shift is None:
                        shift = 1_500_000_000 * 10**9 + i * 10**15 - ts
                    if lt not in interfaces:
                        interfaces[lt] = writer.add_interface(lt, nanosecond=True)
                    writer.write(interfaces[lt], ts + shift, data, orig_len)
        writer.flush()


@pytest.mark.skipif(not TRACES, reason="shared captures not available")
def test_shared_captures_flags_equal_tshark(tmp_path: Path) -> None:
    path = tmp_path / "shared.pcapng"
    merge_traces(path)
    problems, seen = compare(path)
    assert problems == []
    # The shared captures do contain retransmissions and spurious ones.
    assert {"retransmission", "spurious_retransmission"} <= {k for k, v in seen.items() if v}


# Known difference: after a connection closed and its ports and initial sequence number came
# back (shape "same_isn_again"), tshark 4.0 keeps the old stream and does not call the new
# connection's first data segment (below the old FIN's sequence number) a retransmission;
# synack does. Only that frame differs.


def test_shapes_flags_equal_tshark(tmp_path: Path) -> None:
    path = tmp_path / "shapes.pcap"
    shapes = write_merged(path)
    problems, seen = compare(path)
    first = sum(len(s.packets) for s in shapes[: list(SHAPES).index("same_isn_again")])
    data_frame = first + 10  # its first data segment, 1-based
    assert problems == [f"frame {data_frame}: retransmission synack=True tshark=False"]
    # The shapes exercise every flag.
    assert {k for k, v in seen.items() if v == 0} == set()


@pytest.mark.parametrize("name", ["zero-window", "lost-data", "old-duplicate", "syn-timeout"])
def test_simulated_scenarios_flags_equal_tshark(name: str, tmp_path: Path) -> None:
    catalog = pytest.importorskip("synack.scenarios.catalog")
    path = tmp_path / f"{name}.pcap"
    catalog.SCENARIOS[name].run(1).write_pcap(path)
    problems, _ = compare(path)
    assert problems == []
