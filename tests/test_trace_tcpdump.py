"""`synack trace` against the real `TZ=UTC tcpdump -nn -r` on every capture in the shared corpus.

Packets are paired by their number in the file (`tcpdump -#`), so nothing can be silently skipped:
every packet tcpdump prints as TCP and every packet synack prints must agree, up to and
including `length N` (tcpdump's application decodes after it are not reproduced). A second check
runs tcpdump with a BPF filter selecting TCP and requires the same list of lines.

This module also holds the comparison functions the other trace tests import.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from synack.capture.reader import open_capture
from synack.capture.tcpdump import trace_capture

TRACES = Path(__file__).resolve().parents[2] / "shared" / "captures" / "zeek" / "traces"
TRACE_FILES = sorted(TRACES.glob("*.pcap*")) if TRACES.is_dir() else []

needs_tcpdump = pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump not installed")

_NUMBERED = re.compile(r"^\s*(\d+)  (.*)$")
# What tcpdump prints for a packet it decoded as TCP (header, malformed header, cut capture,
# later IPv4 fragment of a TCP datagram).
_TCP_TEXT = re.compile(r"> \S+: (Flags \[| tcp \d)|\[\|tcp\]|ip-proto-6\b")
_LENGTH = re.compile(r", length \d+")
BPF_TCP = "tcp or (vlan and tcp) or (vlan and vlan and tcp)"


def tcpdump_packets(path: Path, *, absolute: bool = False) -> dict[int, str]:
    """tcpdump's text for each packet of `path`, by packet number (1-based)."""
    args = ["tcpdump", "-#", "-nn", "-r", str(path)] + (["-S"] if absolute else [])
    result = subprocess.run(
        args, capture_output=True, text=True, errors="replace", env=_tcpdump_env(), check=True
    )
    packets: dict[int, str] = {}
    current: int | None = None
    for line in result.stdout.split("\n"):
        match = _NUMBERED.match(line)
        if match:
            current = int(match.group(1))
            packets[current] = match.group(2)
        elif current is not None:  # a decoder that prints more than one line
            packets[current] += "\n" + line
    return {number: text.rstrip("\n") for number, text in packets.items()}


def tcpdump_filtered_lines(path: Path, bpf: str, *, absolute: bool = False) -> list[str]:
    args = ["tcpdump", "-nn", "-r", str(path)] + (["-S"] if absolute else []) + [bpf]
    result = subprocess.run(
        args, capture_output=True, text=True, errors="replace", env=_tcpdump_env(), check=True
    )
    return result.stdout.splitlines()


def _tcpdump_env() -> dict[str, str]:
    return {"TZ": "UTC", "PATH": os.environ.get("PATH", "/usr/bin:/usr/sbin:/bin")}


def synack_packets(path: Path, *, absolute: bool = False) -> dict[int, str]:
    """synack's line for each TCP packet of `path`, by packet number (1-based)."""
    with open_capture(path) as reader:
        return dict(trace_capture(reader, absolute=absolute))


def up_to_length(text: str) -> str:
    """The part of a TCP line that must be identical: everything up to `length N`."""
    start = text.find("Flags [")
    if start < 0:
        return text
    match = _LENGTH.search(text, start)
    return text[: match.end()] if match else text


@dataclass
class Comparison:
    matched: int = 0
    total: int = 0
    mismatches: list[tuple[int, str, str]] = field(default_factory=list)

    def report(self, limit: int = 10) -> str:
        lines = [f"{self.matched}/{self.total} TCP packets identical"]
        for number, expected, got in self.mismatches[:limit]:
            lines += [f"packet {number}:", f"  tcpdump: {expected}", f"  synack:  {got}"]
        return "\n".join(lines)


def compare(path: Path, *, absolute: bool = False) -> Comparison:
    """Pair every packet either side prints as TCP and compare them up to `length N`."""
    expected = tcpdump_packets(path, absolute=absolute)
    got = synack_packets(path, absolute=absolute)
    tcp_numbers = {n for n, text in expected.items() if _TCP_TEXT.search(text)} | set(got)
    result = Comparison(total=len(tcp_numbers))
    for number in sorted(tcp_numbers):
        want = up_to_length(expected.get(number, "<not printed as TCP by tcpdump>"))
        have = up_to_length(got.get(number, "<not printed by synack>"))
        if want == have:
            result.matched += 1
        else:
            result.mismatches.append((number, want, have))
    return result


@needs_tcpdump
@pytest.mark.tools
@pytest.mark.parametrize("absolute", [False, True], ids=["relative", "absolute"])
@pytest.mark.parametrize("path", TRACE_FILES, ids=[p.name for p in TRACE_FILES])
def test_every_tcp_packet_matches_tcpdump(path: Path, absolute: bool) -> None:
    result = compare(path, absolute=absolute)
    print(f"{path.name} {'-S ' if absolute else ''}{result.report()}")
    assert result.total > 0
    assert result.mismatches == [], result.report()


@needs_tcpdump
@pytest.mark.tools
@pytest.mark.parametrize("path", TRACE_FILES, ids=[p.name for p in TRACE_FILES])
def test_same_packets_as_a_bpf_tcp_filter(path: Path) -> None:
    """The packets synack prints are exactly those libpcap's `tcp` filter selects, in order."""
    expected = [up_to_length(line) for line in tcpdump_filtered_lines(path, BPF_TCP)]
    got = [up_to_length(line) for line in synack_packets(path).values()]
    assert got == expected


@needs_tcpdump
@pytest.mark.tools
@pytest.mark.parametrize("path", TRACE_FILES, ids=[p.name for p in TRACE_FILES])
def test_whole_lines_including_application_decodes(path: Path) -> None:
    """Beyond `length N`: the HTTP, FTP and SSH first lines tcpdump appends match too."""
    expected = tcpdump_packets(path)
    got = synack_packets(path)
    assert {number: expected.get(number) for number in got} == got


def test_the_shared_corpus_is_present() -> None:
    assert len(TRACE_FILES) >= 10
