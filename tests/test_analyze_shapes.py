"""Inferred RFC states, handshake and close outcomes on crafted captures of known truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from synack.analyze.engine import analyze_file
from synack.analyze.shapes import SHAPES, build, write_merged, write_shape
from synack.analyze.summary import ConnectionRecord


def _analyze(path: Path) -> list[ConnectionRecord]:
    recs: list[ConnectionRecord] = []
    analyze_file(path, lambda rec, conn: recs.append(rec))
    return sorted(recs, key=lambda r: r.ts)


@pytest.mark.parametrize("name", list(SHAPES))
def test_shape_truth(name: str, tmp_path: Path) -> None:
    shape = build(name)
    path = tmp_path / f"{name}.pcap"
    write_shape(shape, path)
    recs = _analyze(path)
    got = [(r.orig_state, r.resp_state, r.handshake, r.close) for r in recs]
    want = [(t.orig_state, t.resp_state, t.handshake, t.close) for t in shape.truth]
    assert got == want


def test_all_shapes_in_one_capture(tmp_path: Path) -> None:
    shapes = write_merged(tmp_path / "all.pcap")
    recs = _analyze(tmp_path / "all.pcap")
    want = [(t.orig_state, t.resp_state) for s in shapes for t in s.truth]
    assert [(r.orig_state, r.resp_state) for r in recs] == want


def _one(name: str, tmp_path: Path) -> list[ConnectionRecord]:
    path = tmp_path / f"{name}.pcap"
    write_shape(build(name), path)
    return _analyze(path)


def test_four_way_record_fields(tmp_path: Path) -> None:
    (rec,) = _one("four_way", tmp_path)
    assert (rec.orig_h, rec.orig_p, rec.resp_h, rec.resp_p) == ("10.0.0.1", 40000, "10.0.0.2", 80)
    assert (rec.conn_state, rec.history) == ("SF", "ShADadFf")
    assert (rec.orig_pkts, rec.resp_pkts) == (6, 5)
    assert (rec.orig_payload_bytes, rec.resp_payload_bytes) == (18, 19)
    assert (rec.orig_bytes, rec.resp_bytes) == (18, 19)
    assert rec.handshake_rtt == pytest.approx(0.020, abs=1e-6)
    assert rec.duration == pytest.approx(0.130, abs=1e-6)
    assert rec.retransmissions == 0 and not rec.direction_inferred


def test_unanswered_counts_syn_retransmissions(tmp_path: Path) -> None:
    (rec,) = _one("unanswered", tmp_path)
    assert (rec.conn_state, rec.history, rec.syn_retransmissions) == ("S0", "S", 2)
    assert rec.retransmissions == 2 and rec.handshake_rtt is None


def test_refused_is_rej(tmp_path: Path) -> None:
    (rec,) = _one("refused", tmp_path)
    assert (rec.conn_state, rec.history, rec.reset_by, rec.reset_state) == (
        "REJ", "Sr", "resp", "SYN_SENT")


def test_rst_mid_connection_names_the_state_it_hit(tmp_path: Path) -> None:
    (rec,) = _one("rst_mid", tmp_path)
    assert (rec.conn_state, rec.close, rec.reset_state) == ("RSTR", "reset_by_resp", "ESTABLISHED")


def test_missing_start_direction_inferred_from_port(tmp_path: Path) -> None:
    (rec,) = _one("missing_start_server_first", tmp_path)
    # The first packet came from port 80: the port, not the first packet, picks the originator.
    assert (rec.orig_p, rec.resp_p) == (52000, 80)
    assert rec.history.startswith("^") and rec.direction_inferred and rec.start_missing


def test_port_reuse_starts_a_new_connection(tmp_path: Path) -> None:
    first, second = _one("port_reuse", tmp_path)
    assert (first.orig_p, second.orig_p) == (41000, 41000)
    assert (first.conn_state, second.conn_state) == ("SF", "S1")


def test_analysis_counts(tmp_path: Path) -> None:
    (rec,) = _one("retransmissions", tmp_path)
    assert (rec.retransmissions, rec.fast_retransmissions, rec.spurious_retransmissions) == (
        3, 1, 1)
    assert (rec.out_of_order, rec.lost_segments, rec.duplicate_acks) == (1, 1, 5)
    (win,) = _one("windows", tmp_path)
    assert (win.zero_windows, win.zero_window_probes, win.window_updates, win.keep_alives) == (
        2, 1, 1, 1)


def test_memory_is_bounded_by_live_connections(tmp_path: Path) -> None:
    """Connections are finished as Zeek's timers expire them, not at the end of the capture."""
    from synack.analyze.engine import CaptureStats, run
    from synack.analyze.tracker import Tracker
    from synack.capture.reader import open_capture

    path = tmp_path / "all.pcap"
    shapes = write_merged(path)  # one shape every 1000 s
    finished: list[int] = []
    live: list[int] = []
    tracker = Tracker(lambda conn: finished.append(conn.number))
    with open_capture(path) as reader:
        for record in reader.iter_records():
            run([record], tracker, CaptureStats())
            live.append(len(tracker.table) // 2)
    tracker.finish_all()
    assert len(finished) == sum(len(s.truth) for s in shapes)
    assert max(live) <= 2  # never more than the shape being read (port reuse: two)


def test_content_gap_in_history(tmp_path: Path) -> None:
    """Data acknowledged but never captured is a content gap: Zeek's 'G' for the sender."""
    (rec,) = _one("capture_gap", tmp_path)
    assert (rec.conn_state, rec.history) == ("SF", "ShADaGFf")
    assert (rec.lost_segments, rec.acked_unseen) == (1, 1)
