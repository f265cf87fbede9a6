"""`synack trace CAPTURE [-S]` on capture files: the lines, -S, standard input, damaged files."""

from __future__ import annotations

import os
import select
import struct
import subprocess
import sys
from pathlib import Path
from typing import IO

import pytest
from click.testing import CliRunner
from scapy.layers.inet import IP, TCP, UDP
from scapy.packet import Raw

from synack.capture.writer import open_writer
from synack.cli import main
from test_trace_tcpdump import TRACE_FILES, needs_tcpdump, tcpdump_filtered_lines, up_to_length

T0 = 1_700_000_000_123_456_789  # 2023-11-14 22:13:20.123456789 UTC
DLT_RAW = 101


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    """A SYN, SYN-ACK, ACK, one data segment and a UDP datagram, as raw IP."""
    path = tmp_path / "handshake.pcap"
    frames = [
        IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=5555, dport=80, flags="S", seq=100),
        IP(src="10.0.0.2", dst="10.0.0.1") / TCP(sport=80, dport=5555, flags="SA", seq=7, ack=101),
        IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=53, dport=53) / Raw(b"x"),
        IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=5555, dport=80, flags="A", seq=101, ack=8),
        IP(src="10.0.0.1", dst="10.0.0.2")
        / TCP(sport=5555, dport=80, flags="PA", seq=101, ack=8)
        / Raw(b"GET / HTTP/1.1\r\n\r\n"),
    ]
    with open_writer(path, DLT_RAW) as out:
        for index, frame in enumerate(frames):
            out.write(T0 + index * 1000, bytes(frame))
    return path


EXPECTED = [
    "22:13:20.123456 IP 10.0.0.1.5555 > 10.0.0.2.80: Flags [S], seq 100, win 8192, length 0",
    "22:13:20.123457 IP 10.0.0.2.80 > 10.0.0.1.5555: Flags [S.], seq 7, ack 101, win 8192, "
    "length 0",
    "22:13:20.123459 IP 10.0.0.1.5555 > 10.0.0.2.80: Flags [.], ack 1, win 8192, length 0",
    "22:13:20.123460 IP 10.0.0.1.5555 > 10.0.0.2.80: Flags [P.], seq 1:19, ack 1, win 8192, "
    "length 18: HTTP: GET / HTTP/1.1",
]


def test_trace_prints_tcp_lines_only(capture: Path) -> None:
    result = CliRunner().invoke(main, ["trace", str(capture)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == EXPECTED


def test_trace_absolute_numbers(capture: Path) -> None:
    result = CliRunner().invoke(main, ["trace", "-S", str(capture)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[2].endswith("Flags [.], ack 8, win 8192, length 0")
    assert lines[3].endswith(
        "Flags [P.], seq 101:119, ack 8, win 8192, length 18: HTTP: GET / HTTP/1.1"
    )


def test_trace_reads_standard_input(capture: Path) -> None:
    result = CliRunner().invoke(main, ["trace", "-"], input=capture.read_bytes())
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == EXPECTED


def test_trace_reports_a_cut_file_and_keeps_what_it_read(tmp_path: Path, capture: Path) -> None:
    """As tcpdump, the packets before the damage are printed, then the status is not 0 (3, as
    `synack analyze` exits for a truncated or corrupt capture)."""
    data = capture.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-3])
    result = CliRunner().invoke(main, ["trace", str(cut)])
    assert result.exit_code == 3
    assert result.stdout.splitlines() == EXPECTED[:3]
    last = len(data) - (16 + 58)  # the last record: 16-byte header, 58 bytes of IP
    assert result.stderr == (
        f"Error: {cut}: truncated or corrupt at offset {last}: file ends at offset "
        f"{len(data) - 3} inside packet data (55 of 58 captured bytes)\n"
    )


def test_trace_rejects_a_file_that_is_not_a_capture(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a capture file\n")
    result = CliRunner().invoke(main, ["trace", str(path)])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {path}: not a pcap or pcapng capture: a file starting with 0x68656c6c\n")


def test_trace_file_too_short_for_a_capture_header_is_not_a_capture(
    tmp_path: Path, capture: Path
) -> None:
    short = tmp_path / "short.pcap"
    short.write_bytes(capture.read_bytes()[:10])
    result = CliRunner().invoke(main, ["trace", str(short)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: {short}: not a capture: file ends at offset 10 inside the pcap file header "
        "(10 of 24 bytes)\n"
    )


@pytest.mark.parametrize("command", ["trace", "analyze"])
def test_a_missing_capture_is_a_usage_error_for_trace_and_analyze(
    tmp_path: Path, command: str
) -> None:
    missing = tmp_path / "missing.pcap"
    result = CliRunner().invoke(main, [command, str(missing)])
    assert result.exit_code == 2
    assert f"Error: Invalid value for 'CAPTURE': File '{missing}' does not exist." in (
        result.stderr)


@needs_tcpdump
@pytest.mark.tools
@pytest.mark.parametrize("path", TRACE_FILES[:3], ids=[p.name for p in TRACE_FILES[:3]])
def test_trace_command_output_equals_tcpdump(path: Path) -> None:
    result = CliRunner().invoke(main, ["trace", str(path)])
    assert result.exit_code == 0, result.output
    got = [up_to_length(line) for line in result.output.splitlines()]
    assert got == [up_to_length(line) for line in tcpdump_filtered_lines(path, "tcp")]


# -- output: batched writes, a live pipe, a reader that stops early ------------------------------


def _trace_process(*args: str, stdin: int | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "synack", "trace", *args],
        stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _read_line(stream: IO[bytes], timeout: float = 30.0) -> bytes:
    """One line of `stream`, failing if it does not come within `timeout` seconds."""
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, "no line within the time limit"
    return stream.readline()


def test_trace_prints_each_line_of_a_live_pipe_before_waiting_for_more(capture: Path) -> None:
    """`tcpdump -U -w - | synack trace -`: lines are written in batches, but every line read so
    far is out before synack waits for the next packet."""
    data = capture.read_bytes()
    offset, records = 24, []  # the pcap records after the file header
    while offset < len(data):
        length = struct.unpack_from("<I", data, offset + 8)[0]
        records.append(data[offset : offset + 16 + length])
        offset += 16 + length
    process = _trace_process("-", stdin=subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write(data[:24] + records[0])
        process.stdin.flush()
        assert _read_line(process.stdout).decode().rstrip("\n") == EXPECTED[0]
        process.stdin.write(records[1])
        process.stdin.flush()
        assert _read_line(process.stdout).decode().rstrip("\n") == EXPECTED[1]
        process.stdin.write(b"".join(records[2:]))
        process.stdin.close()
        rest = process.stdout.read().decode().splitlines()
        assert rest == EXPECTED[2:]
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        process.wait()


def test_trace_into_a_reader_that_stops_early_exits_quietly(tmp_path: Path) -> None:
    """`synack trace big.pcap | head -1`: no traceback, no message, exit status 0."""
    path = tmp_path / "many.pcap"
    frame = bytes(IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=5555, dport=443, flags="A"))
    with open_writer(path, DLT_RAW) as out:
        for index in range(30_000):
            out.write(T0 + index * 1000, frame)
    process = _trace_process(str(path))
    assert process.stdout is not None and process.stderr is not None
    first = _read_line(process.stdout).decode()
    assert first.startswith("22:13:20.123456 IP 10.0.0.1.5555 > 10.0.0.2.443: Flags [.]")
    process.stdout.close()
    assert process.wait(timeout=60) == 0
    assert process.stderr.read() == b""
