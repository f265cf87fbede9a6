"""The observer's inlined per-packet loop (`engine.run`) and `Tracker.segment` agree.

`engine.run` applies the common segment in place; with an `on_packet` hook it sends every
segment through `Tracker.segment` instead. Both must produce the same connection records.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from synack.analyze import analyze_file
from synack.analyze.summary import ConnectionRecord

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import synth

TRACES = Path(__file__).resolve().parents[2] / "shared" / "captures" / "zeek" / "traces"


def records(path: Path, *, hooked: bool) -> list[ConnectionRecord]:
    out: list[ConnectionRecord] = []
    hook = (lambda *args: None) if hooked else None
    analyze_file(path, lambda record, conn: out.append(record), on_packet=hook)
    return out


@pytest.mark.parametrize("path", sorted(TRACES.iterdir()), ids=lambda p: p.name)
def test_shared_captures_same_records_either_path(path: Path) -> None:
    inline = records(path, hooked=False)
    assert inline == records(path, hooked=True)


def test_synthetic_capture_same_records_either_path(tmp_path: Path) -> None:
    path = tmp_path / "synthetic.pcap"
    synth.generate(path, packets=20_000, seed=5)
    inline = records(path, hooked=False)
    assert len(inline) > 1000
    assert inline == records(path, hooked=True)
