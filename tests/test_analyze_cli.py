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
    lines = [line for line in out.splitlines() if " seq " in line]
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
    assert code == 2 and "does not exist" in err


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


# -- usage errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("args,message", [
    (["--limit", "-1"], "Invalid value for '--limit': -1 is not in the range x>=0."),
    (["--json", "--csv"], "--json and --csv cannot be combined"),
    (["--csv", "--timeline"], "--timeline cannot be combined with --csv"),
])
def test_options_that_cannot_work_are_usage_errors(
    capture: Path, args: list[str], message: str
) -> None:
    code, out, err = run(str(capture), *args)
    assert code == 2
    assert out == ""
    assert message in err


def test_limit_zero_shows_the_summary_only(capture: Path) -> None:
    code, out, _ = run(str(capture), "--limit", "0")
    assert code == 0
    assert "TCP connections (21)" in out
    assert "... 21 more connections not shown" in out
    assert "10.1.0.1:40000" not in out


# -- timelines ------------------------------------------------------------------------------------


def test_text_timeline_shows_no_ack_for_segments_without_ack(tmp_path: Path) -> None:
    """Both SYNs of a simultaneous open carry no ACK: tcpdump prints no ack for them."""
    path = tmp_path / "simultaneous.pcap"
    write_shape(build("simultaneous_open"), path)
    code, out, _ = run(str(path), "--timeline")
    assert code == 0
    rows = [line.split() for line in out.splitlines() if " seq " in line]
    assert [row[1:8] for row in rows[:4]] == [
        ["o>r", "S", "seq", "0", "len", "0", "SYN_SENT"],
        ["o<r", "S", "seq", "0", "len", "0", "SYN_RECEIVED"],
        ["o>r", "S.", "seq", "0", "ack", "1", "len"],
        ["o<r", "S.", "seq", "0", "ack", "1", "len"],
    ]
    lines = [line for line in out.splitlines() if " seq " in line]
    assert lines[0].index(" len ") == lines[2].index(" len ")  # the column stays


# -- standard input -------------------------------------------------------------------------------


def test_dash_reads_standard_input(capture: Path) -> None:
    import subprocess
    import sys

    with capture.open("rb") as stdin:
        result = subprocess.run([sys.executable, "-m", "synack", "analyze", "--json", "-"],
                                stdin=stdin, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    from_file = run(str(capture), "--json")[1]
    assert result.stdout.decode() == from_file
    assert len(from_file.splitlines()) == 21


def test_dash_reads_a_pipe(capture: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "synack", "analyze", "--csv", "-"],
                            input=capture.read_bytes(), capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert len(list(csv.DictReader(io.StringIO(result.stdout.decode())))) == 21


def test_file_too_short_for_a_capture_header_is_not_a_capture(
    capture: Path, tmp_path: Path
) -> None:
    short = tmp_path / "short.pcap"
    short.write_bytes(capture.read_bytes()[:10])
    code, out, err = run(str(short), "--json")
    assert code == EXIT_UNREADABLE
    assert out == ""
    assert err == (f"synack analyze: {short}: not a capture: file ends at offset 10 inside the "
                   "pcap file header (10 of 24 bytes)\n")


# -- checksums ------------------------------------------------------------------------------------


def _bad_checksums_capture(path: Path) -> None:
    """A four-way connection; its 3rd packet's IPv4 header checksum is bad, its 4th packet's TCP
    checksum is bad."""
    shape = build("four_way")
    with open_writer(path, 101) as out:
        for i, (t, pkt) in enumerate(shape.packets):
            data = bytearray(pkt)
            if i == 2:
                data[10] ^= 0xFF  # IPv4 header checksum
            elif i == 3:
                data[20 + 16] ^= 0xFF  # TCP checksum
            out.write(round(t * 1e9), bytes(data))


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_bad_checksums_summary_agrees_with_the_records(tmp_path: Path, jobs: str) -> None:
    path = tmp_path / "checksums.pcap"
    _bad_checksums_capture(path)
    code, out, err = run(str(path), "--json", "--verify-checksums", "--jobs", jobs)
    assert code == 0
    (obj,) = [json.loads(line) for line in out.splitlines()]
    assert obj["bad_checksums"] == 1
    assert "C" in obj["history"]
    assert err.splitlines() == [
        "skipped packets: 1 with bad IPv4 header checksums",
        "1 segment with bad TCP checksums: left out of the Zeek and RFC views, counted in their "
        "connections' bad_checksums",
    ]
    code, out, err = run(str(path), "--csv", "--verify-checksums", "--jobs", jobs)
    assert code == 0
    (row,) = csv.DictReader(io.StringIO(out))
    assert row["bad_checksums"] == "1"
    assert "1 with bad IPv4 header checksums" in err
    assert "1 segment with bad TCP checksums" in err


def test_without_verification_no_checksum_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "checksums.pcap"
    _bad_checksums_capture(path)
    code, out, err = run(str(path), "--json")
    assert code == 0
    (obj,) = [json.loads(line) for line in out.splitlines()]
    assert obj["bad_checksums"] == 0
    assert err == ""
