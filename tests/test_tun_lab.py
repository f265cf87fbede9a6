"""`synack lab` scenarios against the Linux kernel, each in a private network namespace."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from synack.cli import lab
from synack.cli.serve import LinkOptions
from synack.net import tun

REASON = tun.tun_unavailable_reason()
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(REASON is not None, reason=f"TUN unavailable: {REASON}"),
]


def test_handshake_echo_and_synack_closing_first() -> None:
    facts = lab.run_scenario("handshake").facts
    assert facts["synack_state"] == "ESTABLISHED"
    assert facts["kernel_states"] == ["ESTAB"]
    assert facts["echoed"] == "hello, kernel"
    assert facts["kernel_after_synack_fin"] == ["CLOSE-WAIT"]
    assert facts["synack_final"] == "TIME_WAIT"
    assert facts["kernel_final"] == []


def test_refused_both_ways() -> None:
    facts = lab.run_scenario("refused").facts
    assert facts == {
        "synack_connect": "ConnectionRefusedError",
        "kernel_connect": "ConnectionRefusedError",
    }


def test_reset_mid_connection_both_ways() -> None:
    facts = lab.run_scenario("reset").facts
    assert facts == {
        "kernel_recv": "ConnectionResetError",
        "synack_read": "ConnectionResetError",
        "synack_state": "CLOSED",
    }


def test_simultaneous_close_against_the_kernel() -> None:
    facts = lab.run_scenario("simultaneous-close").facts
    assert facts == {"synack_final": "TIME_WAIT", "kernel_final": ["TIME-WAIT"]}


def test_time_wait_re_acknowledges_retransmitted_fin() -> None:
    facts = lab.run_scenario("time-wait").facts
    assert facts["dropped_acks"] == 1
    assert facts["re_acks"] == 1
    assert facts["synack_final"] == "TIME_WAIT"
    assert facts["kernel_final"] == []  # the re-ACK took the kernel out of LAST-ACK


def test_sack_recovery_against_linux_resends_only_the_two_lost_segments() -> None:
    """Linux's SACK blocks drive synack's RFC 6675 recovery: both holes are resent, nothing
    else is (a timeout would resend from the first hole on)."""
    facts = lab.run_scenario("sack-recovery").facts
    assert facts == {
        "first_unacknowledged_when_the_second_went": 3,
        "kernel_received": True,
        "resent": [3, 7],
    }


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_unmodified_asyncio_protocol_serves_curl() -> None:
    facts = lab.run_scenario("http").facts
    assert facts == {"curl_exit": 0, "curl_body_matches": True}


@pytest.mark.tools
@pytest.mark.skipif(shutil.which("tcpdump") is None or shutil.which("curl") is None,
                    reason="needs tcpdump and curl")
def test_tcpdump_on_the_tun_device_prints_what_synack_printed() -> None:
    """tcpdump -nn capturing on the TUN device and synack's own lines agree line for line
    (timestamps aside: both clocks read the same packets at slightly different moments), over a
    handshake and close, two resets and an HTTP exchange on port 80."""
    with tempfile.TemporaryDirectory() as tmp:
        capture = os.path.join(tmp, "tun.pcap")
        out = io.StringIO()
        opts = LinkOptions(tun.TunLink(), "labcap0", None, False)
        with tun.private_netns():
            device = tun.open_tun_link(opts.link, name="labcap0")
            # -B: with the default 2 MiB buffer and 256 KiB snaplen the kernel's capture ring
            # holds about eight packets, and a tcpdump starved of CPU loses a burst.
            proc = subprocess.Popen(
                ["tcpdump", "-nn", "-U", "--immediate-mode", "-B", "32768", "-Z", "root",
                 "-i", device.name, "-w", capture],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                assert proc.stderr is not None
                assert b"listening on labcap0" in proc.stderr.readline()
                lab_run(opts, out, device, capture)
            finally:
                time.sleep(0.2)
                proc.send_signal(signal.SIGINT)
                _, err = proc.communicate(timeout=10)
        printed = [strip_time(line) for line in out.getvalue().splitlines()
                   if line[:2].isdigit()]
        read = subprocess.run(["tcpdump", "-nn", "-r", capture], capture_output=True, text=True,
                              env={**os.environ, "TZ": "UTC"})
        captured = [strip_time(line) for line in read.stdout.splitlines()]
    assert b"packets captured" in err, err
    assert len(printed) >= 30
    assert same_but_for_crossings(captured, printed), (captured, printed, read.stderr, err)


def same_but_for_crossings(captured: list[str], printed: list[str]) -> bool:
    """Equal line for line, except that two adjacent packets going opposite ways may be swapped.

    Packets that cross (e.g. both ends' FINs) are in flight at the same moment: the device sees
    the kernel's before synack writes its own, while synack reads the kernel's only after.
    Each direction's own order must still be exact.
    """
    if len(captured) != len(printed):
        return False
    lines = list(printed)
    i = 0
    while i < len(lines):
        if lines[i] != captured[i]:
            swappable = (
                i + 1 < len(lines)
                and lines[i + 1] == captured[i]
                and lines[i] == captured[i + 1]
                and direction(lines[i]) != direction(lines[i + 1])
            )
            if not swappable:
                return False
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
        i += 1
    return True


def direction(line: str) -> str:
    """`a.b.c.d.port > e.f.g.h.port` of a tcpdump line without its timestamp."""
    return line.split(":", 1)[0]


def test_crossing_packets_may_swap_but_nothing_else() -> None:
    a = "IP 192.0.2.1.80 > 192.0.2.2.5: Flags [F.], seq 1, ack 1, win 1, length 0"
    b = "IP 192.0.2.2.5 > 192.0.2.1.80: Flags [F.], seq 1, ack 1, win 1, length 0"
    c = "IP 192.0.2.2.5 > 192.0.2.1.80: Flags [.], ack 2, win 1, length 0"
    assert same_but_for_crossings([a, b, c], [b, a, c])
    assert not same_but_for_crossings([b, c, a], [c, b, a])  # same direction: order is kept
    assert not same_but_for_crossings([a, b], [a, c])


def lab_run(opts: LinkOptions, out: io.StringIO, device: tun.Tun, capture: str) -> None:
    import asyncio

    async def main() -> None:
        session = lab.Lab(opts, out, device)
        try:
            for scenario in (lab.handshake, lab.reset, lab.http):
                await asyncio.wait_for(scenario(session), 30)
            await session.stack.settle(2)
            # The device goes with the session: first let tcpdump (writing each packet at once,
            # -U) catch up with every packet synack printed, however busy the machine is.
            printed = sum(line[:2].isdigit() for line in out.getvalue().splitlines())
            deadline = time.monotonic() + 20
            while captured_count(capture) < printed and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        finally:
            session.close()

    asyncio.run(main())


def captured_count(path: str) -> int:
    """Packets tcpdump has written to `path` so far (a record cut mid-write is not counted)."""
    from synack.capture.reader import open_capture

    try:
        with open_capture(path) as reader:
            return sum(1 for _ in reader.iter_records())
    except (OSError, ValueError):
        return 0


def strip_time(line: str) -> str:
    return line.split(" ", 1)[1]
