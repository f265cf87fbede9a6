"""Per-packet analysis flags, and each record's handshake RTT and SYN retransmissions, against
`tshark -2` on the same captures."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from synack.analyze import flags as wsflags
from synack.analyze.engine import analyze_file
from synack.analyze.flags import WsStream
from synack.analyze.shapes import SHAPES, write_merged
from synack.analyze.summary import ConnectionRecord, make_record
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

# Why a record's handshake RTT is null where tshark shows tcp.analysis.initial_rtt.
RST = "measured to a RST"
NO_SYN_ACK = "no SYN-ACK seen"
OTHER_RECORD = "measured in another record"
# A SYN that tshark, not synack, calls a retransmission.
SYN_AFTER_CLOSE = "SYN with the ISN of a closed incarnation"

pytestmark = [
    pytest.mark.tools,
    pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed"),
]


class Run:
    """synack's analysis of a capture, frame by frame and record by record."""

    def __init__(self, path: Path) -> None:
        # Frame number -> (analysis bits, Wireshark stream state, the connection it went to).
        self.frames: dict[int, tuple[int, WsStream, Connection]] = {}
        self.records: dict[int, ConnectionRecord] = {}  # id(connection) -> its record
        last: list[tuple[int, WsStream, Connection]] = []

        def hook(conn: Connection, side: Side, bits: int, now: float, flags: int, seq: int,
                 ack: int, plen: int) -> None:
            last.append((bits, conn.ws, conn))

        def sink(conn: Connection) -> None:
            self.records[id(conn)] = make_record(conn)

        tracker = Tracker(sink, on_packet=hook)
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
                self.frames[number] = last.pop()
        tracker.finish_all()


class Tshark:
    """tshark's fields for a capture: per frame, its stream, TCP flags, the initial RTT shown
    with two passes and the analysis flags; per stream, the frames its initial RTT was measured
    between (the most recent SYN, and the first frame one pass shows the RTT on)."""

    def __init__(self, path: Path) -> None:
        cmd = ["tshark", "-2", "-r", str(path), "-Y", "tcp", "-T", "fields",
               "-e", "frame.number", "-e", "tcp.stream", "-e", "tcp.flags",
               "-e", "tcp.analysis.initial_rtt"]
        for f in FIELDS:
            cmd += ["-e", f"tcp.analysis.{f}"]
        self.frames: dict[int, tuple[int, int, str, list[bool]]] = {}
        for line in _run(cmd).splitlines():
            number, stream, flags, rtt, *values = line.split("\t")
            self.frames[int(number)] = (
                int(stream), int(flags, 16), rtt, [bool(x) for x in values])
        # One pass shows the initial RTT from the frame that measured it on.
        one_pass = ["tshark", "-r", str(path), "-Y", "tcp.analysis.initial_rtt", "-T", "fields",
                    "-e", "frame.number", "-e", "tcp.analysis.initial_rtt"]
        self.measured: dict[int, tuple[int, int, float]] = {}  # stream -> (SYN, ACK, RTT)
        last_syn: dict[int, int] = {}
        shown = dict(line.split("\t") for line in _run(one_pass).splitlines())
        for number, (stream, flags, _rtt, _values) in sorted(self.frames.items()):
            if flags & 0x12 == 0x02:
                last_syn[stream] = number
            elif str(number) in shown and stream not in self.measured:
                self.measured[stream] = (last_syn[stream], number, float(shown[str(number)]))


def _run(cmd: list[str]) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


Difference = tuple[ConnectionRecord, int, str]  # the record, its first frame, why


def compare(path: Path) -> tuple[list[str], dict[str, int], list[Difference]]:
    """Disagreements (empty when equal), how often tshark raised each flag, and the records
    whose handshake RTT or SYN retransmissions deliberately differ from tshark's, each with the
    reason."""
    mine = Run(path)
    theirs = Tshark(path)
    problems = []
    seen = dict.fromkeys(FIELDS, 0)
    rtts: dict[int, tuple[WsStream, set[str]]] = {}
    by_record: dict[int, list[int]] = {}
    for number, (_stream, _flags, rtt, values) in theirs.frames.items():
        if number not in mine.frames:
            continue  # TCP inside ICMP errors, which synack does not count as segments
        bits, stream, conn = mine.frames[number]
        by_record.setdefault(id(conn), []).append(number)
        for field, value in zip(FIELDS, values, strict=True):
            seen[field] += value
            if bool(bits & wsflags.FIELD_BITS[field]) != value:
                problems.append(f"frame {number}: {field} synack={not value} tshark={value}")
        entry = rtts.setdefault(id(stream), (stream, set()))
        if rtt:
            entry[1].add(rtt)
    # Wireshark's stream state keeps tshark's initial RTT, stream by stream.
    for stream, shown in rtts.values():
        if len(shown) > 1:
            problems.append(f"several initial RTTs {shown}")
        elif shown:
            if abs(float(shown.pop()) - stream.first_rtt) > 2e-6:
                problems.append(f"initial RTT {stream.first_rtt} != tshark's")
        elif stream.first_rtt:
            problems.append(f"initial RTT {stream.first_rtt}, tshark has none")
    differences: list[Difference] = []
    retransmission = FIELDS.index("retransmission")
    for key, numbers in by_record.items():
        rec = mine.records[key]
        name = f"{rec.orig_h}:{rec.orig_p} {rec.uid}"
        # SYN retransmissions: tshark flags a SYN repeating its stream's ISN as a
        # retransmission; synack counts the SYNs repeating the record's first one, and the one
        # repeating the previous record's unanswered SYN (one connection request split by
        # Zeek's timers), not a SYN after a finished incarnation with the same ISN.
        syn_rx = sum(
            1 for n in numbers
            if theirs.frames[n][1] & 0x12 == 0x02 and theirs.frames[n][3][retransmission])
        if syn_rx != rec.syn_retransmissions:
            first = theirs.frames[numbers[0]]
            if (
                syn_rx == 1 and rec.syn_retransmissions == 0 and rec.handshake == "completed"
                and first[1] & 0x12 == 0x02 and first[3][retransmission]
            ):
                # Only tshark: the opening SYN of a new incarnation, after a close, that
                # reuses the old ISN (tshark goes on with the old stream; Zeek starts a record).
                differences.append((rec, numbers[0], SYN_AFTER_CLOSE))
            else:
                problems.append(f"{name}: syn_retransmissions {rec.syn_retransmissions}, "
                                f"tshark {syn_rx}")
        streams = {theirs.frames[n][0] for n in numbers}
        held = [theirs.measured[s] for s in streams if s in theirs.measured]
        inside = [m for m in held if m[0] in numbers and m[1] in numbers]
        if inside:
            (syn, ack, rtt), = inside
            if theirs.frames[ack][1] & 0x04:
                # Only tshark: an RTT up to a RST (a refused or aborted handshake).
                differences.append((rec, numbers[0], RST))
                expected = None
            elif not any(theirs.frames[n][1] & 0x12 == 0x12 for n in numbers if syn < n < ack):
                # Only tshark: an RTT from a SYN to an ACK without the SYN-ACK between them (a
                # capture of one direction; `test_dropped_syn_ack_has_no_rtt`: a bad checksum).
                differences.append((rec, numbers[0], NO_SYN_ACK))
                expected = None
            else:
                expected = rtt
        else:
            expected = None
            if held:
                # Only tshark: one stream for the incarnations of a 4-tuple that Zeek and synack
                # tell apart (Zeek's timers, or the same ports and ISN after a close), and an
                # RTT measured from a SYN or to an ACK in another record.
                differences.append((rec, numbers[0], OTHER_RECORD))
        got = rec.handshake_rtt
        if (got is None) != (expected is None) or (
            got is not None and expected is not None and abs(got - expected) > 2e-6
        ):
            problems.append(f"{name}: handshake_rtt {got}, expected {expected}")
    missing = set(theirs.frames) - set(mine.frames)
    if len(missing) > 2:
        problems.append(f"frames only tshark decoded as TCP: {sorted(missing)[:10]}")
    return problems, seen, differences


TRACES = sorted(ZEEK_TRACES.glob("*.pcap*"))


def merge_traces(path: Path) -> list[tuple[int, str]]:
    """All shared traces in one pcapng (one tshark run): trace i shifted to start 10**6 * i s
    after the first, so each keeps its own timing and Zeek's timers part them. Returns each
    trace's first frame number and name."""
    starts = []
    number = 1
    with path.open("wb") as f:
        writer = PcapngWriter(f)
        interfaces: dict[int, int] = {}
        for i, trace in enumerate(TRACES):
            starts.append((number, trace.name))
            with open_capture(trace) as reader:
                shift: int | None = None
                for ts, lt, data, orig_len, _iface in reader.iter_records():
                    if shift is None:
                        shift = 1_500_000_000 * 10**9 + i * 10**15 - ts
                    if lt not in interfaces:
                        interfaces[lt] = writer.add_interface(lt, nanosecond=True)
                    writer.write(interfaces[lt], ts + shift, data, orig_len)
                    number += 1
        writer.flush()
    return starts


def _origin(frame: int, starts: list[tuple[int, str]]) -> str:
    return [name for first, name in starts if first <= frame][-1]


@pytest.mark.skipif(not TRACES, reason="shared captures not available")
def test_shared_captures_flags_equal_tshark(tmp_path: Path) -> None:
    path = tmp_path / "shared.pcapng"
    starts = merge_traces(path)
    problems, seen, differences = compare(path)
    assert problems == []
    # The shared captures do contain retransmissions and spurious ones.
    assert {"retransmission", "spurious_retransmission"} <= {k for k, v in seen.items() if v}
    # Handshake RTTs tshark shows and synack does not (SYN retransmissions: all equal):
    # - the ssh capture holds only the client's side: tshark measures from each SYN to the
    #   client's ACK, synack reports no RTT for a handshake whose SYN-ACK it did not see (20);
    #   of the 4-tuples Zeek splits in two by its timers, tshark shows the first record's RTT
    #   on the second too (5);
    # - modbus :60293 (SYN, SYN-ACK, RST, then 15.7 s later data and a RST, two records for
    #   Zeek): tshark's 15708 ms runs from the first record's SYN to the second's data.
    ssh, modbus = "ssh__ssh.client-side-half-duplex.pcap", "modbus__modbus-and-non-modbus-p502.pcap"
    assert Counter((_origin(frame, starts), why) for _rec, frame, why in differences) == {
        (ssh, NO_SYN_ACK): 20, (ssh, OTHER_RECORD): 5, (modbus, OTHER_RECORD): 2,
    }


def test_shapes_flags_equal_tshark(tmp_path: Path) -> None:
    path = tmp_path / "shapes.pcap"
    shapes = write_merged(path)
    problems, seen, differences = compare(path)
    # Known difference: after a connection closed and its ports and initial sequence number
    # came back (shape "same_isn_again"), tshark 4.0 keeps the old stream and does not call the
    # new connection's first data segment (below the old FIN's sequence number) a
    # retransmission; synack does. Only that frame differs.
    first = sum(len(s.packets) for s in shapes[: list(SHAPES).index("same_isn_again")])
    data_frame = first + 10  # its first data segment, 1-based
    assert problems == [f"frame {data_frame}: retransmission synack=True tshark=False"]
    # The shapes exercise every flag.
    assert {k for k, v in seen.items() if v == 0} == set()
    # Deliberate differences in the records: tshark's RTT of a refused SYN runs to the RST;
    # for "same_isn_again" tshark calls the new incarnation's SYN a retransmission and shows
    # the old incarnation's RTT, synack counts no SYN retransmission and reports no RTT (the
    # new handshake's own is not what tshark measured).
    names = [s.name for s in shapes for _ in s.truth]
    got = sorted((names[int(rec.uid[1:]) - 1], why) for rec, _frame, why in differences)
    assert got == [
        ("refused", RST),
        ("same_isn_again", SYN_AFTER_CLOSE),
        ("same_isn_again", OTHER_RECORD),
    ]


@pytest.mark.parametrize(
    "name",
    [
        "zero-window", "lost-data", "old-duplicate", "syn-timeout", "dsack", "nagle",
        "sack-recovery", "keepalive",
    ],
)
def test_simulated_scenarios_flags_equal_tshark(name: str, tmp_path: Path) -> None:
    catalog = pytest.importorskip("synack.scenarios.catalog")
    path = tmp_path / f"{name}.pcap"
    catalog.SCENARIOS[name].run(1).write_pcap(path)
    problems, _, differences = compare(path)
    assert problems == []
    assert differences == []


AUTH = ZEEK_TRACES / "auth_change_session_keys.pcap"


@pytest.mark.skipif(not AUTH.exists(), reason="shared captures not available")
def test_dropped_syn_ack_has_no_rtt() -> None:
    """tshark measures its initial RTT (frames 1 to 3) across a SYN-ACK whose IPv4 header
    checksum is bad (frame 2). Read as is, synack agrees; with `--verify-checksums` it drops
    that SYN-ACK as Zeek does, and the record, whose handshake it then did not see, reports no
    RTT where tshark shows 0.777 ms."""
    problems, _seen, differences = compare(AUTH)
    assert (problems, differences) == ([], [])
    assert Tshark(AUTH).measured == {0: (1, 3, pytest.approx(0.000777, abs=1e-9))}
    status = _run(["tshark", "-r", str(AUTH), "-o", "ip.check_checksum:TRUE", "-Y",
                   "frame.number == 2", "-T", "fields", "-e", "ip.checksum.status",
                   "-e", "tcp.flags"])
    assert status.split() == ["0", "0x0012"]  # bad checksum, SYN-ACK
    recs: list[ConnectionRecord] = []
    analyze_file(AUTH, lambda rec, conn: recs.append(rec), verify_checksums=True)
    assert [(r.history, r.handshake, r.handshake_rtt) for r in recs] == [
        ("SAD", "not_captured", None)]
