"""Shared fixtures for the TCP core tests: a scripted peer, an explicit clock, an in-memory pair.

Sequence numbers start just below 2**32 so that every test crosses the wrap.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import ip_address

from synack.tcp.config import TcpConfig
from synack.tcp.connection import Connection
from synack.tcp.events import Event
from synack.tcp.state import State
from synack.wire.seq import SEQ_MASK
from synack.wire.tcp import TcpFlags, TcpSegment, flag_letters

LOCAL = (ip_address("10.0.0.1"), 40000)
REMOTE = (ip_address("10.0.0.2"), 80)
ISS = 2**32 - 1  # ours: ISS + 1 == 0
IRS = 2**32 - 2  # the peer's: IRS + 2 == 0
WIN = 64240  # 65536 rounded down to 44 * 1460, unscaled

F = TcpFlags.FIN
S = TcpFlags.SYN
R = TcpFlags.RST
P = TcpFlags.PSH
A = TcpFlags.ACK


def plain_config(**overrides: object) -> TcpConfig:
    """No options: windows and segments stay readable in the tests."""
    cfg = TcpConfig(timestamps=False, sack=False, window_scale=None)
    for name, value in overrides.items():
        setattr(cfg, name, value)
    return cfg


def s(n: int) -> int:
    """A sequence number n past 0 (mod 2**32)."""
    return n & SEQ_MASK


def seg(
    flags: TcpFlags | int,
    seq: int,
    ack: int = 0,
    payload: bytes = b"",
    window: int = 65535,
    options: tuple = (),  # type: ignore[type-arg]
) -> TcpSegment:
    """A segment from the peer (REMOTE -> LOCAL)."""
    return TcpSegment(
        REMOTE[1], LOCAL[1], seq & SEQ_MASK, ack & SEQ_MASK, TcpFlags(flags), window, 0,
        options, payload,
    )


def brief(segments: Iterable[TcpSegment]) -> list[tuple[str, int, int, int, int]]:
    """(flags as tcpdump letters, seq, ack, window, payload length) per segment."""
    return [(flag_letters(x.flags), x.seq, x.ack, x.window, len(x.payload)) for x in segments]


def events(conn: Connection) -> list[Event]:
    out = []
    while (e := conn.next_event()) is not None:
        out.append(e)
    return out


class Rig:
    """One connection under test, driven segment by segment with an explicit clock."""

    def __init__(self, config: TcpConfig | None = None, iss: int = ISS) -> None:
        self.now = 0.0
        self.conn = Connection(
            LOCAL, REMOTE, config=config if config is not None else plain_config(), iss=iss
        )

    def feed(self, segment: TcpSegment) -> list[tuple[str, int, int, int, int]]:
        self.conn.segment_arrived(segment, self.now)
        return brief(self.conn.segments_to_send())

    def out(self) -> list[tuple[str, int, int, int, int]]:
        return brief(self.conn.segments_to_send())

    def advance(self, dt: float) -> list[tuple[str, int, int, int, int]]:
        self.now += dt
        deadline = self.conn.next_deadline()
        if deadline is not None and deadline <= self.now:
            self.conn.handle_timer(self.now)
        return self.out()

    @property
    def state(self) -> State:
        return self.conn.state

    # -- reaching each state (our ISS, the peer's IRS; no data exchanged) --

    def listen(self) -> Rig:
        self.conn.listen()
        return self

    def syn_sent(self) -> Rig:
        self.conn.connect(self.now)
        assert self.out() == [("S", ISS, 0, WIN, 0)]
        return self

    def syn_received(self) -> Rig:
        self.listen()
        assert self.feed(seg(S, IRS)) == [("S.", ISS, s(IRS + 1), WIN, 0)]
        return self

    def established(self) -> Rig:
        self.syn_sent()
        assert self.feed(seg(S | A, IRS, s(ISS + 1))) == [(".", s(ISS + 1), s(IRS + 1), WIN, 0)]
        assert self.state is State.ESTABLISHED
        events(self.conn)
        return self

    def fin_wait_1(self) -> Rig:
        self.established()
        self.conn.close(self.now)
        assert self.out() == [("F.", s(ISS + 1), s(IRS + 1), WIN, 0)]
        return self

    def fin_wait_2(self) -> Rig:
        self.fin_wait_1()
        assert self.feed(seg(A, IRS + 1, ISS + 2)) == []
        assert self.state is State.FIN_WAIT_2
        return self

    def close_wait(self) -> Rig:
        self.established()
        assert self.feed(seg(F | A, IRS + 1, ISS + 1)) == []  # the ACK is delayed
        assert self.advance(0.04) == [(".", s(ISS + 1), s(IRS + 2), WIN, 0)]
        assert self.state is State.CLOSE_WAIT
        return self

    def closing(self) -> Rig:
        self.fin_wait_1()
        assert self.feed(seg(F | A, IRS + 1, ISS + 1)) == [(".", s(ISS + 2), s(IRS + 2), WIN, 0)]
        assert self.state is State.CLOSING
        return self

    def last_ack(self) -> Rig:
        self.close_wait()
        self.conn.close(self.now)
        assert self.out() == [("F.", s(ISS + 1), s(IRS + 2), WIN, 0)]
        assert self.state is State.LAST_ACK
        return self

    def time_wait(self) -> Rig:
        self.fin_wait_2()
        assert self.feed(seg(F | A, IRS + 1, ISS + 2)) == [(".", s(ISS + 2), s(IRS + 2), WIN, 0)]
        assert self.state is State.TIME_WAIT
        return self


class Pair:
    """Two connections wired back to back in memory, on one explicit clock."""

    def __init__(
        self,
        client_config: TcpConfig | None = None,
        server_config: TcpConfig | None = None,
        client_iss: int = 2**32 - 10001,
        server_iss: int = 2**32 - 20001,
    ) -> None:
        self.now = 0.0
        self.client = Connection(LOCAL, REMOTE, config=client_config, iss=client_iss,
                                 ts_offset=1000)
        self.server = Connection(REMOTE, LOCAL, config=server_config, iss=server_iss,
                                 ts_offset=5000)
        self.server.listen()
        self.wire: list[tuple[str, TcpSegment]] = []  # everything that crossed, in order

    def shuttle(self, drop: object = None) -> None:
        """Deliver segments both ways until both ends are quiet (`drop(direction, seg)` -> bool)."""
        moved = True
        while moved:
            moved = False
            ends = (("c>s", self.client, self.server), ("s>c", self.server, self.client))
            for name, a, b in ends:
                for x in a.segments_to_send():
                    self.wire.append((name, x))
                    moved = True
                    if callable(drop) and drop(name, x):
                        continue
                    b.segment_arrived(x, self.now)

    def run_until(self, t: float, drop: object = None) -> None:
        """Advance the clock through every timer up to `t`, shuttling after each."""
        self.shuttle(drop)
        while True:
            deadlines = [d for d in (self.client.next_deadline(), self.server.next_deadline())
                         if d is not None and d <= t]
            if not deadlines:
                break
            self.now = max(self.now, min(deadlines))
            for c in (self.client, self.server):
                d = c.next_deadline()
                if d is not None and d <= self.now:
                    c.handle_timer(self.now)
            self.shuttle(drop)
        self.now = max(self.now, t)

    def handshake(self) -> None:
        self.client.connect(self.now)
        self.shuttle()
        assert self.client.state is State.ESTABLISHED
        assert self.server.state is State.ESTABLISHED
