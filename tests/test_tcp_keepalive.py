"""Keep-alives (RFC 9293 §3.8.4) as Linux sends them: off by default; after the idle time a probe
<SEQ=SND.UNA-1><CTL=ACK>, then one per interval; RST and TimeoutError after the last one."""

from __future__ import annotations

from synack.tcp.config import TcpConfig
from synack.tcp.events import ConnectionFailed
from synack.tcp.state import State
from synack.wire.seq import SEQ_MASK
from synack.wire.tcp import TcpSegment
from test_tcp_support import Pair, events

C_ISS = 2**32 - 10001


def keeping(idle: float = 10.0, interval: float = 5.0, probes: int = 3) -> Pair:
    config = TcpConfig(keepalive_idle=idle, keepalive_interval=interval, keepalive_probes=probes)
    pair = Pair(client_config=config)
    pair.handshake()
    pair.client.set_keepalive(True, pair.now)
    return pair


def client_segments(pair: Pair, until: float, drop_answers_after: float | None = None) -> list[
    tuple[float, str, int, int]
]:
    """Run to `until`; the client's segments as (time, flags, relative seq, length)."""
    seen: list[tuple[float, str, int, int]] = []

    def note(direction: str, seg: TcpSegment) -> bool:
        if direction == "c>s":
            flags = "R" if seg.flags & 0x04 else "."
            seen.append((pair.now, flags, (seg.seq - C_ISS) & SEQ_MASK, len(seg.payload)))
            return False
        return drop_answers_after is not None and pair.now >= drop_answers_after

    pair.run_until(until, note)
    return seen


def test_keepalives_are_off_unless_asked_for() -> None:
    pair = Pair()
    pair.handshake()
    assert pair.client.keepalive is False and pair.client.next_deadline() is None


def test_a_probe_after_the_idle_time_is_answered_and_the_idle_time_starts_again() -> None:
    pair = keeping()
    seen = client_segments(pair, 25.0)
    # SEG.SEQ = SND.UNA - 1 (relative 0), no data: the peer answers with an ACK.
    assert seen == [(10.0, ".", 0, 0), (20.0, ".", 0, 0)]
    assert pair.client.state is State.ESTABLISHED


def test_unanswered_probes_end_the_connection_with_rst_and_timeout_error() -> None:
    pair = keeping()
    events(pair.client)
    seen = client_segments(pair, 100.0, drop_answers_after=15.0)
    assert seen == [
        (10.0, ".", 0, 0),  # answered
        (20.0, ".", 0, 0), (25.0, ".", 0, 0), (30.0, ".", 0, 0),  # three, unanswered
        (35.0, "R", 1, 0),  # Linux tcp_keepalive_timer: RST at SND.NXT, then ETIMEDOUT
    ]
    failed = [e for e in events(pair.client) if isinstance(e, ConnectionFailed)]
    assert [type(e.error) for e in failed] == [TimeoutError]
    assert pair.client.state is State.CLOSED and pair.server.state is State.CLOSED


def test_no_probe_while_data_is_outstanding() -> None:
    pair = keeping()
    pair.client.send(b"x" * 100, pair.now)
    seen = client_segments(pair, 9.0, drop_answers_after=0.0)  # the data is never acknowledged
    assert seen[0] == (0.0, ".", 1, 100) and all(length for _, _, _, length in seen)
    assert all(flags == "." for _, flags, _, _ in seen)


def test_any_segment_from_the_peer_restarts_the_idle_time() -> None:
    pair = keeping()
    pair.run_until(8.0)
    pair.server.send(b"ping", pair.now)
    seen = client_segments(pair, 19.0)
    assert [entry for entry in seen if entry[3] == 0 and entry[0] > 8.0] == [(18.0, ".", 0, 0)]


def test_turning_keepalives_off_stops_the_probes() -> None:
    pair = keeping()
    pair.client.set_keepalive(False, pair.now)
    assert client_segments(pair, 60.0) == [] and pair.client.next_deadline() is None
