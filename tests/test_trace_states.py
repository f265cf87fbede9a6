"""`synack trace CAPTURE --states`: tcpdump's line untouched, then both endpoints' states."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from scapy.layers.inet import IP, TCP, UDP
from scapy.packet import Raw

from synack.capture.writer import open_writer
from synack.cli import main
from synack.cli.trace import states_suffix

T0 = 1_700_000_000_000_000_000
DLT_RAW = 101
A, B, C = "10.0.0.1", "10.0.0.2", "10.0.0.3"
_SUFFIX = re.compile(r"  \[sender ([A-Z_12]+) / receiver ([A-Z_12]+)\]$")


def _seg(src: str, dst: str, sport: int, dport: int, flags: str, seq: int, ack: int = 0,
         data: bytes = b"") -> bytes:
    pkt = IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack)
    return bytes(pkt / Raw(data)) if data else bytes(pkt)


@pytest.fixture
def crafted(tmp_path: Path) -> Path:
    """A full connection (handshake, data, four-way close), a UDP datagram, a connection whose
    start was not captured, and a connection refused by RST."""
    frames = [
        _seg(A, B, 5555, 80, "S", 100),
        _seg(B, A, 80, 5555, "SA", 700, 101),
        _seg(A, B, 5555, 80, "A", 101, 701),
        bytes(IP(src=A, dst=B) / UDP(sport=53, dport=53) / Raw(b"x")),
        _seg(A, B, 5555, 80, "PA", 101, 701, b"hello"),
        _seg(B, A, 80, 5555, "A", 701, 106),
        _seg(A, B, 5555, 80, "FA", 106, 701),
        _seg(B, A, 80, 5555, "A", 701, 107),
        _seg(B, A, 80, 5555, "FA", 701, 107),
        _seg(A, B, 5555, 80, "A", 107, 702),
        _seg(C, B, 6000, 22, "PA", 5000, 9000, b"mid"),
        _seg(B, C, 22, 6000, "A", 9000, 5003),
        _seg(C, B, 7000, 81, "S", 1),
        _seg(B, C, 81, 7000, "RA", 0, 2),
    ]
    path = tmp_path / "crafted.pcap"
    with open_writer(path, DLT_RAW) as out:
        for index, frame in enumerate(frames):
            out.write(T0 + index * 1_000_000, frame)
    return path


CRAFTED_STATES = [
    ("SYN_SENT", "LISTEN"),
    ("SYN_RECEIVED", "ESTABLISHED"),
    ("ESTABLISHED", "ESTABLISHED"),
    ("ESTABLISHED", "ESTABLISHED"),
    ("ESTABLISHED", "ESTABLISHED"),
    ("FIN_WAIT_1", "CLOSE_WAIT"),
    ("CLOSE_WAIT", "FIN_WAIT_2"),
    ("LAST_ACK", "TIME_WAIT"),
    ("TIME_WAIT", "CLOSED"),
    ("ESTABLISHED", "ESTABLISHED"),
    ("ESTABLISHED", "ESTABLISHED"),
    ("SYN_SENT", "LISTEN"),
    ("CLOSED", "CLOSED"),
]


def _trace(path: Path, *args: str) -> list[str]:
    result = CliRunner().invoke(main, ["trace", *args, str(path)])
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def _split(lines: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    plain: list[str] = []
    states: list[tuple[str, str]] = []
    for line in lines:
        m = _SUFFIX.search(line)
        assert m is not None, line
        plain.append(line[: m.start()])
        states.append((m.group(1), m.group(2)))
    return plain, states


def test_states_on_a_crafted_capture(crafted: Path) -> None:
    plain, states = _split(_trace(crafted, "--states"))
    assert states == CRAFTED_STATES
    assert plain == _trace(crafted)  # the tcpdump text is untouched


def test_states_with_absolute_numbers(crafted: Path) -> None:
    plain, states = _split(_trace(crafted, "--states", "-S"))
    assert states == CRAFTED_STATES
    assert plain == _trace(crafted, "-S")
    assert plain[2].endswith("Flags [.], ack 701, win 8192, length 0")


def test_suffix_format() -> None:
    assert states_suffix(("SYN_SENT", "LISTEN")) == "  [sender SYN_SENT / receiver LISTEN]"
    assert states_suffix(None) == ""


def test_states_on_a_simulated_four_way_close(tmp_path: Path) -> None:
    catalog = pytest.importorskip("synack.scenarios.catalog")
    lab = catalog.SCENARIOS["four-way-close"].run(1)
    path = tmp_path / "four-way-close.pcap"
    lab.write_pcap(path)
    plain, states = _split(_trace(path, "--states"))
    assert plain == _trace(path)
    # The client half-closes at once; the server sends from CLOSE_WAIT, then closes.
    assert [p.split(": Flags ")[1].split("]")[0] + "]" for p in plain] == [
        "[S]", "[S.]", "[.]", "[F.]", "[.]", "[P.]", "[.]", "[F.]", "[.]",
    ]
    assert states == [
        ("SYN_SENT", "LISTEN"),
        ("SYN_RECEIVED", "ESTABLISHED"),
        ("ESTABLISHED", "ESTABLISHED"),
        ("FIN_WAIT_1", "CLOSE_WAIT"),
        ("CLOSE_WAIT", "FIN_WAIT_2"),
        ("CLOSE_WAIT", "FIN_WAIT_2"),
        ("FIN_WAIT_2", "CLOSE_WAIT"),
        ("LAST_ACK", "TIME_WAIT"),
        ("TIME_WAIT", "CLOSED"),
    ]
