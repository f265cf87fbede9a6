"""The per-packet states API used by `synack trace --states`."""

from __future__ import annotations

from synack.analyze.engine import states_after_each
from synack.analyze.shapes import build
from synack.capture.packet import CapturedPacket


def _packets(name: str) -> list[CapturedPacket]:
    return [CapturedPacket(round(t * 1e9), 101, pkt, len(pkt)) for t, pkt in build(name).packets]


def test_sender_and_receiver_states_after_each_packet() -> None:
    states = list(states_after_each(_packets("three_segment_ipv6")))
    assert states == [
        ("SYN_SENT", "LISTEN"),
        ("SYN_RECEIVED", "ESTABLISHED"),
        ("ESTABLISHED", "ESTABLISHED"),
        ("ESTABLISHED", "ESTABLISHED"),
        ("ESTABLISHED", "ESTABLISHED"),
        ("FIN_WAIT_1", "CLOSE_WAIT"),
        ("LAST_ACK", "TIME_WAIT"),
        ("TIME_WAIT", "CLOSED"),
    ]


def test_non_tcp_packets_yield_none() -> None:
    pkts = _packets("refused")
    pkts.insert(1, CapturedPacket(pkts[0].timestamp_ns, 101, b"\x60" + bytes(39), 40))
    assert list(states_after_each(pkts)) == [
        ("SYN_SENT", "LISTEN"), None, ("CLOSED", "CLOSED"),
    ]


def test_incremental_api_over_capture_records(tmp_path: object) -> None:
    from pathlib import Path

    from synack.analyze import EndpointStates
    from synack.analyze.shapes import write_shape
    from synack.capture.reader import open_capture

    assert isinstance(tmp_path, Path)
    path = tmp_path / "rst.pcap"
    write_shape(build("rst_mid"), path)
    states = EndpointStates()
    with open_capture(path) as reader:
        got = [states.after(ts, lt, data) for ts, lt, data, _o, _i in reader.iter_records()]
    assert got[-1] == ("CLOSED", "CLOSED")
    assert got[-2] == ("ESTABLISHED", "ESTABLISHED")
