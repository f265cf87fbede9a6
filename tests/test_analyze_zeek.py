"""conn_state, history, packet and byte counts against Zeek's records of the shared captures."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from synack.analyze.engine import analyze_file
from synack.analyze.summary import ConnectionRecord

# Another directory of Zeek-recorded captures (traces/ + expected_conn.tsv in the same format) can
# be compared with SYNACK_ZEEK_CAPTURES=DIR.
ZEEK = Path(os.environ.get(
    "SYNACK_ZEEK_CAPTURES", Path(__file__).resolve().parents[2] / "shared" / "captures" / "zeek"
))
ROWS = list(csv.DictReader((ZEEK / "expected_conn.tsv").open(), delimiter="\t")) if (
    ZEEK / "expected_conn.tsv"
).exists() else []

# Deliberate differences: Zeek's GridFTP script stops processing a data channel once it has
# identified it (skip_further_processing), so Zeek never sees its FINs; synack reads every packet.
DELIBERATE = {("traces/globus-url-copy.pcap", "35391"): ("SF", "ShADadfF")}

pytestmark = pytest.mark.skipif(not ROWS, reason="shared Zeek captures not available")

_cache: dict[str, list[ConnectionRecord]] = {}


def _records(trace: str, verify: bool) -> list[ConnectionRecord]:
    if trace not in _cache:
        got: list[ConnectionRecord] = []
        analyze_file(ZEEK / trace, lambda rec, conn: got.append(rec), verify_checksums=verify)
        _cache[trace] = got
    return _cache[trace]


def _match(row: dict[str, str], records: list[ConnectionRecord]) -> list[ConnectionRecord]:
    if not row["orig_h"]:
        return records
    return [
        r for r in records
        if (r.orig_h, str(r.orig_p), r.resp_h, str(r.resp_p))
        == (row["orig_h"], row["orig_p"], row["resp_h"], row["resp_p"])
    ]


def _dash(v: object) -> str:
    return "-" if v is None else str(v)


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r['trace']}:{r['orig_p']}:{r['history']}")
def test_conn_state_and_history_equal_zeek(row: dict[str, str]) -> None:
    verify = row["zeek_checksums_ignored"] == "no"
    candidates = _match(row, _records(row["trace"], verify))
    expected = DELIBERATE.get((row["trace"], row["orig_p"]), (row["conn_state"], row["history"]))
    matching = [r for r in candidates if (r.conn_state, r.history) == expected]
    assert matching, [(r.conn_state, r.history) for r in candidates]
    if row["trace"] == "traces/globus-url-copy.pcap" and row["orig_p"] == "35391":
        return
    rec = matching[0]
    if row["orig_pkts"]:
        assert (rec.orig_pkts, rec.resp_pkts) == (int(row["orig_pkts"]), int(row["resp_pkts"]))
        assert (_dash(rec.orig_bytes), _dash(rec.resp_bytes)) == (
            row["orig_bytes"], row["resp_bytes"])
    if row["duration"] not in ("", "-"):
        assert rec.duration == pytest.approx(float(row["duration"]), abs=2e-6)


def test_every_zeek_row_has_its_own_record() -> None:
    """Zeek's splits of one 4-tuple (timers, a new SYN) are reproduced: as many records."""
    by_trace: dict[str, int] = {}
    for row in ROWS:
        by_trace[row["trace"]] = by_trace.get(row["trace"], 0) + 1
    for trace, n in by_trace.items():
        verify = next(r for r in ROWS if r["trace"] == trace)["zeek_checksums_ignored"] == "no"
        assert len(_records(trace, verify)) == n, trace
