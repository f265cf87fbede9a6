"""Records of one 4-tuple split by Zeek's rules: handshake RTT and SYN retransmissions.

Zeek ends a record when its timers fire (an unanswered SYN after 5 s, inactivity) or a new SYN
arrives, and synack reproduces those records. Fields of synack's own must still tell the truth
about each record: a handshake RTT only from a handshake the record holds, and a SYN sent
again after the split counted as the retransmission it is.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from synack.analyze.engine import analyze_file
from synack.analyze.parallel import analyze_parallel
from synack.analyze.shapes import Flow, Shape, build, write_shape
from synack.analyze.summary import ConnectionRecord

ZEEK_TRACES = Path(os.environ.get(
    "SYNACK_ZEEK_CAPTURES", Path(__file__).resolve().parents[2] / "shared" / "captures" / "zeek"
)) / "traces"
ISN = 0xFFFFF000


def _analyze(shape: Shape, tmp_path: Path, *, verify: bool = False) -> list[ConnectionRecord]:
    path = tmp_path / f"{shape.name}.pcap"
    write_shape(shape, path)
    return _records(path, verify)


def _records(path: Path, verify: bool = False) -> list[ConnectionRecord]:
    recs: list[ConnectionRecord] = []
    analyze_file(path, lambda rec, conn: recs.append(rec), verify_checksums=verify)
    return sorted(recs, key=lambda r: r.ts)


def _view(rec: ConnectionRecord) -> tuple[str, str, str, int, int]:
    return (rec.conn_state, rec.history, rec.handshake, rec.syn_retransmissions,
            rec.retransmissions)


def _linux_backoff(f: Flow, sends: int) -> None:
    """A SYN and its retransmissions 1, 2, 4... s apart (Linux's SYN backoff), same ISN."""
    f.c("S", seq=ISN, dt=0.0)
    for k in range(1, sends):
        f.c("S", seq=ISN, dt=float(2 ** (k - 1)))


# SYN retransmissions across records -------------------------------------------------------


def test_syn_timeout_counts_every_retransmission_once(tmp_path: Path) -> None:
    """One connect() into a black hole: a SYN and 6 retransmissions over 63 s. Zeek's attempt
    timer makes five S0 records of it; the four later ones open with the same SYN again."""
    catalog = pytest.importorskip("synack.scenarios.catalog")
    path = tmp_path / "syn-timeout.pcap"
    catalog.SCENARIOS["syn-timeout"].run(1).write_pcap(path)
    recs = _records(path)
    # conn_state and history stay Zeek's (five S0 records, history S). tshark flags 6 SYNs
    # as retransmissions (one stream): 2 in the first record, 1 in each other one, and synack's
    # syn_retransmissions and retransmissions say the same.
    assert [_view(r) for r in recs] == [
        ("S0", "S", "unanswered", 2, 2),
        ("S0", "S", "unanswered", 1, 1),
        ("S0", "S", "unanswered", 1, 1),
        ("S0", "S", "unanswered", 1, 1),
        ("S0", "S", "unanswered", 1, 1),
    ]
    assert all(r.handshake_rtt is None for r in recs)


def test_syn_answered_after_the_split(tmp_path: Path) -> None:
    """The fourth SYN (7 s) is answered: its record completes with one SYN retransmission,
    and its RTT runs from that SYN to the handshake's ACK."""
    sh = Shape("late_answer")
    f = Flow(sh, isn_c=ISN)
    _linux_backoff(f, 4)  # 0, 1, 3, 7 s
    f.s("SA", dt=0.040)
    f.c("A", dt=0.001)
    f.c("PA", b"hello")
    f.s("A")
    first, second = _analyze(sh, tmp_path)
    assert _view(first) == ("S0", "S", "unanswered", 2, 2)
    assert _view(second) == ("S1", "ShADa", "completed", 1, 1)
    assert second.handshake_rtt == pytest.approx(0.041, abs=1e-6)


def test_a_new_isn_is_a_new_request(tmp_path: Path) -> None:
    """After the attempt timer a SYN with another ISN is a new connection request."""
    sh = Shape("new_isn")
    f = Flow(sh, isn_c=ISN)
    _linux_backoff(f, 2)
    f.c("S", seq=ISN + 0x10000, dt=7.0)
    first, second = _analyze(sh, tmp_path)
    assert _view(first) == ("S0", "S", "unanswered", 1, 1)
    assert _view(second) == ("S0", "S", "unanswered", 0, 0)


def test_a_refused_syn_sent_again_is_a_new_attempt(tmp_path: Path) -> None:
    """A SYN answered by a RST closed its sender (RFC 9293 §3.10.7.3): the same SYN later is
    another attempt, refused in its own right (tshark calls it a retransmission)."""
    sh = Shape("refused_twice")
    f = Flow(sh, isn_c=ISN, sport=81)
    f.c("S", seq=ISN)
    f.s("RA", seq=0, ack=ISN + 1)
    f.c("S", seq=ISN, dt=0.5)
    f.s("RA", seq=0, ack=ISN + 1)
    first, second = _analyze(sh, tmp_path)
    assert _view(first)[:4] == ("REJ", "Sr", "refused", 0)
    assert _view(second)[:4] == ("REJ", "Sr", "refused", 0)


def test_the_same_records_from_several_processes(tmp_path: Path) -> None:
    sh = Shape("mixed")
    f = Flow(sh, isn_c=ISN)
    _linux_backoff(f, 4)
    f.s("SA", dt=0.040)
    f.c("A", dt=0.001)
    for port in range(41000, 41016):  # other flows, spread over the workers
        g = Flow(sh, cport=port, t0=f.t + port - 41000)
        g.handshake()
        g.c("FA")
        g.s("FA")
        g.c("A")
    sh.packets.sort(key=lambda p: p[0])
    path = tmp_path / "mixed.pcap"
    write_shape(sh, path)
    one = [r.as_dict() for r in sorted(_records(path), key=lambda r: r.uid)]
    two: dict[int, dict[str, object]] = {}
    analyze_parallel(path, 2, lambda r: r.as_dict(), lambda n, d: two.__setitem__(n, d))
    for number, d in two.items():
        d["uid"] = f"C{number}"
    assert sorted(two.values(), key=lambda d: str(d["uid"])) == one
    assert [d["syn_retransmissions"] for d in one if d["orig_p"] == 40000] == [2, 1]


# Handshake RTT ----------------------------------------------------------------------------


def test_rtt_of_a_record_without_the_handshake_is_null(tmp_path: Path) -> None:
    """SYN, SYN-ACK, RST; 15 s later data and a RST: two records for Zeek (and one stream for
    tshark, whose initial RTT runs 15 s from the first SYN to that data). Neither record holds
    a completed handshake: no RTT."""
    sh = Shape("rst_then_data")
    f = Flow(sh, cport=60293, sport=502)
    f.c("S")
    f.s("SA", dt=0.0001)
    f.c("R", dt=0.117)
    f.c("PA", b"x" * 109, dt=15.6)
    f.s("R", dt=0.0001)
    first, second = _analyze(sh, tmp_path)
    assert (first.conn_state, first.history, first.handshake) == ("RSTO", "ShR", "reset")
    assert (second.conn_state, second.history, second.handshake) == ("RSTRH", "Dr", "not_captured")
    assert (first.handshake_rtt, second.handshake_rtt) == (None, None)


def test_rtt_of_a_later_incarnation_is_its_own(tmp_path: Path) -> None:
    # A new ISN: a new stream, whose handshake the second record holds.
    first, second = _analyze(build("port_reuse"), tmp_path)
    assert (first.handshake_rtt, second.handshake_rtt) == (
        pytest.approx(0.020, abs=1e-6), pytest.approx(0.020, abs=1e-6))
    # The same ISN after a close: tshark goes on with the old stream and its RTT; the second
    # record's SYN is no retransmission of a live attempt, and the RTT is not its own.
    first, second = _analyze(build("same_isn_again"), tmp_path)
    assert first.handshake_rtt == pytest.approx(0.020, abs=1e-6)
    assert (second.handshake, second.syn_retransmissions, second.handshake_rtt) == (
        "completed", 0, None)


@pytest.mark.parametrize(("name", "handshake", "rtt"), [
    ("four_way", "completed", 0.020),
    ("ack_lost", "completed_by_data", 0.020),  # SYN to the data that completed it
    ("simultaneous_open", "simultaneous_open", 0.0201),  # the later SYN to the first ACK
    ("refused", "refused", None),  # tshark: SYN to the RST
    ("unanswered", "unanswered", None),
    ("syn_then_rst", "aborted", None),
    ("missing_start", "not_captured", None),
])
def test_rtt_needs_the_whole_handshake(
    name: str, handshake: str, rtt: float | None, tmp_path: Path,
) -> None:
    (rec,) = _analyze(build(name), tmp_path)
    assert rec.handshake == handshake
    if rtt is None:
        assert rec.handshake_rtt is None
    else:
        assert rec.handshake_rtt == pytest.approx(rtt, abs=1e-6)


def test_rtt_without_the_syn_ack_is_null(tmp_path: Path) -> None:
    """Only the client's side captured: SYN, then its ACK (the SYN-ACK it answers unseen)."""
    sh = Shape("one_side")
    f = Flow(sh, cport=51880, sport=22)
    f.c("S")
    f.nxt[1] += 1  # the server's SYN-ACK, not captured
    f.c("A", dt=0.145)
    f.c("PA", b"SSH-2.0-x\r\n")
    (rec,) = _analyze(sh, tmp_path)
    assert (rec.handshake, rec.handshake_rtt) == ("not_captured", None)


_SHARED = pytest.mark.skipif(not ZEEK_TRACES.exists(), reason="shared captures not available")


@_SHARED
def test_shared_modbus_reset_then_data() -> None:
    recs = [r for r in _records(ZEEK_TRACES / "modbus__modbus-and-non-modbus-p502.pcap")
            if r.orig_p == 60293]
    assert [(r.history, r.handshake, r.handshake_rtt) for r in recs] == [
        ("ShR", "reset", None), ("Dr", "not_captured", None)]


@_SHARED
def test_shared_ssh_records_repeat_no_rtt() -> None:
    recs = _records(ZEEK_TRACES / "ssh__ssh.client-side-half-duplex.pcap")
    assert len(recs) == 25
    assert {(r.handshake, r.handshake_rtt) for r in recs} == {("not_captured", None)}


@_SHARED
def test_shared_syn_ack_dropped_for_its_checksum() -> None:
    """auth_change_session_keys.pcap: the SYN-ACK has a bad IPv4 header checksum. Kept, the
    handshake completes in 0.777 ms; dropped (as Zeek drops it), there is no handshake RTT."""
    trace = ZEEK_TRACES / "auth_change_session_keys.pcap"
    (kept,) = _records(trace)
    (dropped,) = _records(trace, verify=True)
    assert (kept.handshake, kept.handshake_rtt) == ("completed", pytest.approx(0.000777, abs=1e-6))
    assert (dropped.conn_state, dropped.history) == ("S0", "SAD")
    assert (dropped.handshake, dropped.handshake_rtt) == ("not_captured", None)
