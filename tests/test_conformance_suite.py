"""The whole shared FreeBSD TCP suite through the runner.

Every script passes except the ones listed in DIFFERENCES, each with its cause. The list is exact
in both directions: a listed script that starts passing, or a new failure, fails the test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from synack.conformance.runner import run_file

SUITE = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "freebsd-tcp-testsuite"

OLD_SEQ_ACK = (
    "RFC 9293 §3.10.7.4: a segment with an old sequence number is answered by an ACK and "
    "dropped; FreeBSD acts on its ACK field and stays silent"
)
FIN_OUTSIDE = (
    "RFC 9293 §3.10.7.4: an unacceptable FIN in TIME-WAIT is answered by an ACK; the script "
    "expects FreeBSD's silence (its README, note 1)"
)
SYNACK_LISTEN = (
    "RFC 9293 §3.10.7.2: a SYN-ACK to a listener is answered by RST as its README says; "
    "the script has no line for that RST"
)

DIFFERENCES = {
    "snippets/closed-via-last-ack-ipv4.pkt": OLD_SEQ_ACK,
    "snippets/closed-via-last-ack-ipv6.pkt": OLD_SEQ_ACK,
    "snippets/time-wait-via-closing-ipv4.pkt": OLD_SEQ_ACK,
    "snippets/time-wait-via-closing-ipv6.pkt": OLD_SEQ_ACK,
    **{
        f"state-event-engine/rcv-fin-time-wait/rcv-fin-time-wait-using-shutdown-{edge}-ipv{v}.pkt":
        FIN_OUTSIDE
        for edge in ("outside-left", "outside-right")
        for v in (4, 6)
    },
    **{
        f"state-event-engine/rcv-syn-ack-listen/rcv-syn-ack-{kind}-listen-ipv{v}.pkt": SYNACK_LISTEN
        for kind in ("with-data", "without-data")
        for v in (4, 6)
    },
}

SCRIPTS = sorted(SUITE.rglob("*.pkt"))


def test_the_suite_is_present() -> None:
    assert len(SCRIPTS) > 500


@pytest.mark.parametrize("folder", sorted({p.parent for p in SCRIPTS}), ids=lambda p: p.name)
def test_every_script_passes_or_is_a_documented_difference(folder: Path) -> None:
    failed = set()
    for path in sorted(folder.glob("*.pkt")):
        result = run_file(path)
        if not result.passed:
            failed.add(path.relative_to(SUITE).as_posix())
    expected = {name for name in DIFFERENCES if (SUITE / name).parent == folder}
    assert failed == expected
