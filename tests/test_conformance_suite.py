"""Folders of the shared FreeBSD suite synack passes: RFC 793 and RFC 5961 behaviour per state."""

from __future__ import annotations

from pathlib import Path

import pytest

from synack.conformance.runner import run_file

SUITE = Path("/work/shared/conformance/freebsd-tcp-testsuite/state-event-engine")
FOLDERS = [
    "rcv-rst-established",  # RST: exact (reset), in window (challenge ACK or reset), outside
    "rcv-syn-established",  # SYN: challenge ACK (RFC 5961 §4) or reset (RFC 793)
    "rcv-rst-syn-sent",
    "rcv-ack-closed",
    "rcv-syn-listen",
]


@pytest.mark.skipif(not SUITE.is_dir(), reason="shared suite not present")
@pytest.mark.parametrize("folder", FOLDERS)
def test_suite_folder_passes(folder: str) -> None:
    scripts = sorted((SUITE / folder).glob("*.pkt"))
    assert scripts
    failures = [f"{p.name}: {r.reason}" for p in scripts if not (r := run_file(p)).passed]
    assert failures == []
