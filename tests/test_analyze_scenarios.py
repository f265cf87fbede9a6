"""The observer against the simulated network: every demo scenario's capture, analysed, must show
the states the simulated endpoints were really in when the last packet was captured."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from synack.analyze.engine import analyze_file
from synack.analyze.summary import ConnectionRecord

catalog = pytest.importorskip("synack.scenarios.catalog")

_ARROW = re.compile(r"-> ([A-Z_12]+)")
# Transitions later than this after the last packet come from timers (TIME-WAIT's 2 MSL, the
# FIN-WAIT-2 timeout, given-up retransmissions): nothing in the capture can show them.
TIMER_SLACK_NS = 500_000_000


def true_states(lab: object) -> dict[str, str]:
    """actor -> state at the end of the capture, from the transcript's transition notes."""
    records = lab.records  # type: ignore[attr-defined]
    end = records[-1].timestamp_ns + TIMER_SLACK_NS
    states: dict[str, str] = {}
    for entry in lab.transcript.entries:  # type: ignore[attr-defined]
        if entry.kind != "note" or entry.timestamp_ns > end:
            continue
        m = _ARROW.search(entry.text)
        if m and m.group(1) != "LISTEN":
            states[entry.actor] = m.group(1)
    return states


@pytest.mark.parametrize("name", sorted(catalog.SCENARIOS))
def test_scenario_final_states(name: str, tmp_path: Path) -> None:
    lab = catalog.SCENARIOS[name].run(1)
    path = tmp_path / f"{name}.pcap"
    lab.write_pcap(path)
    recs: list[ConnectionRecord] = []
    analyze_file(path, lambda rec, conn: recs.append(rec))
    assert recs
    last = max(recs, key=lambda r: r.ts)
    client_is_orig = last.orig_h == lab.client_addr
    inferred = {
        "client": last.orig_state if client_is_orig else last.resp_state,
        "server": last.resp_state if client_is_orig else last.orig_state,
    }
    truth = true_states(lab)
    assert truth
    assert {actor: inferred[actor] for actor in truth} == truth
