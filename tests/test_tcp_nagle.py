"""Nagle's algorithm (RFC 9293 §3.7.4, RFC 896) and TCP_NODELAY, in Linux's and FreeBSD's forms."""

from __future__ import annotations

from typing import Literal

import pytest

from synack.tcp.config import TcpConfig
from synack.wire.seq import SEQ_MASK
from synack.wire.tcp import TcpSegment
from test_tcp_support import Pair

C_ISS = 2**32 - 10001
S_ISS = 2**32 - 20001

Line = tuple[float, str, str, int, int, int]


class Timed(Pair):
    """A Pair that notes when each segment crossed: (time, direction, flags, seq, ack, len), with
    sequence numbers relative to each side's ISN."""

    def __init__(self, **configs: TcpConfig | None) -> None:
        super().__init__(**configs)
        self.lines: list[Line] = []

    def note(self, direction: str, seg: TcpSegment) -> bool:
        mine, theirs = (C_ISS, S_ISS) if direction == "c>s" else (S_ISS, C_ISS)
        flags = "".join(c for bit, c in ((0x02, "S"), (0x01, "F"), (0x08, "P")) if seg.flags & bit)
        flags += "." if seg.flags & 0x10 else ""
        self.lines.append((self.now, direction, flags, (seg.seq - mine) & SEQ_MASK,
                           (seg.ack - theirs) & SEQ_MASK, len(seg.payload)))
        return False

    def move(self, until: float | None = None) -> None:
        if until is None:
            self.shuttle(self.note)
        else:
            self.run_until(until, self.note)


def interactive(
    server_config: TcpConfig | None = None, client_config: TcpConfig | None = None
) -> Timed:
    """A connection whose client sent a 76-byte request, read by the server, and whose client
    delays its ACKs (its quick-ACK credit spent: Linux's state once the first segments of a
    connection are acknowledged)."""
    client_config = client_config if client_config is not None else TcpConfig()
    client_config.quick_acks = 0
    pair = Timed(server_config=server_config, client_config=client_config)
    pair.handshake()
    pair.client.send(b"G" * 76, 0.0)
    pair.move()
    assert pair.server.receive() == b"G" * 76
    pair.lines.clear()
    return pair


def test_linux_nagle_holds_the_second_short_write_until_the_delayed_ack() -> None:
    """The write-write-read stall: header and body written apart; the body waits for the
    client's delayed ACK of the header (40 ms), then goes."""
    pair = interactive()
    pair.server.send(b"H" * 238, 0.0)
    pair.server.send(b"B" * 612, 0.0)
    pair.move(0.1)
    assert pair.lines == [
        (0.0, "s>c", "P.", 1, 77, 238),
        (0.04, "c>s", ".", 77, 239, 0),  # the client's delayed ACK
        (0.04, "s>c", "P.", 239, 77, 612),  # Nagle let the body go
        (0.08, "c>s", ".", 77, 851, 0),  # one segment unacknowledged: delayed again
    ]


def test_tcp_nodelay_sends_both_writes_back_to_back_as_the_seed_server() -> None:
    pair = interactive()
    pair.server.set_nodelay(True, 0.0)
    pair.server.send(b"H" * 238, 0.0)
    pair.server.send(b"B" * 612, 0.0)
    pair.move(0.1)
    assert pair.lines[:2] == [(0.0, "s>c", "P.", 1, 77, 238), (0.0, "s>c", "P.", 239, 77, 612)]


def test_nodelay_in_the_settings_and_nagle_off_send_at_once_too() -> None:
    for config in (TcpConfig(nodelay=True), TcpConfig(nagle=None)):
        pair = interactive(config)
        assert pair.server.nodelay is config.nodelay
        pair.server.send(b"H" * 238, 0.0)
        pair.server.send(b"B" * 612, 0.0)
        pair.move()
        assert [line[5] for line in pair.lines if line[1] == "s>c"] == [238, 612]


def test_setting_tcp_nodelay_sends_what_nagle_holds_at_once() -> None:
    pair = interactive()
    pair.server.send(b"H" * 238, 0.0)
    pair.server.send(b"B" * 612, 0.0)
    pair.move()
    assert [line[5] for line in pair.lines] == [238]
    pair.now = 0.01
    pair.server.set_nodelay(True, 0.01)
    pair.move()
    assert pair.lines[1] == (0.01, "s>c", "P.", 239, 77, 612)


def test_a_fin_takes_the_held_segment_with_it() -> None:
    pair = interactive()
    pair.server.send(b"H" * 238, 0.0)
    pair.server.send(b"B" * 612, 0.0)
    pair.server.close(0.0)
    pair.move()
    assert pair.lines[:2] == [(0.0, "s>c", "P.", 1, 77, 238), (0.0, "s>c", "FP.", 239, 77, 612)]


@pytest.mark.parametrize("nagle", ["minshall", "rfc896"])
def test_one_write_goes_whole_and_a_short_write_after_it_waits(
    nagle: Literal["minshall", "rfc896"],
) -> None:
    """Full segments and the short tail of one write go at once in both forms (nothing was in
    flight when the write began); a short write while that tail is unacknowledged waits."""
    pair = interactive(TcpConfig(nagle=nagle))
    pair.server.send(bytes(2000), 0.0)
    pair.server.send(bytes(100), 0.0)
    pair.move()
    assert [(line[2], line[3], line[5]) for line in pair.lines] == [
        (".", 1, 1448), ("P.", 1449, 552),
        (".", 77, 0),  # the client acknowledges two segments at once
        ("P.", 2001, 100),
    ]


@pytest.mark.parametrize(("nagle", "waits"), [("minshall", False), ("rfc896", True)])
def test_a_short_write_after_a_full_segment_only_waits_in_rfc896(
    nagle: Literal["minshall", "rfc896"], waits: bool,
) -> None:
    """Minshall's form holds a short segment only behind an unacknowledged short one (Linux);
    RFC 896's behind any unacknowledged data (FreeBSD)."""
    pair = interactive(TcpConfig(nagle=nagle))
    pair.server.send(bytes(1448), 0.0)
    pair.server.send(bytes(100), 0.0)
    pair.move(0.1)
    sent = [(line[0], line[3], line[5]) for line in pair.lines if line[1] == "s>c"]
    assert sent[0] == (0.0, 1, 1448)
    assert sent[1] == ((0.04, 1449, 100) if waits else (0.0, 1449, 100))
    if waits:
        assert pair.lines[1] == (0.04, "c>s", ".", 77, 1449, 0)


@pytest.mark.parametrize(("nagle", "waits"), [("minshall", True), ("rfc896", False)])
def test_rfc896_lets_half_the_largest_window_go(
    nagle: Literal["minshall", "rfc896"], waits: bool,
) -> None:
    """RFC 9293 §3.8.6.2.1 (FreeBSD): a short segment of at least half the largest window the
    peer offered is sent even with data in flight; Linux's form has no such exception."""
    pair = interactive(TcpConfig(nagle=nagle), TcpConfig(rcv_buf=2000, window_scale=None))
    assert pair.server.max_snd_wnd == 1460
    pair.server.send(bytes(100), 0.0)
    pair.server.send(bytes(800), 0.0)  # 800 >= 1460 / 2
    pair.move(0.5)
    sent = [(line[0], line[3], line[5]) for line in pair.lines if line[1] == "s>c"]
    assert sent[0] == (0.0, 1, 100)
    assert (sent[1][0] > 0.0) is waits and sent[1][1:] == (101, 800)
