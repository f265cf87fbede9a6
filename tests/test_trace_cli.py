"""`synack trace CAPTURE [-S]` on capture files: the lines, -S, standard input, damaged files."""

from __future__ import annotations

from pathlib import Path

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
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(capture.read_bytes()[:-3])
    result = CliRunner().invoke(main, ["trace", str(cut)])
    assert result.exit_code == 0
    assert result.stdout.splitlines() == EXPECTED[:3]
    assert "truncated at offset" in result.stderr


def test_trace_rejects_a_file_that_is_not_a_capture(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a capture file\n")
    result = CliRunner().invoke(main, ["trace", str(path)])
    assert result.exit_code == 1
    assert "Error:" in result.output


@needs_tcpdump
@pytest.mark.tools
@pytest.mark.parametrize("path", TRACE_FILES[:3], ids=[p.name for p in TRACE_FILES[:3]])
def test_trace_command_output_equals_tcpdump(path: Path) -> None:
    result = CliRunner().invoke(main, ["trace", str(path)])
    assert result.exit_code == 0, result.output
    got = [up_to_length(line) for line in result.output.splitlines()]
    assert got == [up_to_length(line) for line in tcpdump_filtered_lines(path, "tcp")]
