"""`synack analyze`: JSON, CSV, table, timeline, damaged and foreign files, exit statuses."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from synack.analyze.shapes import build, write_merged, write_shape
from synack.capture.writer import open_writer
from synack.cli.analyze import EXIT_TRUNCATED, EXIT_UNREADABLE, command


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cap") / "shapes.pcap"
    write_merged(path)
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(command, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_json_one_object_per_connection(capture: Path) -> None:
    code, out, _ = run(str(capture), "--json")
    assert code == 0
    lines = out.splitlines()
    objs = [json.loads(line) for line in lines]
    assert len(objs) == 21
    first = min(objs, key=lambda o: o["ts"])
    for key in ("ts", "orig_h", "orig_p", "resp_h", "resp_p", "duration", "orig_pkts",
                "resp_pkts", "orig_bytes", "resp_bytes", "conn_state", "history"):
        assert key in first
    assert (first["orig_h"], first["orig_p"], first["resp_p"]) == ("10.1.0.1", 40000, 80)
    assert (first["conn_state"], first["history"]) == ("SF", "ShADadFf")
    assert (first["orig_state"], first["resp_state"]) == ("TIME_WAIT", "CLOSED")
    assert first["handshake"] == "completed" and first["close"] == "four_way"


def test_json_timeline_lists_states_after_every_packet(tmp_path: Path) -> None:
    path = tmp_path / "four_way.pcap"
    write_shape(build("four_way"), path)
    code, out, _ = run(str(path), "--json", "--timeline")
    assert code == 0
    (obj,) = [json.loads(line) for line in out.splitlines()]
    states = [(p["flags"], p["orig_state"], p["resp_state"]) for p in obj["timeline"]]
    assert states[:3] == [
        ("S", "SYN_SENT", "LISTEN"),
        ("S.", "ESTABLISHED", "SYN_RECEIVED"),
        (".", "ESTABLISHED", "ESTABLISHED"),
    ]
    assert states[-4:] == [
        ("F.", "FIN_WAIT_1", "CLOSE_WAIT"),
        (".", "FIN_WAIT_2", "CLOSE_WAIT"),
        ("F.", "TIME_WAIT", "LAST_ACK"),
        (".", "TIME_WAIT", "CLOSED"),
    ]


def test_csv_has_a_header_and_a_row_per_connection(capture: Path) -> None:
    code, out, _ = run(str(capture), "--csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 21
    assert {r["conn_state"] for r in rows} >= {"SF", "REJ", "S0", "RSTR", "S1", "OTH"}


def test_table_and_summary(capture: Path) -> None:
    code, out, _ = run(str(capture))
    assert code == 0
    assert "TCP connections (21)" in out
    assert "Handshakes:" in out and "refused 1" in out and "unanswered 1" in out
    assert "Closes:" in out and "simultaneous 1" in out


def test_text_timeline(tmp_path: Path) -> None:
    path = tmp_path / "refused.pcap"
    write_shape(build("refused"), path)
    code, out, _ = run(str(path), "--timeline")
    assert code == 0
    lines = [line for line in out.splitlines() if "seq" in line and "ack" in line]
    assert "SYN_SENT | LISTEN" in lines[0]
    assert "CLOSED | CLOSED" in lines[1]


def test_truncated_capture_reports_what_was_read(capture: Path, tmp_path: Path) -> None:
    data = capture.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) // 2 + 7])
    code, out, err = run(str(cut), "--json")
    assert code == EXIT_TRUNCATED
    assert out.strip(), "connections before the damage are reported"
    assert "damaged or cut" in err and "Traceback" not in err


def test_not_a_capture(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello, this is not a pcap\n")
    code, _, err = run(str(bogus))
    assert code == EXIT_UNREADABLE
    assert "not a pcap or pcapng capture" in err and "Traceback" not in err
    code, _, err = run(str(tmp_path / "missing.pcap"))
    assert code == EXIT_UNREADABLE and "no such file" in err


def test_non_tcp_capture(tmp_path: Path) -> None:
    path = tmp_path / "udp.pcap"
    udp = bytes.fromhex("450000210000400040110000c0000201c0000202") + bytes.fromhex(
        "0035003500090000") + b"x"
    with open_writer(path, 101) as out:
        out.write(1_000_000_000, udp)
        out.write(2_000_000_000, b"\x45garbage")
    code, out_text, err = run(str(path), "--json")
    assert code == 0
    assert out_text == ""
    assert "no TCP packets among 2 packets" in err


def test_corrupt_packets_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "mixed.pcap"
    shape = build("four_way")
    with open_writer(path, 101) as out:
        for i, (t, pkt) in enumerate(shape.packets):
            out.write(round(t * 1e9), pkt)
            if i == 2:
                out.write(round(t * 1e9), pkt[:30])  # a TCP header cut short
    code, out_text, err = run(str(path), "--json")
    assert code == 0
    (obj,) = [json.loads(line) for line in out_text.splitlines()]
    assert obj["conn_state"] == "SF"
    assert "1 malformed" in err


def test_table_shows_ipv6_addresses(tmp_path: Path) -> None:
    path = tmp_path / "v6.pcap"
    write_shape(build("three_segment_ipv6"), path)
    code, out, _ = run(str(path))
    assert code == 0
    assert "[2001:db8::1]:50123 → [2001:db8::2]:443" in out


@pytest.mark.parametrize("mode", [[], ["--json"], ["--csv"]])
def test_a_reader_that_stops_early_is_not_an_error(tmp_path: Path, mode: list[str]) -> None:
    """`synack analyze big.pcap | head -1`: exit status 0 and nothing on stderr, whether the
    pipe closes while records stream out or while the table is drawn."""
    import subprocess
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import synth

    path = tmp_path / "many.pcap"
    synth.generate(path, packets=8000, seed=2)  # far more output than a pipe holds
    cmd = [sys.executable, "-m", "synack", "analyze", str(path), "--jobs", "1", *mode]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.read(20)
    proc.stdout.close()  # as `head` does
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0, err
    assert first
    assert err == b""
