"""A sans-I/O TCP connection (the TCB of RFC 9293 §3.3.1) and its state machine.

The program drives it with user calls (`connect`, `listen`, `send`, `receive`, `shutdown`,
`close`, `abort`), the network with `segment_arrived`, the clock with `handle_timer`; every call
takes the current time `now` in seconds. What the connection has to say is pulled:
`segments_to_send()`, `next_event()` and `next_deadline()` (when `handle_timer` must run next).
A state change that must send something queues the segment at once.

Arrivals follow RFC 9293 §3.10.7 step by step (sequence check, RST, SYN, ACK, URG, text, FIN);
where the RFC leaves room the behaviour is Linux's (option order, windows, delayed ACK of a FIN so
that a program closing at once piggybacks its FIN, RST on close with unread data).
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address
from typing import Final, Protocol

from synack.tcp.buffers import ReceiveBuffer, SendBuffer
from synack.tcp.config import TcpConfig
from synack.tcp.congestion import NewReno
from synack.tcp.events import (
    Connected,
    ConnectionClosed,
    ConnectionFailed,
    DataReceived,
    EndOfStream,
    Event,
    SendSpaceAvailable,
    StateChanged,
)
from synack.tcp.sack import DUP_THRESH, Scoreboard
from synack.tcp.state import State
from synack.tcp.timers.rto import RtoEstimator
from synack.wire.seq import SEQ_MASK, seq_between, seq_diff, seq_ge, seq_gt, seq_le, seq_lt
from synack.wire.tcp import (
    ACK,
    CWR,
    ECE,
    FIN,
    PSH,
    RST,
    SYN,
    URG,
    Mss,
    Nop,
    Sack,
    SackPermitted,
    TcpOption,
    TcpSegment,
    Timestamps,
    WindowScale,
)
from synack.wire.tcp import FLAGS as _FLAGS

IPAddress = IPv4Address | IPv6Address
Endpoint = tuple[IPAddress, int]
# A queued segment of one of the shapes nearly every segment has, as plain fields: (flags, seq,
# ack, window, TSval or None, TSecr, payload, SYN options): options nop, nop, timestamps (or
# none) when the last is None, else Linux's SYN options (mss, sackOK, timestamps, nop, wscale)
# with the (MSS, window scale) it holds. It becomes a TcpSegment for `segments_to_send`; a host
# building packets takes it as it is (`take_output`), which saves making the segment and its
# options.
SegmentFields = tuple[int, int, int, int, int | None, int, bytes, tuple[int, int] | None]
Outgoing = TcpSegment | SegmentFields
_KEEPALIVE_STATES: Final = frozenset({State.ESTABLISHED, State.CLOSE_WAIT, State.FIN_WAIT_2})
_PAWS_IDLE: Final = 24 * 86400.0  # RFC 7323 §5.5: TS.Recent is invalid after 24 days idle
# What a SYN's options offer: MSS, window scale, SACK-permitted, TSval (None: absent).
SynOffer = tuple[int | None, int | None, bool, int | None]
TransitionCallback = Callable[["Connection", State, State, str], None]

_NOP: Final = Nop()
_SACK_OK: Final = SackPermitted()
_TS_OPT_LEN: Final = 12  # nop, nop, timestamps: what every segment carries once negotiated
# Control bits that take a segment off the predicted path (all but PSH and FIN; ACK must be set).
_UNPREDICTED: Final = 0x1FF & ~(PSH | FIN)

_CLOSED, _LISTEN, _SYN_SENT, _SYN_RECEIVED = (
    State.CLOSED, State.LISTEN, State.SYN_SENT, State.SYN_RECEIVED,
)
_ESTABLISHED, _FIN_WAIT_1, _FIN_WAIT_2, _CLOSE_WAIT = (
    State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2, State.CLOSE_WAIT,
)
_CLOSING, _LAST_ACK, _TIME_WAIT = State.CLOSING, State.LAST_ACK, State.TIME_WAIT

# States in which queued data / FIN may be transmitted.
_SENDING: Final = frozenset({_ESTABLISHED, _CLOSE_WAIT, _FIN_WAIT_1, _CLOSING, _LAST_ACK})
# RFC 9293 §3.10.7.4 sixth/seventh steps: states that still accept segment text.
_RECEIVING: Final = frozenset({_ESTABLISHED, _FIN_WAIT_1, _FIN_WAIT_2})
# §3.10.4 CLOSE / shutdown of the write side: state after queueing our FIN.
_AFTER_FIN: Final = {_ESTABLISHED: _FIN_WAIT_1, _SYN_RECEIVED: _FIN_WAIT_1, _CLOSE_WAIT: _LAST_ACK}
# §3.10.7.4 eighth step: state after the peer's FIN, when our FIN is not (yet) acknowledged.
_ON_FIN: Final = {
    _SYN_RECEIVED: _CLOSE_WAIT,
    _ESTABLISHED: _CLOSE_WAIT,
    _FIN_WAIT_1: _CLOSING,
    _FIN_WAIT_2: _TIME_WAIT,
    _CLOSE_WAIT: _CLOSE_WAIT,
    _CLOSING: _CLOSING,
    _LAST_ACK: _LAST_ACK,
    _TIME_WAIT: _TIME_WAIT,
}


class HostHooks(Protocol):
    """What a connection tells the host that owns it (see `synack.host.Host`)."""

    def touched(self, conn: Connection) -> None: ...


class _NoHost:
    """The hooks of a connection that no host owns: nothing to tell."""

    def touched(self, conn: Connection) -> None:
        return None


_NO_HOST: Final = _NoHost()


class ChallengeAckLimiter:
    """RFC 5961 §7: at most `limit` challenge ACKs per second (shared by a host's connections)."""

    __slots__ = ("_count", "_second", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._second = -1
        self._count = 0

    def allow(self, now: float) -> bool:
        second = int(now)
        if second != self._second:
            self._second = second
            self._count = 0
        self._count += 1
        return self._count <= self.limit


def fields_segment(src_port: int, dst_port: int, fields: SegmentFields) -> TcpSegment:
    """The TcpSegment a `SegmentFields` record stands for."""
    flags, seq, ack, window, tsval, tsecr, payload, syn = fields
    options: tuple[TcpOption, ...] = ()
    if syn is not None:
        assert tsval is not None
        options = (Mss(syn[0]), _SACK_OK, Timestamps(tsval, tsecr), _NOP, WindowScale(syn[1]))
    elif tsval is not None:
        options = (_NOP, _NOP, Timestamps(tsval, tsecr))
    return TcpSegment(src_port, dst_port, seq, ack, _FLAGS[flags], window, 0, options, payload)


def syn_options(options: tuple[TcpOption, ...]) -> SynOffer:
    """What a SYN's options offer: MSS, window scale, SACK-permitted and TSval (None: absent;
    the last of repeated options counts)."""
    mss = ws = tsval = None
    sack = False
    for opt in options:
        t = type(opt)
        if t is Mss:
            mss = opt.value  # type: ignore[union-attr]
        elif t is WindowScale:
            ws = opt.shift  # type: ignore[union-attr]
        elif t is SackPermitted:
            sack = True
        elif t is Timestamps:
            tsval = opt.value  # type: ignore[union-attr]
    return mss, ws, sack, tsval


def reset_for(seg: TcpSegment) -> TcpSegment | None:
    """RFC 9293 §3.10.7.1: the RST answering `seg` when no connection exists (None for a RST).

    Without ACK: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>; with ACK: <SEQ=SEG.ACK><CTL=RST>.
    """
    flags = int(seg.flags)
    if flags & RST:
        return None
    if flags & ACK:
        return TcpSegment(seg.dst_port, seg.src_port, seg.ack, 0, _FLAGS[RST], 0)
    seg_len = len(seg.payload) + (flags & SYN and 1) + (flags & FIN)
    return TcpSegment(
        seg.dst_port, seg.src_port, 0, (seg.seq + seg_len) & SEQ_MASK, _FLAGS[RST | ACK], 0
    )


class Connection:
    """One TCP connection endpoint: the TCB plus the RFC 9293 state machine, without I/O.

    Sequence variables are named as in RFC 9293 §3.3.1; `snd_max` is the highest sequence number
    sent (SND.NXT moves back to SND.UNA after a retransmission timeout).
    """

    __slots__ = (
        "_ack_now", "_ack_pending", "_ack_pushed", "_board", "_cc", "_ce", "_cwr_pending",
        "_dsack", "_ece_pending", "_ecn_recover", "_ecn_syn_sent", "_ect_ids", "_error", "_events",
        "_fin_queued", "_fin_received", "_high_rxt", "_host", "_in_sack", "_keep_probes",
        "_limiter", "_lrcvtime", "_lsndtime", "_now", "_out", "_peer_fin_seq", "_persist_backoff",
        "_pingpong", "_quick", "_rcv_cap", "_rcv_mss_est", "_rcvbuf", "_rescue_rxt", "_rto",
        "_rtt_seq", "_rtt_time", "_rtx_count", "_sbuf_seq", "_send_blocked", "_snd_sml", "_sndbuf",
        "_state", "_t_delack", "_t_keep", "_t_persist", "_t_rtx", "_t_wait", "_ts_recent_at",
        "_user_closed", "config", "ecn_ok", "ect_sent", "host_key", "irs", "iss", "keepalive",
        "local", "max_snd_wnd", "nodelay", "on_transition", "passive", "peer_mss", "rcv_nxt",
        "rcv_up", "rcv_wnd", "rcv_wscale", "rcv_wup", "remote", "sack_ok", "smss", "snd_max",
        "snd_nxt", "snd_una", "snd_wl1", "snd_wl2", "snd_wnd", "snd_wscale", "state_events",
        "ts_offset", "ts_ok", "ts_recent", "ws_ok",
    )

    def __init__(
        self,
        local: Endpoint,
        remote: Endpoint,
        *,
        config: TcpConfig | None = None,
        iss: int = 0,
        ts_offset: int = 0,
        host: HostHooks | None = None,
        limiter: ChallengeAckLimiter | None = None,
    ) -> None:
        self.local = local
        self.remote = remote
        self.config = config if config is not None else TcpConfig()
        # Told of every call, segment and timer (`touched`), to collect output and timers.
        self._host = host if host is not None else _NO_HOST
        # The owning host's key: local address (packed), local port, remote address, remote port.
        self.host_key: tuple[bytes, int, bytes, int] | None = None
        self._limiter = limiter
        self.on_transition: TransitionCallback | None = None
        # Queue a StateChanged event per transition (False when nobody reads them: the program
        # still hears of every change through `on_transition`).
        self.state_events = True
        self._state = _CLOSED
        self._error: OSError | None = None
        self._events: list[Event] | None = None
        self._out: list[Outgoing] = []
        self._now = 0.0
        self.passive = False
        # Send sequence space (RFC 9293 §3.3.1).
        self.iss = iss & SEQ_MASK
        self.snd_una = self.snd_nxt = self.snd_max = self.iss
        self.snd_wnd = 0
        self.snd_wl1 = self.snd_wl2 = 0
        self.max_snd_wnd = 0
        self.snd_wscale = 0
        # RFC 9293 §3.7.4 Nagle (config.nagle) unless TCP_NODELAY; Linux's snd_sml: the end of
        # the last segment sent shorter than the MSS (Minshall's form of the algorithm).
        self.nodelay = self.config.nodelay
        self._snd_sml = self.iss
        self.peer_mss = 0
        self.smss = 536
        # Receive sequence space.
        self.irs = 0
        self.rcv_nxt = 0
        self.rcv_wnd = 0  # the window last advertised, from rcv_wup
        self.rcv_wup = 0  # RCV.NXT when the window was last advertised (= last ACK sent)
        self.rcv_up = 0
        self.rcv_wscale = 0
        self.ws_ok = False
        self._rcv_cap = 0  # largest window offered (Linux's rcv_ssthresh, without growth)
        # Negotiated options (RFC 7323, RFC 2018).
        self.sack_ok = False
        # RFC 2883 D-SACK: the duplicate (start, end) the next ACK reports first, if any.
        self._dsack: tuple[int, int] | None = None
        self.ts_ok = False
        self.ts_recent = 0
        self._ts_recent_at = 0.0  # when TS.Recent was last set (RFC 7323 §5.5: it ages)
        self.ts_offset = ts_offset & SEQ_MASK
        # RFC 3168 ECN: negotiated; our SYN requested it; CE seen, ECE echoed until CWR comes;
        # cwnd reduced on ECE, CWR due on the next new data; the window of that reduction.
        self.ecn_ok = False
        self._ecn_syn_sent = False
        self._ece_pending = False
        self._cwr_pending = False
        self._ecn_recover = 0
        # Identities of queued segments to send as ECT(0) (RFC 3168 §6.1.2: new data only), and
        # of those in the last `segments_to_send` answer (read by the host building IP packets).
        self._ect_ids: set[int] = set()
        self.ect_sent: set[int] = set()
        # Buffers, allocated on first use.
        self._sndbuf: SendBuffer | None = None
        self._rcvbuf: ReceiveBuffer | None = None
        self._sbuf_seq = 0  # sequence number of the send buffer's first byte
        self._fin_queued = False  # the program shut down its write side
        self._fin_received = False
        self._peer_fin_seq: int | None = None  # a FIN seen beyond a hole, processed when reached
        self._user_closed = False
        self._send_blocked = False
        # Retransmission and congestion state.
        self._rto: RtoEstimator | None = None
        self._cc: NewReno | None = None
        self._rtt_seq = 0
        self._rtt_time: float | None = None
        self._rtx_count = 0
        self._persist_backoff = 0
        # RFC 6675 SACK-based recovery: the scoreboard (made on the first SACK block), HighRxt,
        # and the SACK blocks of the segment being processed.
        self._board: Scoreboard | None = None
        self._high_rxt = 0
        self._rescue_rxt = 0  # RescueRxt: where this recovery's rescue retransmission may go
        self._in_sack: tuple[tuple[int, int], ...] = ()
        # ACK policy.
        self._ack_now = False
        self._ack_pending = False
        self._quick = 0
        # Linux's receiver heuristics (tcp_input.c): the peer's segment size as seen so far
        # (icsk_ack.rcv_mss), small segments waiting for a delayed ACK (ICSK_ACK_PUSHED/PUSHED2),
        # and interactive ("pingpong") mode, in which data is not acknowledged at once because
        # the answer will carry the ACK.
        self._rcv_mss_est = 536
        self._ack_pushed = 0
        self._pingpong = False
        # Last data received: None until the first (Linux starts its delayed-ACK engine then,
        # icsk_ack.ato 0 before, so sending cannot make the exchange interactive earlier).
        self._lrcvtime: float | None = None
        self._lsndtime: float | None = None  # last data sent
        # Timers (absolute deadlines, None when stopped).
        self._t_rtx: float | None = None
        self._t_delack: float | None = None
        self._t_persist: float | None = None
        self._t_wait: float | None = None  # TIME-WAIT 2*MSL or orphaned FIN-WAIT-2 timeout
        # RFC 9293 §3.8.4 keep-alives (SO_KEEPALIVE): the next probe's time, probes unanswered.
        self.keepalive = self.config.keepalive
        self._t_keep: float | None = None
        self._keep_probes = 0
        self._ce = False  # the segment being processed arrived marked CE

    # ------------------------------------------------------------------ status

    def __repr__(self) -> str:
        return (
            f"<Connection {self.local[0]}:{self.local[1]} -> {self.remote[0]}:{self.remote[1]} "
            f"{self._state.value}>"
        )

    @property
    def state(self) -> State:
        return self._state

    @property
    def error(self) -> OSError | None:
        """Why it failed: ConnectionRefusedError, ConnectionResetError or TimeoutError."""
        return self._error

    @property
    def readable(self) -> int:
        """Bytes `receive()` can return now."""
        return self._rcvbuf.readable if self._rcvbuf is not None else 0

    @property
    def rcv_window(self) -> int:
        """RCV.WND: the part of the advertised window not yet filled."""
        return self._rcv_window()

    @property
    def at_eof(self) -> bool:
        """The peer's FIN arrived and every byte before it was read."""
        return self._fin_received and self.readable == 0

    @property
    def send_space(self) -> int:
        """Bytes `send()` would accept now."""
        if self._sndbuf is None:
            return self.config.snd_buf
        return self._sndbuf.space

    @property
    def unacknowledged(self) -> int:
        """Bytes written but not yet acknowledged by the peer."""
        return self._sndbuf.size if self._sndbuf is not None else 0

    @property
    def user_closed(self) -> bool:
        """The program called close(): nobody reads any more (Linux's orphaned socket)."""
        return self._user_closed

    # ------------------------------------------------------------------ pulled output

    def segments_to_send(self) -> list[TcpSegment]:
        """Segments queued since the last call, oldest first."""
        out = self.take_output()
        if not out:
            return []
        ect = self.ect_sent
        if ect:
            self.ect_sent = set()
        segments = []
        for item in out:
            seg = item if isinstance(item, TcpSegment) else fields_segment(
                self.local[1], self.remote[1], item
            )
            segments.append(seg)
            if id(item) in ect:
                self.ect_sent.add(id(seg))
        return segments

    def take_output(self) -> list[Outgoing]:
        """`segments_to_send`, with plain segments left as `SegmentFields` (for a host that
        builds their bytes directly); `ect_sent` holds the ids of those to send as ECT(0)."""
        out = self._out
        if not out:
            return out
        self._out = []
        self.ect_sent = self._ect_ids
        if self._ect_ids:
            self._ect_ids = set()
        return out

    def next_event(self) -> Event | None:
        events = self._events
        if not events:
            return None
        return events.pop(0)

    def next_deadline(self) -> float | None:
        """When `handle_timer` must be called next (None: no timer running)."""
        best = self._t_rtx
        t = self._t_delack
        if t is not None and (best is None or t < best):
            best = t
        t = self._t_persist
        if t is not None and (best is None or t < best):
            best = t
        t = self._t_wait
        if t is not None and (best is None or t < best):
            best = t
        t = self._t_keep
        if t is not None and (best is None or t < best):
            best = t
        return best

    # ------------------------------------------------------------------ user calls

    def connect(self, now: float) -> None:
        """Active OPEN (RFC 9293 §3.10.1): send SYN, enter SYN-SENT."""
        if self._state is not _CLOSED:
            raise OSError(f"connect() in state {self._state.value}")
        self._now = now
        self._init_tcb()
        self._set_state(_SYN_SENT, "connect()")
        self._send_syn()
        self._arm_rtx(now)
        if self.config.syn_timeout is not None:
            self._t_wait = now + self.config.syn_timeout
        self._host.touched(self)

    def listen(self) -> None:
        """Passive OPEN (RFC 9293 §3.10.1): wait in LISTEN for a SYN from `remote`."""
        if self._state is not _CLOSED:
            raise OSError(f"listen() in state {self._state.value}")
        self.passive = True
        self._set_state(_LISTEN, "listen()")

    def set_keepalive(self, on: bool, now: float) -> None:
        """SO_KEEPALIVE (RFC 9293 §3.8.4: off by default, MUST-24/25): after
        `config.keepalive_idle` seconds without a segment from the peer and with nothing
        outstanding, probe it every `keepalive_interval`; `keepalive_probes` unanswered probes
        end the connection with RST and TimeoutError, as Linux does."""
        self._now = now
        self.keepalive = on
        self._keep_probes = 0
        self._t_keep = now + self.config.keepalive_idle if on and self._state.synchronized else None
        self._host.touched(self)

    def set_nodelay(self, on: bool, now: float) -> None:
        """TCP_NODELAY (RFC 9293 §3.7.4, MUST-17: the program can turn Nagle off): on, short
        segments go at once, and what Nagle holds is sent now, as Linux does on the call."""
        self._now = now
        self.nodelay = on
        if on and self._state in _SENDING and self._sndbuf is not None:
            self._output(now)
            self._host.touched(self)

    def send(self, data: bytes | bytearray | memoryview, now: float) -> int:
        """RFC 9293 §3.10.2 SEND: buffer `data` (as much as fits) and transmit what the windows
        allow. Returns the number of bytes taken. BrokenPipeError after shutdown or reset."""
        self._now = now
        st = self._state
        if self._fin_queued or st in (_CLOSED, _LISTEN, _TIME_WAIT, _CLOSING, _LAST_ACK):
            if self._error is not None and not self._fin_queued:
                raise BrokenPipeError(32, f"connection failed: {self._error}")
            raise BrokenPipeError(32, f"cannot send in state {st.value}")
        buf = self._sndbuf
        if buf is None:
            buf = self._sndbuf = SendBuffer(self.config.snd_buf)
        n = buf.write(data)
        if n < len(data):
            self._send_blocked = True
        if n and st in _SENDING:
            self._output(now)
        self._host.touched(self)
        return n

    def receive(self, max_bytes: int = -1, now: float | None = None) -> bytes:
        """RFC 9293 §3.10.3 RECEIVE: up to `max_bytes` in-order bytes (all with -1).

        Returns b"" both when nothing is readable yet and at end of stream (see `at_eof` and the
        EndOfStream event). Raises the connection's error once the data is exhausted after a reset.
        """
        if now is not None:
            self._now = now
        buf = self._rcvbuf
        if buf is None or buf.readable == 0:
            if self._error is not None and not self._fin_received:
                raise self._error
            return b""
        data = buf.read(max_bytes)
        # Linux tcp_cleanup_rbuf: a read acknowledges what a delayed ACK still holds if more than
        # a segment is unacknowledged, or if it drained small pushed segments (of a one-way
        # exchange; in pingpong mode only from the second of them).
        if self._ack_pending and self._state.synchronized and (
            seq_diff(self.rcv_nxt, self.rcv_wup) > self._rcv_mss_est
            or (
                buf.readable == 0
                and (self._ack_pushed > 1 or (self._ack_pushed and not self._pingpong))
            )
        ):
            self._send_ack()
        self._maybe_window_update()
        self._host.touched(self)
        return data

    def shutdown(self, now: float) -> None:
        """Close the write side (RFC 9293 §3.10.4 CLOSE semantics): queue a FIN after the data."""
        self._now = now
        st = self._state
        if st in (_CLOSED, _LISTEN, _SYN_SENT):
            if st is not _CLOSED:
                self._delete("shutdown() before the handshake completed")
            self._host.touched(self)
            return
        if self._fin_queued or st not in _AFTER_FIN:
            return
        self._fin_queued = True
        if st is _SYN_RECEIVED:
            # §3.10.4: the FIN waits until ESTABLISHED unless nothing was sent or queued.
            self._host.touched(self)
            return
        self._set_state(_AFTER_FIN[st], "shutdown()" if not self._user_closed else "close()")
        self._output(now)
        self._host.touched(self)

    def close(self, now: float) -> None:
        """The program is done with the connection (RFC 9293 §3.10.4 CLOSE).

        With unread received data this aborts with RST, as Linux does (RFC 2525 §2.17); otherwise
        it shuts the write side down and orphans the connection (FIN-WAIT-2 then times out).
        """
        self._now = now
        if self._user_closed:
            return
        self._user_closed = True
        st = self._state
        if self.config.rst_on_unread_close and self.readable and st.synchronized:
            self._abort("close() with unread data")
            self._host.touched(self)
            return
        if st is _FIN_WAIT_2:
            self._t_wait = now + self.config.fin_wait_2_timeout
        self.shutdown(now)

    def abort(self, now: float) -> None:
        """RFC 9293 §3.10.5 ABORT: send RST (in a synchronized or SYN-RECEIVED state), delete."""
        self._now = now
        self._user_closed = True
        if self._state is not _CLOSED:
            self._abort("abort()")
        self._host.touched(self)

    def expire_time_wait(self, now: float, cause: str = "2*MSL timeout") -> None:
        """End TIME-WAIT now (the host kept the 4-tuple as a compact record until `now`)."""
        self._now = now
        if self._state is _TIME_WAIT:
            self._delete(cause)

    # ------------------------------------------------------------------ timers

    def handle_timer(self, now: float) -> None:
        """Run every timer whose deadline is at or before `now` (RFC 9293 §3.10.8)."""
        self._now = now
        if self._t_wait is not None and now >= self._t_wait:
            self._t_wait = None
            if self._state is _TIME_WAIT:
                self._delete("2*MSL timeout")
            elif self._state is _FIN_WAIT_2:
                self._delete("FIN-WAIT-2 timeout")
            elif self._state is _SYN_SENT or self._state is _SYN_RECEIVED:
                self._fail(TimeoutError(110, "connection timed out"), "handshake timeout")
        if self._t_rtx is not None and now >= self._t_rtx:
            self._t_rtx = None
            self._on_rtx_timeout(now)
        if self._t_persist is not None and now >= self._t_persist:
            self._t_persist = None
            self._on_persist_timeout(now)
        if self._t_keep is not None and now >= self._t_keep:
            self._t_keep = None
            self._on_keepalive(now)
        if self._t_delack is not None and now >= self._t_delack:
            self._t_delack = None
            if self._ack_pending and self._state is not _CLOSED:
                self._pingpong = False  # Linux: a delayed ACK that had to go alone ends pingpong
                self._send_ack()
        self._host.touched(self)

    def _on_rtx_timeout(self, now: float) -> None:
        st = self._state
        rto = self._rto
        assert rto is not None
        cfg = self.config
        if st is _SYN_SENT or st is _SYN_RECEIVED:
            limit = cfg.syn_retries if st is _SYN_SENT else cfg.synack_retries
            if self._rtx_count >= limit:
                what = "SYN" if st is _SYN_SENT else "SYN-ACK"
                self._fail(TimeoutError(110, "connection timed out"), f"{what} retries exhausted")
                return
            self._rtx_count += 1
            rto.back_off()
            self._rtt_time = None  # Karn's rule (RFC 6298 §3)
            self._send_syn()
            self._arm_rtx(now)
            return
        if self.snd_una == self.snd_max:
            return
        if self._rtx_count >= cfg.data_retries:
            self._fail(TimeoutError(110, "connection timed out"), "retransmissions exhausted")
            return
        self._rtx_count += 1
        if self._cc is not None:
            self._cc.on_timeout(seq_diff(self.snd_max, self.snd_una), self.snd_max)
        self._board = None  # RFC 2018 §8: after a timeout, SACKed octets may have been reneged
        rto.back_off()  # RFC 6298 §5.5
        self._rtt_time = None
        self.snd_nxt = self.snd_una  # go back: resend from the oldest unacknowledged byte
        self._retransmit_head()
        self._arm_rtx(now)  # §5.6

    def _on_persist_timeout(self, now: float) -> None:
        """The persist timer (RFC 9293 §3.8.6.1) with nothing in flight: into an open window too
        small for a full segment, send what fits (the SWS override, §3.8.6.2.1); into a zero
        window, a probe: Linux sends a bare ACK with SEG.SEQ=SND.UNA-1, which the peer must
        answer with an ACK carrying its current window."""
        if self._state not in _SENDING or not self._unsent() or self.snd_nxt != self.snd_una:
            self._persist_backoff = 0
            return
        if self.snd_wnd > 0:
            self._persist_backoff = 0
            self._output(now, probe=True)  # in flight now: the RTO takes over
            return
        self._emit(ACK, (self.snd_una - 1) & SEQ_MASK)
        self._persist_backoff += 1
        self._arm_persist(now)

    def _on_keepalive(self, now: float) -> None:
        """RFC 9293 §3.8.4 (Linux tcp_keepalive_timer): the peer has been silent for the idle
        time (or a probe interval): probe with <SEQ=SND.UNA-1><CTL=ACK>, no data, which a live
        peer answers with an ACK; give up after the last probe. Not while data is outstanding
        or queued: the retransmission timer covers that."""
        cfg = self.config
        if not self.keepalive or self._state not in _KEEPALIVE_STATES:
            return
        if self.snd_una != self.snd_max or self._unsent():
            self._t_keep = now + cfg.keepalive_idle
            return
        if self._keep_probes >= cfg.keepalive_probes:
            self._emit(RST | ACK, self.snd_nxt)  # Linux tcp_send_active_reset
            self._fail(TimeoutError(110, "connection timed out"), "keep-alive probes unanswered")
            return
        self._emit(ACK, (self.snd_una - 1) & SEQ_MASK)
        self._keep_probes += 1
        self._t_keep = now + cfg.keepalive_interval

    # ------------------------------------------------------------------ segment arrival

    def segment_arrived(self, seg: TcpSegment, now: float, ce: bool = False) -> None:
        """RFC 9293 §3.10.7 SEGMENT ARRIVES. `ce`: the IP header carried Congestion
        Experienced (RFC 3168 §5)."""
        self._now = now
        self._ce = ce
        st = self._state
        if st is _CLOSED:
            rst = reset_for(seg)  # §3.10.7.1
            if rst is not None:
                self._out.append(rst)
        elif st is _LISTEN:
            self._arrive_listen(seg, now)
        elif st is _SYN_SENT:
            self._arrive_syn_sent(seg, now)
        else:
            ts = seg.timestamps
            if self.sack_ok:
                self._in_sack = seg.sack_blocks
            self._arrive(seg.src_port, seg.dst_port, seg.seq, seg.ack, int(seg.flags), seg.window,
                         seg.urgent, ts.value if ts is not None else None, seg.payload, now)
            self._in_sack = ()
        if self._t_keep is not None:
            self._heard_from_peer(now)
        if self._ack_now and self._state is not _CLOSED:
            self._send_ack()
        self._host.touched(self)

    def fields_arrived(
        self, src_port: int, dst_port: int, seq: int, ack: int, flags: int, window: int,
        urgent: int, tsval: int | None, payload: bytes, now: float, ce: bool = False,
    ) -> bool:
        """`segment_arrived` for a segment given by its header fields (`tsval`: its Timestamps
        value, None without that option), for a host that decoded them in place. Only in
        SYN-RECEIVED and the synchronized states, where no other option matters; elsewhere it
        returns False without doing anything (pass a TcpSegment to `segment_arrived`)."""
        st = self._state
        if st is _CLOSED or st is _LISTEN or st is _SYN_SENT:
            return False
        self._now = now
        self._ce = ce
        if not (
            seq == self.rcv_nxt
            and self._arrive_predicted(src_port, dst_port, seq, ack, flags, window, tsval,
                                       payload, now)
        ):
            self._arrive(src_port, dst_port, seq, ack, flags, window, urgent, tsval, payload, now)
        if self._t_keep is not None:
            self._heard_from_peer(now)
        if self._ack_now and self._state is not _CLOSED:
            self._send_ack()
        self._host.touched(self)
        return True

    def _heard_from_peer(self, now: float) -> None:
        """A segment came: the keep-alive idle time starts again, no probe is unanswered."""
        if self._state is not _CLOSED:
            self._t_keep = now + self.config.keepalive_idle
            self._keep_probes = 0

    def _arrive_predicted(
        self, sport: int, dport: int, seq: int, ack: int, flags: int, window: int,
        tsval: int | None, payload: bytes, now: float,
    ) -> bool:
        """Header prediction (Van Jacobson's; Linux tcp_rcv_established has one): the next
        segment in order (SEG.SEQ = RCV.NXT, checked by the caller) that carries only ACK, PSH
        or FIN, fits the window whole, acknowledges something in SND.UNA..SND.MAX (in
        SYN-RECEIVED: our SYN) and has timestamps if they are in use, in any state past
        SYN-SENT but TIME-WAIT. RFC 9293 §3.10.7.4 then has nothing to trim, no RST, SYN or ECN
        to look at and no out-of-range ACK: the steps that remain run in their order, as
        `_arrive` runs them. False, with nothing done, sends the segment down `_arrive`."""
        st = self._state
        if (
            flags & _UNPREDICTED != ACK or self.ecn_ok or st is _TIME_WAIT
            or (self.ts_ok and (tsval is None or (tsval - self.ts_recent) & 0x80000000))
        ):
            return False  # (an older TSval: PAWS, in `_arrive`)
        if st is _SYN_RECEIVED:
            # SND.UNA < SEG.ACK =< SND.NXT: the ACK of our SYN (SND.MAX = ISS + 1); a FIN
            # queued meanwhile goes through `_arrive`.
            if ack != self.snd_max or self._fin_queued:
                return False
        elif ack != self.snd_una and not seq_between(self.snd_una, ack, self.snd_max):
            return False
        dlen = len(payload)
        seg_len = dlen + (flags & FIN)
        if seg_len:
            wnd = self._rcv_window()
            if wnd == 0 or dlen > wnd:
                return False  # `_arrive` trims it to the window
        # First: acceptable as it is; RFC 7323 §4.3 TS.Recent (`_update_ts_recent`).
        if (
            tsval is not None and self.ts_ok and seq_le(seq, self.rcv_wup)
            and seq_ge(tsval, self.ts_recent)
        ):
            self.ts_recent = tsval
            self._ts_recent_at = now
        # Second to fourth: no RST, no SYN, no ECN. Fifth: the ACK.
        if st is _SYN_RECEIVED:
            self.snd_wnd = window << self.snd_wscale
            self.snd_wl1 = seq
            self.snd_wl2 = ack
            self.max_snd_wnd = max(self.max_snd_wnd, self.snd_wnd)
            self._established("ACK of SYN received" if not dlen else "data acknowledging SYN")
        if self._process_ack(window, flags, seq, ack, dlen, now) and seg_len:
            # Sixth to eighth, as the state allows (nothing to do for a bare ACK).
            self._after_ack(sport, dport, seq, ack, flags, 0, payload, seg_len, seq, now)
        return True

    def syn_fields_arrived(
        self, seq: int, ack: int, flags: int, window: int, offer: SynOffer, now: float,
    ) -> bool:
        """`segment_arrived` in LISTEN for a SYN without ACK or RST given by its header fields
        and what its options offer (`syn_options`), for a host that decoded them in place.
        False, with nothing done, in any other state or for any other segment."""
        if self._state is not _LISTEN or flags & (SYN | ACK | RST) != SYN:
            return False
        self._now = now
        self._ce = False
        self._listen_syn(seq, ack, flags, window, offer, now)
        if self._ack_now and self._state is not _CLOSED:
            self._send_ack()
        self._host.touched(self)
        return True

    def _arrive_listen(self, seg: TcpSegment, now: float) -> None:
        """RFC 9293 §3.10.7.2 LISTEN."""
        flags = int(seg.flags)
        if flags & RST:  # first: an incoming RST is ignored
            return
        if flags & ACK:  # second: any ACK is bad: <SEQ=SEG.ACK><CTL=RST>
            self._out.append(TcpSegment(seg.dst_port, seg.src_port, seg.ack, 0, _FLAGS[RST], 0))
            return
        if not flags & SYN:  # fourth: other control or text: drop
            return
        self._listen_syn(seg.seq, seg.ack, flags, seg.window, syn_options(seg.options), now)

    def _listen_syn(
        self, seq: int, ack: int, flags: int, window: int, offer: SynOffer, now: float
    ) -> None:
        """RFC 9293 §3.10.7.2 LISTEN, third: a SYN (neither RST nor ACK)."""
        if flags & FIN and self.config.drop_synfin:
            return
        # IRS, RCV.NXT; options negotiated; text and FIN on the SYN are not queued (as Linux
        # without TCP Fast Open): the SYN-ACK acknowledges the SYN only.
        self._now = now
        self._init_tcb()
        self.irs = seq
        self.rcv_nxt = self.rcv_wup = (seq + 1) & SEQ_MASK
        self._negotiate(flags, offer)
        self.snd_wnd = window  # never scaled in a SYN (RFC 7323 §2.2)
        self.snd_wl1 = seq
        self.snd_wl2 = ack
        self.max_snd_wnd = self.snd_wnd
        self._set_state(_SYN_RECEIVED, "SYN received")
        self._send_syn()
        self._arm_rtx(now)
        if self.config.syn_timeout is not None:
            self._t_wait = now + self.config.syn_timeout

    def _arrive_syn_sent(self, seg: TcpSegment, now: float) -> None:
        """RFC 9293 §3.10.7.3 SYN-SENT."""
        flags = int(seg.flags)
        ack = seg.ack
        # First: check the ACK.
        if flags & ACK and (seq_le(ack, self.iss) or seq_gt(ack, self.snd_max)):
            if not flags & RST:
                self._out.append(TcpSegment(seg.dst_port, seg.src_port, ack, 0, _FLAGS[RST], 0))
            return
        if flags & RST:  # second: RST, accepted only with an acceptable ACK
            if flags & ACK:
                self._fail(ConnectionRefusedError(111, "connection refused"), "RST received")
            return
        if not flags & SYN:  # fifth: neither SYN nor RST
            return
        # Fourth: SYN.
        self.irs = seg.seq
        self.rcv_nxt = self.rcv_wup = (seg.seq + 1) & SEQ_MASK
        self._negotiate(flags, syn_options(seg.options))
        if flags & ACK:
            self.snd_una = ack
            if seq_gt(ack, self.snd_nxt):
                self.snd_nxt = ack
            self._take_rtt_sample(ack, now)
            self.snd_wnd = seg.window  # SYN-ACK windows are not scaled
            self.snd_wl1 = seg.seq
            self.snd_wl2 = ack
            self.max_snd_wnd = self.snd_wnd
            self._established("SYN-ACK received")
            self._ack_now = True  # <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
            if seg.payload or flags & (FIN | URG):  # continue at the sixth step
                self._text_and_fin(seg.src_port, seg.dst_port, (seg.seq + 1) & SEQ_MASK, ack,
                                   flags, seg.urgent, seg.payload, now)
            self._output(now)
            return
        # Simultaneous open: SYN-RECEIVED, <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>; text on the SYN
        # waits until ESTABLISHED (it is acknowledged then).
        if seg.payload:
            self._rcvbuf = ReceiveBuffer(self.config.rcv_buf)
            self._rcvbuf.insert(1, seg.payload)  # held beyond a one-byte gap until established
        self.snd_wnd = seg.window
        self.snd_wl1 = seg.seq
        self.snd_wl2 = ack
        self.max_snd_wnd = self.snd_wnd
        self._set_state(_SYN_RECEIVED, "SYN received: simultaneous open")
        self._rtx_count = 0
        self._send_syn()
        self._arm_rtx(now)

    def _arrive(
        self, sport: int, dport: int, seq: int, ack: int, flags: int, window: int, urgent: int,
        tsval: int | None, payload: bytes, now: float,
    ) -> None:
        """RFC 9293 §3.10.7.4: SYN-RECEIVED and every synchronized state. The segment comes as
        its header fields (`tsval`: the Timestamps option's value, None without it); no other
        option matters once the connection is synchronized."""
        st = self._state
        cfg = self.config
        dlen = len(payload)
        seg_len = dlen + (flags & SYN and 1) + (flags & FIN)
        rcv_nxt = self.rcv_nxt
        wnd = self._rcv_window()
        if (
            self.ts_ok and cfg.drop_missing_timestamps and not flags & RST and tsval is None
        ):
            return  # RFC 7323 §3.2: a non-RST segment without TSopt is silently dropped
        if (
            tsval is not None and self.ts_ok and cfg.paws and not flags & RST
            and self._paws_rejects(seq, ack, flags, window, seg_len, tsval, now)
        ):
            # RFC 7323 §5.3 R1: not acceptable: acknowledge (a SYN gets RFC 5961's challenge
            # ACK, as in Linux) and drop.
            if flags & SYN:
                self._challenge_ack(now)
            else:
                if seg_len and seq_lt(seq, rcv_nxt):
                    self._report_duplicate(seq, seg_len)
                self._ack_now = True
            return

        # First: check the sequence number (Table 6).
        delta = seq_diff(seq, rcv_nxt)
        if seg_len == 0:
            ok = delta == 0 if wnd == 0 else 0 <= delta < wnd
        elif wnd == 0:
            ok = False
        else:
            end = delta + seg_len - 1
            ok = 0 <= delta < wnd or 0 <= end < wnd
        if not ok and wnd == 0 and seg_len and delta == 0:
            ok = True  # §3.10.7.4: valid ACKs, URGs and RSTs are still processed at window 0
            payload, dlen, flags = b"", 0, flags & ~(FIN | SYN)
            seg_len = 0
            self._ack_now = True  # the text was not taken: tell the sender the window
        if not ok and st is _SYN_RECEIVED and flags & (SYN | ACK) == SYN | ACK and seq == self.irs:
            ok = True  # simultaneous open: the peer's SYN-ACK repeats its SYN (trimmed below)
        if not ok:
            if flags & RST:
                return  # unacceptable RST: drop silently
            if (
                st is _SYN_RECEIVED and flags & SYN and not flags & ACK
                and seq == self.irs
            ):
                self._send_syn()  # the peer retransmitted its SYN: repeat our SYN-ACK (Linux)
                return
            if st is _TIME_WAIT and flags & ACK:
                self._t_wait = now + cfg.time_wait  # a retransmitted FIN restarts 2*MSL
                # RFC 7323 §4.3 (2): SEG.SEQ <= Last.ACK.sent: its TSval is the one to echo.
                self._update_ts_recent(tsval, seq)
            elif seg_len and delta < 0 and not flags & SYN:  # (Linux: an old SYN is challenged)
                self._report_duplicate(seq, seg_len)
                if (seq + seg_len) & SEQ_MASK == self.rcv_wup:
                    # Linux tcp_sequence takes a segment ending at the last ACK's RCV.NXT as in
                    # the window: a retransmission of all we acknowledged sets TS.Recent (§4.3).
                    self._update_ts_recent(tsval, seq)
            self._ack_now = True  # <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
            return
        # Trim to the window: bytes before RCV.NXT (and a SYN there) are old.
        if delta < 0:
            self._report_duplicate(seq, seg_len)
            if flags & SYN:
                flags &= ~SYN  # the SYN occupies the first sequence number: text starts after it
                delta += 1
                seq = (seq + 1) & SEQ_MASK
            if delta < 0:
                payload = payload[-delta:]
                dlen = len(payload)
                seq = rcv_nxt
                delta = 0
        if dlen > wnd - delta:
            keep = max(wnd - delta, 0)
            payload = payload[:keep]
            dlen = keep
            flags &= ~FIN  # the FIN lies beyond the window
        self._update_ts_recent(tsval, seq)

        # Second: check the RST bit.
        if flags & RST:
            if st is _TIME_WAIT and cfg.rfc1337:
                return  # RFC 1337 (F1): ignore every RST in TIME-WAIT
            if cfg.rfc5961_rst and seq != rcv_nxt:
                self._challenge_ack(now)  # RFC 5961 §3.2: in window, not exact
                return
            if st is _SYN_RECEIVED:
                if self.passive:
                    self._back_to_listen("RST received")
                else:
                    self._fail(ConnectionRefusedError(111, "connection refused"), "RST received")
            elif st in (_ESTABLISHED, _FIN_WAIT_1, _FIN_WAIT_2, _CLOSE_WAIT, _CLOSING):
                # (CLOSING: the program may still ask; FreeBSD and Linux report the reset too.)
                self._fail(ConnectionResetError(104, "connection reset by peer"), "RST received")
            else:  # LAST-ACK, TIME-WAIT
                self._delete("RST received")
            return

        # Third: security/compartment does not apply (no IP security option).

        if self.ecn_ok and not flags & SYN:
            # RFC 3168 §6.1.3: after a CE mark, ECE on every ACK until a CWR arrives.
            if flags & CWR:
                self._ece_pending = False
            if self._ce:
                self._ece_pending = True
                if dlen:
                    self._ack_now = True  # Linux tcp_ecn_check_ce: quick ACK on CE

        # Fourth: check the SYN bit.
        if flags & SYN:
            if st is _SYN_RECEIVED and self.passive:
                self._back_to_listen("SYN received")
                return
            if cfg.rfc5961_syn:
                self._challenge_ack(now)  # RFC 5961 §4.2: whatever the sequence number
                return
            # RFC 793: a SYN in the window is an error: reset (<SEQ=SND.NXT><ACK=RCV.NXT>).
            self._out.append(TcpSegment(
                self.local[1], self.remote[1], self.snd_nxt, self.rcv_nxt, _FLAGS[RST | ACK], 0
            ))
            self._fail(ConnectionResetError(104, "connection reset (SYN received)"), "SYN received")
            return

        # Fifth: check the ACK field.
        if not flags & ACK:
            return
        if cfg.rfc5961_ack and (
            seq_gt(ack, self.snd_max)
            or seq_lt(ack, (self.snd_una - max(self.max_snd_wnd, 1)) & SEQ_MASK)
        ):
            # RFC 5961 §5.2: outside (SND.UNA - MAX.SND.WND) .. SND.NXT: discard, send an ACK.
            if st is _SYN_RECEIVED:
                self._out.append(TcpSegment(dport, sport, ack, 0, _FLAGS[RST], 0))
            else:
                self._challenge_ack(now)
            return
        if st is _SYN_RECEIVED:
            if seq_lt(self.snd_una, ack) and seq_le(ack, self.snd_max):
                self.snd_wnd = window << self.snd_wscale
                self.snd_wl1 = seq
                self.snd_wl2 = ack
                self.max_snd_wnd = max(self.max_snd_wnd, self.snd_wnd)
                self._established("ACK of SYN received" if not dlen else "data acknowledging SYN")
                st = self._state
            else:
                # <SEQ=SEG.ACK><CTL=RST>
                self._out.append(TcpSegment(dport, sport, ack, 0, _FLAGS[RST], 0))
                return
        if seq_gt(ack, self.snd_max):
            self._ack_now = True  # acknowledges something not yet sent: ACK, drop
            return
        if self._process_ack(window, flags, seq, ack, dlen, now):
            self._after_ack(sport, dport, seq, ack, flags, urgent, payload, seg_len, rcv_nxt, now)

    def _after_ack(
        self, sport: int, dport: int, seq: int, ack: int, flags: int, urgent: int,
        payload: bytes, seg_len: int, rcv_nxt: int, now: float,
    ) -> None:
        """RFC 9293 §3.10.7.4 after the fifth step (the ACK), as the state now allows: URG,
        text and FIN. `rcv_nxt`: RCV.NXT when the segment arrived."""
        st = self._state
        if st is _CLOSED:
            return
        if st is _LAST_ACK:
            return  # only the ACK of our FIN was expected (and it deleted the TCB when it came)
        if st is _CLOSING:
            return  # ACK processing moved to TIME-WAIT if it acknowledged our FIN
        if st is _TIME_WAIT:
            if seg_len or seq != rcv_nxt:
                # Only a retransmitted FIN can arrive: acknowledge it, restart 2*MSL.
                self._t_wait = now + self.config.time_wait
                self._ack_now = True
            return
        # Sixth and seventh: URG and segment text; eighth: FIN.
        if payload or flags & (FIN | URG):
            self._text_and_fin(sport, dport, seq, ack, flags, urgent, payload, now)

    def _text_and_fin(
        self, sport: int, dport: int, seq: int, ack: int, flags: int, urgent: int,
        payload: bytes, now: float,
    ) -> None:
        """RFC 9293 §3.10.7.4 sixth (URG), seventh (text) and eighth (FIN) steps; `seq` is that
        of the first octet of `payload`."""
        st = self._state
        dlen = len(payload)
        if flags & URG and st in _RECEIVING:
            up = (seq + urgent) & SEQ_MASK
            if seq_gt(up, self.rcv_up):
                self.rcv_up = up  # urgent data is delivered in line (RFC 6093)
        if dlen and st in _RECEIVING:
            if self._user_closed and self.config.rst_on_unread_close:
                # Linux: data for a closed socket aborts it: <SEQ=SEG.ACK><CTL=RST>.
                self._out.append(TcpSegment(dport, sport, ack, 0, _FLAGS[RST], 0))
                self._fail(ConnectionResetError(104, "data after close()"), "data after close()")
                return
            self._receive_text(seq, payload, now)
        if flags & FIN:
            fin_seq = (seq + dlen) & SEQ_MASK
            if fin_seq == self.rcv_nxt:
                self._fin_arrived(now)
            elif seq_gt(fin_seq, self.rcv_nxt) and st in _RECEIVING:
                self._peer_fin_seq = fin_seq  # beyond a hole: processed once the hole fills
                self._ack_now = True  # RFC 5681 §4.2: out of order, a duplicate ACK at once

    def _receive_text(self, seq: int, payload: bytes, now: float) -> None:
        """Seventh step: place text in the receive buffer, advance RCV.NXT, decide the ACK."""
        buf = self._rcvbuf
        if buf is None:
            buf = self._rcvbuf = ReceiveBuffer(self.config.rcv_buf)
        delta = seq_diff(seq, self.rcv_nxt)
        had_holes = bool(buf._starts)
        n = buf.insert(delta, payload)
        if n:
            self.rcv_nxt = (self.rcv_nxt + n) & SEQ_MASK
            self._push_event(DataReceived(buf.readable))
        self._lrcvtime = now
        dlen = len(payload)
        est = self._rcv_mss_est
        if dlen > est:
            est = self._rcv_mss_est = min(dlen, self._rcv_mss())  # Linux tcp_measure_rcv_mss
        if delta > 0 or had_holes:
            self._ack_now = True  # RFC 5681 §4.2: out-of-order data or a filled hole
        elif seq_diff(self.rcv_nxt, self.rcv_wup) > est:
            # RFC 9293 §3.8.6.3 / RFC 1122 §4.2.3.2: at least every second full-sized segment
            # (Linux: more than one segment's worth unacknowledged).
            self._ack_now = True
        elif self._quick > 0 and not self._pingpong:
            self._quick -= 1  # Linux quick-ack mode, off while the exchange is interactive
            self._ack_now = True
        elif self.config.delayed_ack <= 0:
            self._ack_now = True
        else:
            if dlen < est and self._ack_pushed < 2:
                self._ack_pushed += 1
            self._schedule_delack(now)
        if self._peer_fin_seq is not None and self._peer_fin_seq == self.rcv_nxt:
            self._peer_fin_seq = None
            self._fin_arrived(now)

    def _fin_arrived(self, now: float) -> None:
        """Eighth step: the peer's FIN is in order."""
        if self._fin_received:
            # A FIN again (TIME-WAIT and the like): acknowledge, restart 2*MSL in TIME-WAIT.
            if self._state is _TIME_WAIT:
                self._t_wait = now + self.config.time_wait
            self._ack_now = True
            return
        self._fin_received = True
        self.rcv_nxt = (self.rcv_nxt + 1) & SEQ_MASK
        self._push_event(EndOfStream())
        st = self._state
        if st is _ESTABLISHED or st is _SYN_RECEIVED:
            self._pingpong = True  # Linux tcp_fin: the ACK of a FIN waits for the program's answer
        new = _ON_FIN[st]
        if st is _FIN_WAIT_1 and self._our_fin_acked():
            new = _TIME_WAIT
        if new is _TIME_WAIT:
            self._enter_time_wait(now, "FIN received")
            self._ack_now = True
            return
        if new is not st:
            self._set_state(new, "FIN received")
        if new is _CLOSING:
            self._ack_now = True
        elif not self._ack_now:
            # Linux delays the ACK of a FIN, so that a program closing at once sends FIN+ACK
            # (the three-segment close).
            self._schedule_delack(now)

    # ------------------------------------------------------------------ ACK processing

    def _process_ack(
        self, window: int, flags: int, seq: int, ack: int, dlen: int, now: float
    ) -> bool:
        """Fifth step for ESTABLISHED and later states. Returns False to stop processing."""
        una = self.snd_una
        sacked = False  # the segment SACKs octets not SACKed before (RFC 6675 §2)
        if self._in_sack and una != self.snd_max:
            board = self._board
            if board is None:
                board = self._board = Scoreboard()
            sacked = board.update(self._in_sack, una, self.snd_max)
        if ack != una and seq_gt(ack, una):
            acked = seq_diff(ack, una)
            self.snd_una = ack
            if seq_lt(self.snd_nxt, ack):
                self.snd_nxt = ack
            if self._board:
                self._board.advance(ack)
            rtt_time = self._rtt_time  # RFC 6298 §2: an RTT sample (see `_take_rtt_sample`)
            if rtt_time is not None and seq_ge(ack, self._rtt_seq):
                assert self._rto is not None
                self._rto.sample(now - rtt_time)
                self._rtt_time = None
            buf = self._sndbuf
            if buf is not None and buf.size:
                n = buf.acknowledge(seq_diff(ack, self._sbuf_seq))
                if n:
                    self._sbuf_seq = (self._sbuf_seq + n) & SEQ_MASK
                    if self._send_blocked and buf.space:
                        self._send_blocked = False
                        self._push_event(SendSpaceAvailable(buf.space))
            self._rtx_count = 0
            cc = self._cc
            snd_max = self.snd_max
            if (
                flags & ECE and self.ecn_ok and cc is not None and not cc.in_recovery
                and seq_ge(una, self._ecn_recover)
            ):
                # RFC 3168 §6.1.2: halve cwnd once per window of data; CWR on the next data.
                cc.on_ecn(seq_diff(snd_max, una))
                self._ecn_recover = snd_max
                self._cwr_pending = True
            if cc is not None and cc.on_ack(acked, ack, seq_diff(snd_max, ack)):
                self._retransmit_head()  # NewReno partial ACK (RFC 6582 §3.2)
            elif cc is not None and cc.sack_recovery:
                self._sack_send(now)  # RFC 6675 §5 (C): a partial ACK, new SACK information
            if ack == self.snd_max:
                self._t_rtx = None  # RFC 6298 §5.2
            else:
                self._arm_rtx(now, restart=True)  # §5.3
            if self._fin_queued and self._our_fin_acked():
                st = self._state
                if st is _FIN_WAIT_1:
                    self._set_state(_FIN_WAIT_2, "ACK of FIN received")
                    if self._user_closed:
                        self._t_wait = now + self.config.fin_wait_2_timeout
                elif st is _CLOSING:
                    self._enter_time_wait(now, "ACK of FIN received")
                elif st is _LAST_ACK:
                    self._delete("ACK of FIN received")
                    return False
        elif (
            ack == una and not dlen and not flags & (SYN | FIN) and una != self.snd_max
            and self._cc is not None
        ):
            cc = self._cc
            if (self._in_sack or self._board) and (not cc.in_recovery or cc.sack_recovery):
                if sacked:  # RFC 6675 §2: a duplicate ACK SACKs new octets (a D-SACK does not)
                    self._sack_dup_ack(now)
            elif (window << self.snd_wscale) == self.snd_wnd and cc.on_dup_ack(
                seq_diff(self.snd_max, una), self.snd_max, una
            ):
                # RFC 5681 §2 duplicate ACK (same window, nothing else), the third: fast
                # retransmit.
                self._rtt_time = None
                self._retransmit_head()
        # Window update (RFC 9293 §3.10.7.4): only from segments newer than the last update
        # (SND.WL1 < SEG.SEQ, or SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK).
        una = self.snd_una
        wl1 = self.snd_wl1
        if (ack == una or seq_le(una, ack)) and (
            (wl1 == seq and (self.snd_wl2 == ack or seq_le(self.snd_wl2, ack)))
            or seq_lt(wl1, seq)
        ):
            wnd = window << self.snd_wscale
            if wnd > self.max_snd_wnd:
                self.max_snd_wnd = wnd
            self.snd_wnd = wnd
            self.snd_wl1 = seq
            self.snd_wl2 = ack
            if wnd and self._t_persist is not None:
                self._t_persist = None
                self._persist_backoff = 0
        buf = self._sndbuf
        if self._fin_queued or (buf is not None and buf.size):  # else nothing to send
            self._output(now)
        return True

    def _sack_dup_ack(self, now: float) -> None:
        """RFC 6675 §5 (4): a duplicate ACK with SACK information; the third, or one that shows
        the first unacknowledged octet lost, starts loss recovery."""
        cc = self._cc
        board = self._board
        assert cc is not None and board is not None
        cc.dup_acks += 1
        if cc.in_recovery:
            self._sack_send(now)
            return
        una = self.snd_una
        lost = board.lost_holes(una, self.smss)
        if (cc.dup_acks >= DUP_THRESH or (lost and lost[0][0] == una)) and cc.may_recover(una):
            # (4.1) RecoveryPoint = HighData; (4.2) ssthresh = cwnd = FlightSize / 2; (4.3) the
            # segment at HighACK + 1 goes at once, whatever the pipe.
            cc.enter_sack_recovery(seq_diff(self.snd_max, una), self.snd_max)
            size = min(seq_diff(board.ranges[0][0], una), self.smss)
            self._resend(una, size, now)
            self._high_rxt = self._rescue_rxt = (una + size) & SEQ_MASK
            self._sack_send(now)

    def _sack_send(self, now: float) -> None:
        """RFC 6675 §5 (4.3), (C): while cwnd - pipe >= 1 SMSS, send what NextSeg names: a lost
        hole above HighRxt (rule 1), new data (rule 2), another hole (rule 3)."""
        cc = self._cc
        board = self._board
        assert cc is not None
        if board is None:
            return
        smss = self.smss
        una = self.snd_una
        pipe = board.pipe(una, self.snd_max, self._high_rxt, smss)
        while cc.cwnd - pipe >= smss:
            start, size = board.next_seg(una, self._high_rxt, smss, lost_only=True)
            if not size:
                before = self.snd_nxt
                if self._unsent() and self.snd_nxt == self.snd_max:
                    self._output(now, room=cc.cwnd - pipe)
                if self.snd_nxt != before:
                    pipe += seq_diff(self.snd_nxt, before)
                    continue
                start, size = board.next_seg(una, self._high_rxt, smss, lost_only=False)
                if not size:
                    self._rescue(now)
                    break
            self._resend(start, size, now)
            self._high_rxt = (start + size) & SEQ_MASK
            pipe += size

    def _rescue(self, now: float) -> None:
        """RFC 6675 §4 NextSeg (4), once per recovery: the segment holding the highest unSACKed
        octet outstanding, so that a loss at the tail is repaired without waiting for the RTO.
        RescueRxt becomes RecoveryPoint; HighRxt stays."""
        cc = self._cc
        board = self._board
        assert cc is not None and board is not None
        una, snd_max = self.snd_una, self.snd_max
        if not seq_lt(self._rescue_rxt, una):
            return  # (4.a): once HighACK has passed the last rescue (or the first resend)
        top = board.ranges[-1][1] if board.ranges else una
        if seq_diff(snd_max, top) <= 0:
            return  # everything above the last hole is SACKed: rules (1) and (3) cover it
        size = min(seq_diff(snd_max, top), self.smss)
        self._resend((snd_max - size) & SEQ_MASK, size, now)
        self._rescue_rxt = cc.recover

    def _resend(self, seq: int, size: int, now: float) -> None:
        """Retransmit `size` sequence numbers from `seq`: data, and our FIN if it is the last."""
        buf = self._sndbuf
        buffered = buf.size if buf is not None else 0
        index = seq_diff(seq, self._sbuf_seq)
        fin = self._fin_sent() and index + size > buffered
        octets = size - 1 if fin else size
        flags = ACK | (PSH if octets and index + octets == buffered else 0) | (FIN if fin else 0)
        payload = buf.peek(index, octets) if buf is not None and octets else b""
        self._emit(flags, seq, payload)
        if self._rtt_time is not None and seq_lt(seq, self._rtt_seq):
            self._rtt_time = None  # Karn's rule (RFC 6298 §3): the timed segment may be resent
        if self._t_rtx is None:
            self._arm_rtx(now)

    def _take_rtt_sample(self, ack: int, now: float) -> None:
        if self._rtt_time is not None and seq_ge(ack, self._rtt_seq):
            assert self._rto is not None
            self._rto.sample(now - self._rtt_time)
            self._rtt_time = None

    # ------------------------------------------------------------------ transmission

    def _unsent(self) -> int:
        """Buffered bytes not yet sent (beyond SND.NXT)."""
        buf = self._sndbuf
        if buf is None:
            return 0
        return buf.size - seq_diff(self.snd_nxt, self._sbuf_seq)

    def _fin_seq(self) -> int:
        """Sequence number of our FIN (valid once the write side is shut down)."""
        n = self._sndbuf.size if self._sndbuf is not None else 0
        return (self._sbuf_seq + n) & SEQ_MASK

    def _fin_sent(self) -> bool:
        return self._fin_queued and seq_gt(self.snd_max, self._fin_seq())

    def _our_fin_acked(self) -> bool:
        return self._fin_queued and seq_gt(self.snd_una, self._fin_seq())

    def _output(self, now: float, probe: bool = False, room: int | None = None) -> None:
        """Send what the send buffer, the peer's window and the congestion window allow.

        `probe`: the override (window probe) timer fired: send one segment of whatever the
        window allows, even if short. `room`: one segment of at most this size in place of the
        congestion window's limit (RFC 6675 recovery counts the pipe, not the flight)."""
        if self._state not in _SENDING:
            return
        buf = self._sndbuf
        buffered = buf.size if buf is not None else 0
        cc = self._cc
        smss = self.smss
        idle = self.snd_max == self.snd_una  # (FreeBSD's Nagle looks at this, once per call)
        while True:
            nxt = self.snd_nxt
            sent = seq_diff(nxt, self._sbuf_seq)
            remaining = buffered - sent
            if remaining <= 0:
                if self._fin_queued and remaining == 0:  # only our FIN is left
                    self._transmit(ACK | FIN, nxt, b"", now)
                break
            flight = seq_diff(nxt, self.snd_una)
            usable = self.snd_wnd - flight
            if room is not None:
                usable = min(usable, room)
            elif cc is not None and cc.cwnd - flight < usable:
                usable = cc.cwnd - flight
            size = remaining if remaining < smss else smss
            if (
                size < smss and not probe and not self._fin_queued and flight
                and not self.nodelay and self._nagle_holds(size, idle)
            ):
                break  # RFC 9293 §3.7.4: the short segment waits for an ACK
            if usable < size:
                # Sender SWS avoidance (RFC 9293 §3.8.6.2.1): a segment shorter than the MSS that
                # does not hold all queued data goes only if it is at least Fr = 1/2 of the
                # largest window the peer offered, or when the override timer fires; with
                # nothing in flight no ACK will come, so that timer is the persist timer
                # (Linux: tcp_write_wakeup sends what the window allows, or a zero-window probe).
                if usable > 0 and (probe or usable >= self.max_snd_wnd >> 1):
                    size = usable
                else:
                    if flight == 0 and self._t_persist is None:
                        self._arm_persist(now)
                    break
            assert buf is not None
            if size < smss:
                self._snd_sml = (nxt + size) & SEQ_MASK
            if sent + size == buffered:  # the last of the queued data: PSH (and our FIN)
                flags = ACK | PSH | FIN if self._fin_queued else ACK | PSH
                self._transmit(flags, nxt, buf.peek(sent, size), now)
                break
            self._transmit(ACK, nxt, buf.peek(sent, size), now)
            if probe or room is not None:
                break

    def _nagle_holds(self, size: int, idle: bool) -> bool:
        """Whether a segment of `size` (< MSS, no FIN) waits for an ACK while data is in flight.

        "minshall", Linux's tcp_nagle_check: while an earlier short segment is unacknowledged.
        "rfc896", as FreeBSD's tcp_output: unless nothing was in flight when this output began
        (so one write's tail goes with it), or the segment is half the largest window the peer
        offered (the sender SWS rule of RFC 9293 §3.8.6.2.1)."""
        nagle = self.config.nagle
        if nagle == "minshall":
            sml = self._snd_sml
            return seq_gt(sml, self.snd_una) and seq_le(sml, self.snd_nxt)
        if nagle == "rfc896":
            return not idle and not (self.max_snd_wnd and size >= self.max_snd_wnd >> 1)
        return False

    def _transmit(self, flags: int, seq: int, payload: bytes, now: float) -> None:
        """Send new or resent data at SND.NXT and advance it; time it; arm the RTO."""
        self._emit(flags, seq, payload)
        nxt = (seq + len(payload) + (flags & FIN)) & SEQ_MASK
        self.snd_nxt = nxt
        snd_max = self.snd_max
        if nxt != snd_max and seq_gt(nxt, snd_max):
            if self._rtt_time is None and seq_ge(seq, snd_max):
                self._rtt_seq = nxt
                self._rtt_time = now
            self.snd_max = nxt
        if self._t_rtx is None:  # `_arm_rtx`
            assert self._rto is not None
            self._t_rtx = now + self._rto.current()

    def _retransmit_head(self) -> None:
        """Resend the oldest unacknowledged segment (RTO or fast retransmit)."""
        buf = self._sndbuf
        buffered = buf.size if buf is not None else 0
        index = seq_diff(self.snd_una, self._sbuf_seq)
        size = min(buffered - index, self.smss)
        if size < 0:
            size = 0
        fin = self._fin_sent() and index + size == buffered
        if size == 0 and not fin:
            return
        payload = buf.peek(index, size) if buf is not None and size else b""
        flags = ACK | (PSH if index + size == buffered and size else 0) | (FIN if fin else 0)
        self._emit(flags, self.snd_una, payload)
        end = (self.snd_una + size + (1 if fin else 0)) & SEQ_MASK
        if seq_gt(end, self.snd_nxt):
            self.snd_nxt = end

    def _emit(self, flags: int, seq: int, payload: bytes = b"") -> None:
        """Queue a non-SYN segment; one carrying ACK advertises the window and clears a pending
        (delayed) ACK."""
        if flags & ACK:
            ack = self.rcv_nxt
            window = self._advertise()
            self._ack_pending = False
            self._ack_now = False
            self._t_delack = None
            self._ack_pushed = 0
        else:
            ack = 0
            window = 0
        if payload:
            # Linux tcp_event_data_sent: data sent within the delayed-ACK time of the last data
            # received answers it: the exchange is interactive (pingpong mode).
            now = self._now
            lrcv = self._lrcvtime
            if (
                lrcv is not None and now - lrcv < self.config.delayed_ack
                and (self._lsndtime is None or self._lsndtime < lrcv)
            ):
                self._pingpong = True
            self._lsndtime = now
        ect = False
        if self.ecn_ok:
            if flags & ACK and self._ece_pending:
                flags |= ECE  # RFC 3168 §6.1.3
            if payload and seq_ge(seq, self.snd_max):
                # §6.1.2 / §6.1.5: new data goes ECT(0) (never retransmissions or pure ACKs);
                # the first after a cwnd reduction carries CWR.
                ect = True
                if self._cwr_pending:
                    flags |= CWR
                    self._cwr_pending = False
        # TSval: `_tsval()`
        tsval = (int(self._now * 1000) + self.ts_offset) & SEQ_MASK if self.ts_ok else None
        seg: Outgoing
        if self.sack_ok and flags & ACK and (
            self._dsack is not None or (self._rcvbuf is not None and self._rcvbuf._starts)
        ):
            options: tuple[TcpOption, ...] = ()
            if tsval is not None:
                options = (_NOP, _NOP, Timestamps(tsval, self.ts_recent))
            options = (*options, _NOP, _NOP, Sack(self._sack_blocks(3 if self.ts_ok else 4)))
            seg = TcpSegment(
                self.local[1], self.remote[1], seq, ack, _FLAGS[flags], window, 0, options, payload,
            )
        else:
            seg = (flags, seq, ack, window, tsval, self.ts_recent, payload, None)
        self._out.append(seg)
        if ect:
            self._ect_ids.add(id(seg))

    def _send_ack(self) -> None:
        """<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>."""
        self._emit(ACK, self.snd_nxt)

    def _challenge_ack(self, now: float) -> None:
        """RFC 5961 §3.2 / §4.2 / §5.2 challenge ACK, rate limited (§7)."""
        limiter = self._limiter
        if limiter is None:
            limiter = self._limiter = ChallengeAckLimiter(self.config.challenge_ack_limit)
        if limiter.allow(now):
            self._ack_now = True

    def _send_syn(self) -> None:
        """SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED) with Linux's options and initial window."""
        cfg = self.config
        synack = self._state is _SYN_RECEIVED
        offer_ts = cfg.timestamps if not synack else self.ts_ok
        offer_sack = cfg.sack if not synack else self.sack_ok
        offer_ws = self.ws_ok if synack else cfg.window_scale is not None
        drop = cfg.syn_drop_options_after
        if drop is not None and not synack and self._rtx_count > drop:
            offer_ts = offer_sack = offer_ws = False  # a middlebox may drop SYNs with options
        if cfg.no_options:
            offer_ts = offer_sack = offer_ws = False
        flags = SYN | ACK if synack else SYN
        if synack:
            if self.ecn_ok:
                flags |= ECE  # RFC 3168 §6.1.1: ECN-setup SYN-ACK
        elif cfg.ecn == 1 and self._rtx_count <= cfg.ecn_syn_retries:
            flags |= ECE | CWR  # ECN-setup SYN
            self._ecn_syn_sent = True
        ack = self.rcv_nxt if synack else 0
        window = min(self.rcv_wnd, 0xFFFF)
        tsecr = self.ts_recent if synack else 0
        if offer_ts and offer_sack and offer_ws:  # mss, sackOK, TS, nop, wscale: as fields
            self._out.append((flags, self.iss, ack, window, self._tsval(), tsecr, b"",
                              (cfg.mss, cfg.window_scale or 0)))
        else:
            opts: list[TcpOption] = [] if cfg.no_options else [Mss(cfg.mss)]
            if offer_ts:
                opts += [_SACK_OK] if offer_sack else [_NOP, _NOP]
                opts.append(Timestamps(self._tsval(), tsecr))
            elif offer_sack:
                opts += [_NOP, _NOP, _SACK_OK]
            if offer_ws:
                opts += [_NOP, WindowScale(cfg.window_scale or 0)]
            self._out.append(TcpSegment(self.local[1], self.remote[1], self.iss, ack,
                                        _FLAGS[flags], window, 0, tuple(opts)))
        if self._rtt_time is None and self._rtx_count == 0:
            self._rtt_seq = (self.iss + 1) & SEQ_MASK
            self._rtt_time = self._now
        self.snd_nxt = self.snd_max = (self.iss + 1) & SEQ_MASK
        if synack:
            self.rcv_wup = self.rcv_nxt
        self._ack_pending = False
        self._ack_now = False
        self._t_delack = None

    def _update_ts_recent(self, tsval: int | None, seq: int) -> None:
        """RFC 7323 §4.3 (2): if SEG.TSval >= TS.Recent and SEG.SEQ <= Last.ACK.sent, then
        SEG.TSval becomes TS.Recent (echoed in every TSecr we send)."""
        if (
            tsval is not None and self.ts_ok and seq_le(seq, self.rcv_wup)
            and (seq_ge(tsval, self.ts_recent) or not self.ts_recent)  # (0: no reference, Linux)
        ):
            self.ts_recent = tsval
            self._ts_recent_at = self._now

    def _paws_rejects(
        self, seq: int, ack: int, flags: int, window: int, seg_len: int, tsval: int, now: float,
    ) -> bool:
        """RFC 7323 §5.3 R1 (PAWS): SEG.TSval < TS.Recent marks an old duplicate, unless
        TS.Recent is over 24 days old (§5.5), or, as in Linux (tcp_paws_check, TCP_PAWS_WINDOW,
        tcp_disordered_ack): TS.Recent is 0 (some peers send TSval 0 on the SYN), the TSval is
        older by one tick only, or the segment is a duplicate ACK at RCV.NXT that changes nothing
        and is older by no more than an RTO, which reordering explains."""
        recent = self.ts_recent
        behind = (recent - tsval) & SEQ_MASK
        if (
            behind <= 1 or behind & 0x80000000 or not recent
            or now - self._ts_recent_at > _PAWS_IDLE
        ):
            return False
        return not (
            flags & ACK and seg_len == 0 and seq == self.rcv_nxt and ack == self.snd_una
            and not seq_gt(seq, self.snd_wl1)
            and not (seq == self.snd_wl1 and window << self.snd_wscale > self.snd_wnd)
            and self._rto is not None
            and behind <= self._rto.current() * 1000
        )

    def _tsval(self) -> int:
        return (int(self._now * 1000) + self.ts_offset) & SEQ_MASK

    def _report_duplicate(self, seq: int, seg_len: int) -> None:
        """A segment starting before RCV.NXT: its part already received goes in a D-SACK block
        (RFC 2883 §4; Linux tcp_dsack_set, SYN and FIN included) on an ACK sent at once."""
        if not self.sack_ok:
            return
        end = (seq + seg_len) & SEQ_MASK
        if seq_gt(end, self.rcv_nxt):
            end = self.rcv_nxt
        self._dsack = (seq, end)
        self._ack_now = True

    def _sack_blocks(self, limit: int) -> tuple[tuple[int, int], ...]:
        """RFC 2018 §4: the block holding the latest segment first, then the others; a D-SACK
        block (RFC 2883 §4) before them all, reported once."""
        dsack = self._dsack
        head: tuple[tuple[int, int], ...] = ()
        if dsack is not None:
            self._dsack = None
            head = (dsack,)
            limit -= 1
        buf = self._rcvbuf
        if buf is None or not buf._starts:
            return head
        base = buf.next
        blocks = []
        first = buf.last_range
        if first is not None:
            blocks.append(first)
        for r in buf.ranges():
            if len(blocks) >= limit:
                break
            if first is None or r[0] != first[0]:
                blocks.append(r)
        nxt = self.rcv_nxt
        return head + tuple(
            ((nxt + s - base) & SEQ_MASK, (nxt + e - base) & SEQ_MASK) for s, e in blocks[:limit]
        )

    # ------------------------------------------------------------------ windows

    def _rcv_window(self) -> int:
        """RCV.WND: what is left of the window last advertised."""
        w = seq_diff(self.rcv_wup, self.rcv_nxt) + self.rcv_wnd
        return w if w > 0 else 0

    def _free_window(self) -> int:
        """The window the buffer could offer now, rounded down to the scale unit (Linux)."""
        buf = self._rcvbuf
        free = buf.free_space() if buf is not None else self.config.rcv_buf
        if free > self._rcv_cap:
            free = self._rcv_cap
        ws = self.rcv_wscale
        free = (free >> ws) << ws
        if free < self._rcv_mss() and free < self._rcv_cap:
            free = 0  # receiver SWS avoidance (RFC 9293 §3.8.6.2.2)
        return free

    def _rcv_mss(self) -> int:
        """The largest segment the peer may send us: our MSS less the timestamps option."""
        return self.config.mss - (_TS_OPT_LEN if self.ts_ok else 0)

    def _advertise(self) -> int:
        """The window field for an outgoing segment; never shrinks the window already offered.
        (`_free_window` and `_rcv_window`, inlined: this runs for every segment sent.)"""
        buf = self._rcvbuf
        free = buf.free_space() if buf is not None else self.config.rcv_buf
        cap = self._rcv_cap
        ws = self.rcv_wscale
        if free > cap:
            free = cap
        free = (free >> ws) << ws
        if free < cap and free < self.config.mss - (_TS_OPT_LEN if self.ts_ok else 0):
            free = 0  # receiver SWS avoidance (RFC 9293 §3.8.6.2.2)
        cur = seq_diff(self.rcv_wup, self.rcv_nxt) + self.rcv_wnd
        if cur < 0:
            cur = 0
        if free < cur:
            free = ((cur + (1 << ws) - 1) >> ws) << ws
        field = free >> ws
        if field > 0xFFFF:
            field = 0xFFFF
        self.rcv_wnd = field << ws
        self.rcv_wup = self.rcv_nxt
        return field

    def _maybe_window_update(self) -> None:
        """After a read: announce a window that at least doubled (Linux tcp_cleanup_rbuf)."""
        if not self._state.synchronized or self._fin_received:
            return
        cur = self._rcv_window()
        if 2 * cur <= self._rcv_cap:
            new = self._free_window()
            if new and new >= 2 * cur:
                self._send_ack()

    # ------------------------------------------------------------------ timers (arming)

    def _arm_rtx(self, now: float, restart: bool = False) -> None:
        assert self._rto is not None
        if restart or self._t_rtx is None:
            self._t_rtx = now + self._rto.current()

    def _arm_persist(self, now: float) -> None:
        assert self._rto is not None
        base = max(self._rto.rto, self.config.persist_min)
        self._t_persist = now + min(base * (1 << self._persist_backoff), self.config.rto_max)

    def _schedule_delack(self, now: float) -> None:
        self._ack_pending = True
        if self._t_delack is None:
            self._t_delack = now + self.config.delayed_ack

    # ------------------------------------------------------------------ state changes

    def _init_tcb(self) -> None:
        cfg = self.config
        self._rto = RtoEstimator(cfg.rto_initial, cfg.rto_min, cfg.rto_max)
        self.snd_una = self.snd_nxt = self.snd_max = self._snd_sml = self.iss
        self._sbuf_seq = (self.iss + 1) & SEQ_MASK
        self._rtx_count = 0
        self.rcv_wscale = 0
        self.snd_wscale = 0
        self.ws_ok = False
        self.ecn_ok = self._ecn_syn_sent = self._ece_pending = self._cwr_pending = False
        # Linux: the SYN offers the buffer space rounded down to a multiple of the MSS.
        self.rcv_wnd = self._rcv_cap = (cfg.rcv_buf // cfg.mss) * cfg.mss

    def _negotiate(self, flags: int, offer: SynOffer) -> None:
        """RFC 7323 / RFC 2018 / RFC 9293 §3.7.1: options from the peer's SYN or SYN-ACK (what
        `syn_options` read from them)."""
        cfg = self.config
        mss, ws, sack, tsval = offer
        if cfg.no_options:  # TCP_NOOPT: none offered, none used (the peer's MSS still holds)
            ws = tsval = None
            sack = False
        if flags & ACK:  # RFC 3168 §6.1.1: an ECN-setup SYN-ACK answers our ECN-setup SYN
            self.ecn_ok = self._ecn_syn_sent and flags & (ECE | CWR) == ECE
        else:  # an ECN-setup SYN, accepted unless ECN is off
            self.ecn_ok = cfg.ecn != 0 and flags & (ECE | CWR) == ECE | CWR
        if mss is None:
            v6 = isinstance(self.local[0], IPv6Address)
            mss = cfg.default_peer_mss_ipv6 if v6 else cfg.default_peer_mss_ipv4
        self.peer_mss = mss
        active = self._state is _SYN_SENT
        if ws is not None and cfg.window_scale is not None:
            self.snd_wscale = min(ws, 14)  # RFC 7323 §2.3
            self.rcv_wscale = cfg.window_scale
            self.ws_ok = True
        else:
            self.ws_ok = False
            self.snd_wscale = 0
            self.rcv_wscale = 0
        self.sack_ok = sack and cfg.sack
        self.ts_ok = tsval is not None and cfg.timestamps
        if tsval is not None and self.ts_ok:
            self.ts_recent = tsval
            self._ts_recent_at = self._now
        self.smss = max(min(mss, cfg.mss) - (_TS_OPT_LEN if self.ts_ok else 0), 1)
        if not active:
            # Linux: the SYN-ACK offers the space rounded down to our MSS less the timestamps.
            unit = max(cfg.mss - (_TS_OPT_LEN if self.ts_ok else 0), 1)
            self.rcv_wnd = self._rcv_cap = (cfg.rcv_buf // unit) * unit

    def _established(self, cause: str) -> None:
        cfg = self.config
        if self.keepalive:
            self._t_keep = self._now + cfg.keepalive_idle
        self._cc = NewReno(self.smss, cfg.initial_cwnd_segments)
        self._cc.recover = self.iss  # RFC 6582 §3.2: recover starts at the ISS
        self._quick = cfg.quick_acks
        self._rcv_mss_est = min(536, self._rcv_mss())
        self._rtx_count = 0
        self._t_rtx = None
        self._t_wait = None
        self._set_state(_ESTABLISHED, cause)
        self._push_event(Connected())
        buf = self._rcvbuf
        if buf is not None and buf._starts == [buf.next + 1]:
            # Text that came on the peer's SYN during a simultaneous open (see SYN-SENT).
            chunk = buf._chunks.pop()
            buf._starts.clear()
            buf.last_range = None
            buf.insert(0, bytes(chunk))
            self.rcv_nxt = (self.rcv_nxt + len(chunk)) & SEQ_MASK
            self._push_event(DataReceived(buf.readable))
            self._schedule_delack(self._now)
        if self._fin_queued:  # shutdown() during SYN-RECEIVED: the FIN goes now
            self._set_state(_FIN_WAIT_1, "shutdown() (queued)")

    def _enter_time_wait(self, now: float, cause: str) -> None:
        self._set_state(_TIME_WAIT, cause)
        self._t_rtx = self._t_persist = self._t_delack = None
        self._t_wait = now + self.config.time_wait

    def _back_to_listen(self, cause: str) -> None:
        """RFC 9293 §3.10.7.4: a passive SYN-RECEIVED connection returns to LISTEN."""
        self._out = [
            s for s in self._out
            if not (int(s.flags) if isinstance(s, TcpSegment) else s[0]) & SYN
        ]
        self._clear_timers()
        self._set_state(_LISTEN, cause)

    def _fail(self, error: OSError, cause: str) -> None:
        """The connection ends with an error the program sees."""
        self._error = error
        self._clear_timers()
        if self._sndbuf is not None:
            self._sndbuf = None
        self._set_state(_CLOSED, cause)
        self._push_event(ConnectionFailed(error))
        self._push_event(ConnectionClosed())

    def _abort(self, cause: str) -> None:
        """Send RST (Linux: RST+ACK at SND.NXT) where the peer has a TCB, then delete."""
        st = self._state
        if (st.synchronized or st is _SYN_RECEIVED) and st is not _TIME_WAIT:
            self._emit(RST | ACK, self.snd_nxt)
        self._delete(cause)

    def _delete(self, cause: str) -> None:
        """Enter CLOSED and drop the TCB's queues (the object stays readable)."""
        self._clear_timers()
        self._sndbuf = None
        self._set_state(_CLOSED, cause)
        self._push_event(ConnectionClosed())

    def _clear_timers(self) -> None:
        self._t_rtx = self._t_delack = self._t_persist = self._t_wait = self._t_keep = None
        self._ack_pending = self._ack_now = False

    def _set_state(self, new: State, cause: str) -> None:
        old = self._state
        if old is new:
            return
        self._state = new
        if self.state_events:
            self._push_event(StateChanged(old, new, cause))
        if self.on_transition is not None:
            self.on_transition(self, old, new, cause)

    def _push_event(self, event: Event) -> None:
        if self._events is None:
            self._events = [event]
        else:
            self._events.append(event)

