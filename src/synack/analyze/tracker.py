"""Connection reconstruction: one pass over TCP segments, memory bounded by live connections.

A connection is a 4-tuple plus an incarnation, delimited as Zeek delimits them: a new SYN with a
new initial sequence number starts a new connection, and a connection ends when Zeek's timers
would remove it (closed for 5 s, an unanswered SYN after 5 s, idle for 5 min...). For every
segment the tracker updates, in one step,

- Zeek's endpoint states, `history` and sizes (`synack.analyze.zeek`),
- Wireshark's analysis flags (`synack.analyze.flags`),
- the RFC 9293 state each endpoint must be in (`synack.analyze.rfc`).

Finished connections are handed to a sink callback and forgotten.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from synack.analyze import flags as wsflags
from synack.analyze import rfc
from synack.analyze import zeek as z
from synack.analyze.flags import WsDir, WsStream
from synack.tcp.state import State
from synack.wire import tcp

_M: Final = 0xFFFFFFFF
_HALF: Final = 1 << 31
_INF: Final = float("inf")
# TCP header flag bits (RFC 9293 §3.1), as module globals.
_FIN: Final = tcp.FIN
_SYN: Final = tcp.SYN
_RST: Final = tcp.RST
_ACK: Final = tcp.ACK
_EST: Final = State.ESTABLISHED
_SYN_SENT: Final = State.SYN_SENT
# Zeek's constants as module globals (one lookup each on the per-packet path).
Z_ATTEMPT_DELAY: Final = z.ATTEMPT_DELAY
Z_CLOSED: Final = z.CLOSED
Z_CLOSE_DELAY: Final = z.CLOSE_DELAY
Z_CONNECTION_LINGER: Final = z.CONNECTION_LINGER
Z_ESTABLISHED: Final = z.ESTABLISHED
Z_HANDSHAKE_INACTIVITY_TIMEOUT: Final = z.HANDSHAKE_INACTIVITY_TIMEOUT
Z_HIST_ACK: Final = z.HIST_ACK
Z_HIST_DATA: Final = z.HIST_DATA
Z_HIST_FIN: Final = z.HIST_FIN
Z_HIST_FIN_RST: Final = z.HIST_FIN_RST
Z_HIST_MULTI_FLAG: Final = z.HIST_MULTI_FLAG
Z_HIST_RST: Final = z.HIST_RST
Z_HIST_SYN: Final = z.HIST_SYN
Z_INACTIVE: Final = z.INACTIVE
Z_INACTIVITY_TIMEOUT: Final = z.INACTIVITY_TIMEOUT
Z_LIKELY_SERVER_PORTS: Final = z.LIKELY_SERVER_PORTS
Z_PARTIAL: Final = z.PARTIAL
Z_PARTIAL_CLOSE_DELAY: Final = z.PARTIAL_CLOSE_DELAY
Z_RESET: Final = z.RESET
Z_RESET_DELAY: Final = z.RESET_DELAY
Z_SESSION_TIMER: Final = z.SESSION_TIMER
Z_SYN_ACK_SENT: Final = z.SYN_ACK_SENT
Z_SYN_SENT: Final = z.SYN_SENT
Z_SYN_TIMEOUT: Final = z.SYN_TIMEOUT
Z_TOO_LARGE_SEQ_DELTA: Final = z.TOO_LARGE_SEQ_DELTA

RECENT_STREAMS: Final = 4096

Key = tuple[bytes, bytes, int, int]
PacketRow = tuple[float, bool, int, int, int, int, int, int, "State | None", "State | None"]
"""(time, from originator, TCP flags, seq, ack, payload length, window, analysis bits,
originator state, responder state) — one kept packet, for ladder diagrams and timelines."""


class Side:
    """One endpoint (one direction of sending) of a connection."""

    # Counters; Zeek's endpoint (zs, seqs, history marks); Wireshark's direction (ws); the
    # RFC view (st, iss, fin_seq...).
    __slots__ = (
        "ack_seq", "acks_lost", "bytes", "chk_cnt", "chk_thresh", "conn", "data_after_peer_fin",
        "did_close", "fin_at", "fin_cnt", "fin_rel", "fin_seq", "gap_cnt", "gap_thresh", "h_fin",
        "h_rst", "h_syn", "is_orig", "iss", "key", "last_seq", "passive", "peer", "pkts",
        "r_blocks", "r_last", "r_trim", "rst_cnt", "rsts", "rxmt_cnt", "rxmt_thresh", "st",
        "start_seq", "synacks", "syns", "time_wait_at", "win0_cnt", "win0_thresh", "ws", "zpkts",
        "zprev", "zs",
    )

    def __init__(self, conn: Connection, is_orig: bool, ws: WsDir) -> None:
        self.conn = conn
        self.is_orig = is_orig
        self.peer: Side = self  # set by Connection
        self.key: Key = (b"", b"", 0, 0)
        self.pkts = 0
        self.zpkts = 0
        self.bytes = 0
        self.zs = Z_INACTIVE
        self.zprev = Z_INACTIVE
        self.start_seq = 0
        self.last_seq = 0
        self.ack_seq = 0
        self.fin_cnt = 0
        self.rst_cnt = 0
        self.did_close = False
        self.h_syn = 0
        self.h_fin = 0
        self.h_rst = 0
        self.rxmt_cnt = 0
        self.rxmt_thresh = 1
        self.win0_cnt = 0
        self.win0_thresh = 1
        self.chk_cnt = 0
        self.chk_thresh = 1
        self.gap_cnt = 0
        self.gap_thresh = 1
        # Zeek's reassembler, reduced to sequence ranges (relative to start_seq)
        self.r_last = 1  # everything below has been delivered or reported missing
        self.r_trim = 1  # everything below has been acknowledged
        self.r_blocks: list[list[int]] | None = None  # data above a hole, [seq, upper] sorted
        self.fin_rel = 0
        self.ws = ws
        self.st: State | None = None
        self.iss = -1
        self.fin_seq = -1
        self.fin_at = 0.0
        self.time_wait_at = 0.0
        self.syns = 0
        self.synacks = 0
        self.rsts = 0
        self.passive = False
        self.data_after_peer_fin = False
        self.acks_lost = False

    def set_zstate(self, new: int) -> None:
        if new != self.zs:
            conn = self.conn
            if new not in (Z_INACTIVE, Z_SYN_SENT, Z_SYN_ACK_SENT) and (
                self.zs in (Z_INACTIVE, Z_SYN_SENT, Z_SYN_ACK_SENT)
                and self.peer.zs in (Z_INACTIVE, Z_SYN_SENT, Z_SYN_ACK_SENT)
            ):
                conn.inactivity = Z_INACTIVITY_TIMEOUT
            self.zprev = self.zs
            self.zs = new

    def zeek_size(self) -> int:
        """Zeek's payload size for this endpoint, from sequence numbers (TCP_Endpoint::Size)."""
        start = self.start_seq
        acked = ((self.ack_seq - start + _HALF) & _M) - _HALF
        if (
            self.zprev == Z_SYN_SENT and self.zs == Z_RESET and self.peer.zs == Z_INACTIVE
            and acked > 0
        ):
            return 0
        last = ((self.last_seq - start + _HALF) & _M) - _HALF
        size = last if last > acked else acked
        if size < 0:
            size &= _M
        if size:
            size -= 1
        if self.fin_cnt and size:
            size -= 1
        return size


class Connection:
    """One incarnation of a 4-tuple; `orig` and `resp` follow Zeek's choice of originator."""

    __slots__ = (
        "attempt_at", "counts", "delete_at", "expire_origins", "fin_piggybacked", "first_fin_by",
        "first_seen", "flipped", "handshake_ack", "hard_deadline", "hist_seen", "history",
        "inactivity", "is_partial", "last_seen", "last_time", "live", "number", "orig", "packets",
        "partial_close_at", "resent_syn_by", "reset_at", "resp", "rst_by", "rst_receiver_state",
        "rst_sender_state", "rtt_known_ws", "simultaneous_close", "simultaneous_open", "start",
        "start_missing", "version", "ws",
    )

    def __init__(self, number: int, now: float, version: int) -> None:
        self.number = number
        self.version = version
        self.start = now
        self.last_time = now
        self.last_seen = now
        # Wireshark's stream: its two directions start as the originator's and the responder's.
        ws = self.ws = WsStream()
        self.orig = Side(self, True, ws.a)
        self.resp = Side(self, False, ws.b)
        self.orig.peer = self.resp
        self.resp.peer = self.orig
        self.history: list[str] = []
        self.hist_seen = 0
        self.is_partial = False
        self.first_seen = 0
        self.flipped = False
        self.live = True
        # Zeek's timers (absolute capture times; inf when not armed)
        self.attempt_at = _INF
        self.delete_at = _INF
        self.reset_at = _INF
        self.partial_close_at = _INF
        self.hard_deadline = _INF
        self.expire_origins: list[float] = [now + Z_SYN_TIMEOUT]
        self.inactivity = Z_HANDSHAKE_INACTIVITY_TIMEOUT
        self.counts: list[int] | None = None
        self.packets: list[PacketRow] | None = None
        # RFC view
        self.rst_by: Side | None = None
        self.rst_sender_state: State | None = None
        self.rst_receiver_state: State | None = None
        self.first_fin_by: Side | None = None
        self.handshake_ack: str | None = None
        self.simultaneous_open = False
        self.simultaneous_close = False
        self.fin_piggybacked = False
        self.start_missing = False
        # Continuity with the previous record of the 4-tuple (set by `Tracker._new_connection`):
        # the endpoint whose opening SYN repeats that record's unanswered SYN, and the Wireshark
        # stream taken over from it if its initial RTT was already measured there.
        self.resent_syn_by: Side | None = None
        self.rtt_known_ws: WsStream | None = None

    # Zeek's history ------------------------------------------------------------------------

    def check_history(self, mask: int, code: str, is_orig: bool) -> bool:
        """Record `code` the first time its bit is seen; True if it had been seen before."""
        if not is_orig:
            mask <<= 16
            code = code.lower()
        if self.hist_seen & mask:
            return True
        self.hist_seen |= mask
        self.history.append(code)
        return False

    def add_history(self, code: str, is_orig: bool) -> None:
        self.history.append(code if is_orig else code.lower())

    def flip(self) -> None:
        """Swap originator and responder (Zeek's Connection::FlipRoles), noted as '^'."""
        o, r = self.orig, self.resp
        self.orig, self.resp = r, o
        o.is_orig = False
        r.is_orig = True
        self.hist_seen = ((self.hist_seen & 0xFFFF) << 16) | (self.hist_seen >> 16)
        self.history.append("^")
        fs = self.first_seen
        self.first_seen = (2 if fs & 1 else 0) | (1 if fs & 2 else 0)
        self.is_partial = False
        self.flipped = not self.flipped

    @property
    def history_str(self) -> str:
        return "".join(self.history)

    def scaled(self, side: Side, code: str, which: str) -> None:
        """Zeek's ScaledHistoryEntry: the letter again at 1, 10, 100... occurrences."""
        cnt = getattr(side, which + "_cnt") + 1
        setattr(side, which + "_cnt", cnt)
        thresh = getattr(side, which + "_thresh")
        if cnt == thresh:
            self.history.append(code if side.is_orig else code.lower())
            setattr(side, which + "_thresh", thresh * 10)

    # Zeek's timers ---------------------------------------------------------------------------

    def expired(self, t: float) -> bool:
        """Whether one of Zeek's timers removed this connection by capture time `t`."""
        if t >= self.delete_at or t >= self.reset_at:
            return True
        idle = t - self.last_time
        if idle >= self.inactivity:
            return True
        o, r = self.orig, self.resp
        if t >= self.attempt_at:
            self.attempt_at = _INF
            if o.zs in (Z_SYN_SENT, Z_SYN_ACK_SENT) and r.zs == Z_INACTIVE:
                return True
        if t >= self.partial_close_at:
            self.partial_close_at = _INF
            if (
                o.zs != Z_INACTIVE and r.zs != Z_INACTIVE and not (o.did_close and r.did_close)
                and o.zs != Z_RESET and r.zs != Z_RESET
            ):
                return True
        if idle > Z_CONNECTION_LINGER and self.expire_origins:
            closing = (o.did_close or r.did_close) and (
                (o.did_close and r.did_close) or Z_RESET in (o.zs, r.zs)
                or Z_INACTIVE in (o.zs, r.zs)
            )
            if closing or (o.zs == Z_INACTIVE and r.zs == Z_INACTIVE):
                limit = self.last_time + Z_CONNECTION_LINGER
                for origin in self.expire_origins:
                    if t < origin:
                        continue
                    fire = origin + Z_SESSION_TIMER * int((t - origin) // Z_SESSION_TIMER)
                    if fire > limit:
                        return True
        return False


Sink = Callable[[Connection], None]
PacketHook = Callable[[Connection, Side, int, float, int, int, int, int], None]


class Tracker:
    """Feeds TCP segments into connections; finished connections go to `sink`.

    A segment passed with `checksum_ok=False` is left out of Zeek's and the RFC view (as Zeek
    does without -C: history letter 'C'); it is still analysed as Wireshark does.
    `keep_packets`: keep up to this many packet rows per connection (for diagrams).
    `on_packet(conn, sender, bits, now, flags, seq, ack, plen)` is called after each segment.
    """

    def __init__(
        self, sink: Sink, *, keep_packets: int = 0, keep_connections: int = 0,
        on_packet: PacketHook | None = None,
    ) -> None:
        self.sink = sink
        self.table: dict[Key, Side] = {}
        self.count = 0
        self.bad_checksums = 0
        self.keep_packets = keep_packets
        self.keep_connections = keep_connections
        self.on_packet = on_packet
        self.now = 0.0
        self.next_sweep = 0.0
        self.index = 0  # number of the capture record being processed (set by the reader loop)
        # Originator's key -> the finished connection's Wireshark stream, its originator's and
        # responder's directions, and each endpoint's initial sequence number if its SYN was
        # left unanswered (the endpoint still in SYN-SENT), else -1.
        self._ws_recent: OrderedDict[Key, tuple[WsStream, WsDir, WsDir, int, int]] = OrderedDict()

    # ------------------------------------------------------------------------------------------

    def segment(
        self, now: float, version: int, src: bytes, dst: bytes, sport: int, dport: int, seq: int,
        ack: int, flags: int, window: int, plen: int, checksum_ok: bool = True,
    ) -> None:
        """Process one TCP segment (fields as decoded from the wire)."""
        if now > self.now:
            self.now = now
            if now >= self.next_sweep:
                self.sweep(now)
        key = (src, dst, sport, dport)
        side = self.table.get(key)
        if side is not None:
            conn = side.conn
            if ((now >= conn.hard_deadline or now - conn.last_time >= Z_PARTIAL_CLOSE_DELAY) and (
                conn.expired(now)
            )) or (flags & _SYN and self._is_reuse(conn, side, seq, flags)):
                self._finish(conn, key)
                side = None
        if side is None:
            side = self._new_connection(key, now, version, seq, flags)
        conn = side.conn
        conn.last_seen = now
        peer = side.peer
        ws_fwd = side.ws
        ws_stream = conn.ws
        if flags & _SYN and wsflags.starts_new_stream(ws_fwd, ws_stream, seq, flags):
            conn.ws = ws_stream = WsStream()
            side.ws = ws_fwd = ws_stream.a
            peer.ws = ws_stream.b
        bits = wsflags.analyze(
            ws_stream, ws_fwd, peer.ws, now, seq, ack, flags, window,
            plen if not flags & _RST else 0,
        )
        side.pkts += 1
        if plen:
            side.bytes += plen
        if bits:
            count_bits(conn, bits)
        if not checksum_ok:
            self.bad_checksums += 1
            conn.scaled(side, "C", "chk")
        elif flags & 0x07 or conn.first_seen != 3 or side.zs == Z_INACTIVE:
            side.zpkts += 1
            self._zeek(conn, side, peer, flags, seq, ack, plen, window, now)
            rfc.advance(side, peer, flags, seq, ack, plen, now)
        else:
            side.zpkts += 1
            zs = side.zs
            # Zeek's processing of a segment without SYN, FIN or RST from an endpoint already
            # seen: `_zeek` with the branches that cannot apply left out. (The same steps run
            # inline in `synack.analyze.engine.run`: keep the two in step.)
            end = (seq + plen) & _M
            is_orig = side.is_orig
            if plen:
                mask = Z_HIST_DATA if is_orig else Z_HIST_DATA << 16
                if not conn.hist_seen & mask:
                    conn.check_history(Z_HIST_DATA, "D", is_orig)
            elif flags & _ACK:
                mask = Z_HIST_ACK if is_orig else Z_HIST_ACK << 16
                if not conn.hist_seen & mask:
                    conn.check_history(Z_HIST_ACK, "A", is_orig)
            pzs = peer.zs
            if window == 0 and pzs != Z_CLOSED and zs != Z_RESET:
                conn.scaled(side, "W", "win0")
            if not (side.did_close and peer.did_close):
                conn.last_time = now
            rel_ack = -1
            if flags & _ACK:
                if pzs == Z_INACTIVE:
                    peer.start_seq = peer.ack_seq = peer.last_seq = (ack - 1) & _M
                    rel_ack = 1
                else:
                    rel_ack = ((ack - peer.start_seq + _HALF) & _M) - _HALF
                    if rel_ack >= 0:
                        delta = ((ack - peer.ack_seq + _HALF) & _M) - _HALF
                        if delta > 0 and not (ack == 0 and delta > Z_TOO_LARGE_SEQ_DELTA):
                            peer.ack_seq = ack
                    else:
                        rel_ack = 0
            if zs != Z_RESET:
                delta_last = ((end - side.last_seq + _HALF) & _M) - _HALF
                if delta_last > 0:
                    side.last_seq = end
                elif plen:
                    conn.scaled(side, "T", "rxmt")
            if rel_ack > peer.r_trim:
                if rel_ack <= peer.r_last and peer.r_blocks is None and not peer.fin_cnt:
                    peer.r_trim = rel_ack  # nothing missing below the ACK
                else:
                    ack_received(conn, peer, rel_ack)
            if plen:
                rel_seq = ((seq - side.start_seq + _HALF) & _M) - _HALF
                if rel_seq == side.r_last and side.r_blocks is None and rel_seq >= side.r_trim:
                    side.r_last = rel_seq + plen  # in order: delivered at once
                elif rel_seq >= 0:
                    data_sent(side, rel_seq, plen)
            if (
                side.st is not _EST or peer.st is not _EST or side.fin_seq >= 0
                or peer.fin_seq >= 0 or side.acks_lost or peer.acks_lost
            ):
                rfc.advance(side, peer, flags, seq, ack, plen, now)
            # else: data or ACKs between two established endpoints change no state
        rows = conn.packets
        if rows is not None and len(rows) < self.keep_packets:
            o = conn.orig
            rows.append((now, side is o, flags, seq, ack, plen, window, bits, o.st, conn.resp.st))
        if self.on_packet is not None:
            self.on_packet(conn, side, bits, now, flags, seq, ack, plen)

    # Direct paths -----------------------------------------------------------------------------
    # `synack.analyze.engine.run` sends the commonest handshake and close segments here instead
    # of through `segment`: each method takes the steps `segment` takes for its kind of segment
    # (Wireshark's analysis, Zeek's `_zeek` and `_state_machine`, `rfc.advance`) with the
    # branches that cannot apply left out. The caller has checked the conditions in each
    # docstring, and that the checksum is good, no sweep is due, no packet rows are kept, no
    # `on_packet` hook is set and (for a known connection) no Zeek timer can have expired it.
    # tests/test_analyze_fastpath.py compares both ways, record by record and packet by packet.

    def open_syn(
        self, now: float, version: int, key: Key, seq: int, ack: int, flags: int, window: int,
    ) -> None:
        """A SYN without ACK, FIN, RST or payload on a 4-tuple with no live connection."""
        side = self._new_connection(key, now, version, seq, flags)
        conn = side.conn
        peer = side.peer
        conn.last_seen = now
        ws_fwd = side.ws
        ws_stream = conn.ws
        if ws_fwd.base_seq >= 0 and seq != ws_fwd.base_seq:
            # `flags.starts_new_stream`: a stream continued from a finished connection of the
            # same 4-tuple, and a new initial sequence number ("port numbers reused").
            conn.ws = ws_stream = WsStream()
            side.ws = ws_fwd = ws_stream.a
            peer.ws = ws_stream.b
        _counted(conn, side, peer, now, seq, ack, flags, window, 0, 0)
        # Zeek: the originator's first packet, a SYN (not partial); both endpoints inactive, the
        # connection's history empty (a plain SYN does not turn the connection around).
        side.start_seq = side.ack_seq = seq
        side.last_seq = (seq + 1) & _M
        conn.hist_seen = Z_HIST_SYN
        conn.history.append("S")
        side.h_syn = 0
        if window == 0:
            conn.scaled(side, "W", "win0")
        conn.last_time = now
        # TCP_ENDPOINT_INACTIVE -> SYN_SENT, and Zeek's connection attempt timer.
        side.zs = Z_SYN_SENT
        conn.attempt_at = conn.hard_deadline = now + Z_ATTEMPT_DELAY
        conn.first_seen = 1
        # RFC 9293 §3.5 figure 6: the sender goes to SYN-SENT, the receiver must be listening.
        side.iss = seq
        side.syns = 1
        side.st = rfc.SYN_SENT
        peer.st = rfc.LISTEN

    def syn_ack_reply(
        self, conn: Connection, side: Side, peer: Side, now: float, seq: int, ack: int,
        flags: int, window: int,
    ) -> None:
        """A SYN-ACK without FIN, RST or payload from the inactive responder of a connection
        whose originator is in Zeek's SYN_SENT (only the originator seen so far)."""
        conn.last_seen = now
        _counted(conn, side, peer, now, seq, ack, flags, window, 0, 0)
        # Zeek: the responder's first packet, a SYN (not partial: `is_partial` stays false).
        side.start_seq = side.ack_seq = seq
        side.last_seq = (seq + 1) & _M
        if conn.check_history(Z_HIST_SYN, "H", False) and side.h_syn:
            conn.add_history("H", False)
        side.h_syn = 0
        if window == 0:
            conn.scaled(side, "W", "win0")
        if not (side.did_close and peer.did_close):
            conn.last_time = now
        rel_ack = _acknowledged(peer, ack)
        # Both endpoints become ESTABLISHED; leaving the handshake states lengthens Zeek's
        # inactivity timeout (`Side.set_zstate`).
        conn.inactivity = Z_INACTIVITY_TIMEOUT
        peer.zprev = Z_SYN_SENT
        peer.zs = Z_ESTABLISHED
        side.zprev = Z_INACTIVE
        side.zs = Z_ESTABLISHED
        if peer.fin_cnt and rel_ack >= peer.fin_rel:
            rel_ack = peer.fin_rel - 1
        if rel_ack > peer.r_trim:
            ack_received(conn, peer, rel_ack)
        conn.first_seen = 3
        rfc.advance(side, peer, flags, seq, ack, 0, now)

    def fin_established(
        self, conn: Connection, side: Side, peer: Side, now: float, seq: int, ack: int,
        flags: int, window: int, plen: int,
    ) -> None:
        """A FIN without SYN or RST from an endpoint in Zeek's ESTABLISHED whose peer is
        ESTABLISHED or CLOSED, both endpoints seen (`first_seen == 3`)."""
        conn.last_seen = now
        _counted(conn, side, peer, now, seq, ack, flags, window, plen, plen)
        is_orig = side.is_orig
        end = (seq + plen + 1) & _M
        rel_seq = ((seq - side.start_seq + _HALF) & _M) - _HALF
        # `check_history`, inline: 'F' the first time, again for a FIN at a new sequence number.
        mask = Z_HIST_FIN if is_orig else Z_HIST_FIN << 16
        if not conn.hist_seen & mask:
            conn.hist_seen |= mask
            conn.history.append("F" if is_orig else "f")
        elif rel_seq + plen != side.h_fin:
            conn.history.append("F" if is_orig else "f")
        side.h_fin = rel_seq + plen
        if window == 0 and peer.zs != Z_CLOSED:
            conn.scaled(side, "W", "win0")
        if not (side.did_close and peer.did_close):
            conn.last_time = now
        side.fin_cnt += 1
        side.fin_rel = rel_seq + plen + 1
        rel_ack = -1
        ackf = flags & _ACK
        if ackf:
            rel_ack = _acknowledged(peer, ack)
        # update_last_seq (a FIN right after the SYN moves it even backwards)
        if (
            side.last_seq == (side.start_seq + 1) & _M
            or ((end - side.last_seq + _HALF) & _M) - _HALF > 0
        ):
            side.last_seq = end
        elif plen:
            conn.scaled(side, "T", "rxmt")
        # TCP_ENDPOINT_ESTABLISHED -> CLOSED (no change of Zeek's inactivity timeout)
        side.zprev = Z_ESTABLISHED
        side.zs = Z_CLOSED
        if ackf:
            if peer.fin_cnt and rel_ack >= peer.fin_rel:
                rel_ack = peer.fin_rel - 1
            if rel_ack > peer.r_trim:
                ack_received(conn, peer, rel_ack)
        if plen and rel_seq >= 0:
            data_sent(side, rel_seq, plen)
        self._connection_closed(conn, side, peer)
        rfc.advance(side, peer, flags, seq, ack, plen, now)

    def rst_established(
        self, conn: Connection, side: Side, peer: Side, now: float, seq: int, ack: int,
        flags: int, window: int, plen: int,
    ) -> None:
        """A RST without SYN or FIN from an endpoint in Zeek's ESTABLISHED whose peer is
        ESTABLISHED or CLOSED, both endpoints seen (`first_seen == 3`)."""
        conn.last_seen = now
        # A RST occupies no sequence space; its payload (if any) is not data (RFC 9293 §3.5.3).
        _counted(conn, side, peer, now, seq, ack, flags, window, 0, plen)
        is_orig = side.is_orig
        rel_seq = ((seq - side.start_seq + _HALF) & _M) - _HALF
        if conn.check_history(Z_HIST_RST, "R", is_orig) and rel_seq != side.h_rst:
            conn.add_history("R", is_orig)
        side.h_rst = rel_seq
        if not (side.did_close and peer.did_close):
            conn.last_time = now
        side.rst_cnt += 1
        # update_last_seq: a RST far off the last sequence number is ignored.
        delta_last = ((seq - side.last_seq + _HALF) & _M) - _HALF
        if delta_last > Z_TOO_LARGE_SEQ_DELTA or delta_last < -Z_TOO_LARGE_SEQ_DELTA:
            pass
        elif delta_last > 0:
            side.last_seq = seq
        elif plen:
            conn.scaled(side, "T", "rxmt")
        # TCP_ENDPOINT_ESTABLISHED -> RESET (no change of Zeek's inactivity timeout)
        side.zprev = Z_ESTABLISHED
        side.zs = Z_RESET
        if flags & _ACK:
            # The acknowledgment of a RST moves no `ack_seq`, but the peer's reassembler learns.
            rel_ack = ((ack - peer.start_seq + _HALF) & _M) - _HALF
            if rel_ack < 0:
                rel_ack = 0
            if peer.fin_cnt and rel_ack >= peer.fin_rel:
                rel_ack = peer.fin_rel - 1
            if rel_ack > peer.r_trim:
                ack_received(conn, peer, rel_ack)
        self._connection_closed(conn, side, peer)
        rfc.advance(side, peer, flags, seq, ack, plen, now)

    # ------------------------------------------------------------------------------------------

    def _new_connection(self, key: Key, now: float, version: int, seq: int, flags: int) -> Side:
        self.count += 1
        conn = Connection(self.count, now, version)
        src, dst, sport, dport = key
        rkey = (dst, src, dport, sport)
        a, b = conn.orig, conn.resp
        a.key = key
        b.key = rkey
        self.table[key] = a
        self.table[rkey] = b
        pending = -1
        recent = self._ws_recent.pop(key, None)
        if recent is not None:
            conn.ws, a.ws, b.ws, pending, _ = recent
        else:
            recent = self._ws_recent.pop(rkey, None)
            if recent is not None:
                conn.ws, b.ws, a.ws, _, pending = recent
        if recent is not None:
            if conn.ws.first_rtt:
                conn.rtt_known_ws = conn.ws
            if seq == pending and flags & (_SYN | _ACK) == _SYN:
                # The same SYN again (same ISN) from an endpoint whose SYN was unanswered when
                # Zeek's timers ended the previous record: a retransmission (RFC 9293 §3.8.1),
                # not a new connection request.
                conn.resent_syn_by = a
        if self.keep_packets and (not self.keep_connections or self.count <= self.keep_connections):
            conn.packets = []
        # Zeek's WantConnection: a first packet that is not a plain SYN may be turned around when
        # its source port looks like a server's (IPBasedAnalyzer / TCPAnalyzer::WantConnection).
        if not flags & _SYN or flags & _ACK:
            likely = Z_LIKELY_SERVER_PORTS
            # Both plausible: turn around only a non-SYN going to the higher port.
            if sport in likely and (
                dport not in likely or (not flags & _SYN and sport < dport)
            ):
                conn.flip()
        return a

    def _is_reuse(self, conn: Connection, side: Side, seq: int, flags: int) -> bool:
        """Zeek's TCPSessionAdapter::IsReuse for a SYN on a known 4-tuple.

        Deliberate difference: a SYN from the responder while the originator's SYN is unanswered
        is a simultaneous open (RFC 9293 §3.5 figure 8), not a new connection.
        """
        o, r = conn.orig, conn.resp
        if side is r and not flags & _ACK and o.zs == Z_SYN_SENT and r.zs == Z_INACTIVE:
            return False
        conn_orig = o
        if flags & _ACK:
            if o.zs != Z_INACTIVE:
                return False
            conn_orig = r
        if not (o.did_close or r.did_close):
            if seq == conn_orig.start_seq:
                return False
            if (
                not flags & _ACK and conn_orig.zs == Z_SYN_ACK_SENT and r.zs == Z_INACTIVE
                and seq == r.start_seq
            ):
                return False
        return True

    def _finish(self, conn: Connection, key: Key | None = None) -> None:
        """End a connection: forget it and hand it to the sink."""
        if not conn.live:
            return
        conn.live = False
        table = self.table
        o, r = conn.orig, conn.resp
        for side in (o, r):
            if table.get(side.key) is side:
                del table[side.key]
        # Wireshark's stream outlives Zeek's record: a later packet of the same 4-tuple that does
        # not start a new stream continues its analysis (kept for the most recent connections).
        recent = self._ws_recent
        recent[o.key] = (
            conn.ws, o.ws, r.ws, o.iss if o.st is _SYN_SENT else -1,
            r.iss if r.st is _SYN_SENT else -1,
        )
        if len(recent) > RECENT_STREAMS:
            recent.popitem(last=False)
        self.sink(conn)
        # Break the connection's reference cycles so that it is freed at once, not by the
        # cyclic garbage collector (memory stays bounded by the live connections).
        o.conn = r.conn = _FINISHED
        o.peer = r.peer = _FINISHED_SIDE

    def sweep(self, now: float) -> None:
        """Finish every connection Zeek's timers have removed by `now`."""
        self.next_sweep = now + 1.0
        # `expired` can only fire (or disarm a timer) once a timer is due or the connection has
        # been idle longer than Zeek's linger time: test that first, inline.
        linger = Z_CONNECTION_LINGER
        done = [
            c for s in self.table.values()
            if s.is_orig and (
                now >= (c := s.conn).hard_deadline or now >= c.partial_close_at
                or now - c.last_time > linger
            ) and c.expired(now)
        ]
        for conn in done:
            self._finish(conn)

    def finish_all(self) -> None:
        """End of capture: finish the connections still open, oldest first."""
        conns = sorted({id(s.conn): s.conn for s in self.table.values()}.values(),
                       key=lambda c: c.number)
        for conn in conns:
            self._finish(conn)

    # Zeek's per-packet processing (TCPAnalyzer::DeliverPacket) -------------------------------
    # The direct paths above repeat the steps of `_zeek` and `_state_machine` that apply to
    # their kind of segment: a change here needs the same change there.

    def _zeek(
        self, conn: Connection, ep: Side, peer: Side, flags: int, seq: int, ack: int, plen: int,
        window: int, now: float,
    ) -> None:
        is_orig = ep.is_orig
        syn = flags & _SYN
        fin = flags & _FIN
        rst = flags & _RST
        ackf = flags & _ACK
        # SetPartialStatus
        if is_orig:
            if not conn.first_seen & 1:
                conn.is_partial = not syn or bool(ackf)
        elif not conn.first_seen & 2 and not conn.is_partial:
            conn.is_partial = not syn
        seg_len = plen + (1 if syn else 0) + (1 if fin else 0)
        if rst:
            seg_len -= plen
        end = (seq + seg_len) & _M
        # init_endpoint
        zs = ep.zs
        if zs == Z_INACTIVE:
            if syn:
                ep.start_seq = ep.ack_seq = seq
                ep.last_seq = end
            else:
                ep.start_seq = ep.ack_seq = (seq - 1) & _M
                ep.last_seq = seq
        elif (
            (zs in (Z_SYN_SENT, Z_SYN_ACK_SENT) and syn and seq != ep.start_seq)
            or (zs in (Z_ESTABLISHED, Z_PARTIAL) and syn)
            or (zs == Z_RESET and syn and ep.zprev == Z_INACTIVE)
        ):
            ep.start_seq = ep.ack_seq = seq
            ep.last_seq = end
        rel_seq = ((seq - ep.start_seq + _HALF) & _M) - _HALF
        # update_history
        nbits = (1 if syn else 0) + (1 if fin else 0) + (1 if rst else 0)
        if nbits > 1:
            if fin and rst:
                conn.check_history(Z_HIST_FIN_RST, "I", is_orig)
            else:
                conn.check_history(Z_HIST_MULTI_FLAG, "Q", is_orig)
        elif nbits == 1:
            if syn:
                code = "H" if ackf else "S"
                if conn.check_history(Z_HIST_SYN, code, is_orig) and rel_seq != ep.h_syn:
                    conn.add_history(code, is_orig)
                ep.h_syn = rel_seq
            elif fin:
                if conn.check_history(Z_HIST_FIN, "F", is_orig) and rel_seq + plen != ep.h_fin:
                    conn.add_history("F", is_orig)
                ep.h_fin = rel_seq + plen
            else:
                if conn.check_history(Z_HIST_RST, "R", is_orig) and rel_seq != ep.h_rst:
                    conn.add_history("R", is_orig)
                ep.h_rst = rel_seq
        elif plen:
            if not conn.hist_seen & (Z_HIST_DATA if is_orig else Z_HIST_DATA << 16):
                conn.check_history(Z_HIST_DATA, "D", is_orig)
        elif ackf and not conn.hist_seen & (Z_HIST_ACK if is_orig else Z_HIST_ACK << 16):
            conn.check_history(Z_HIST_ACK, "A", is_orig)
        # update_window: zero windows
        if window == 0 and not rst and peer.zs != Z_CLOSED and ep.zs != Z_RESET:
            conn.scaled(ep, "W", "win0")
        o, r = conn.orig, conn.resp
        if not (o.did_close and r.did_close):
            conn.last_time = now
        if fin:
            ep.fin_cnt += 1
            ep.fin_rel = rel_seq + seg_len
        if rst:
            ep.rst_cnt += 1
        rel_ack = -1
        if ackf:
            if peer.zs == Z_INACTIVE:
                peer.start_seq = peer.ack_seq = peer.last_seq = (ack - 1) & _M
                rel_ack = 1
            else:
                rel_ack = ((ack - peer.start_seq + _HALF) & _M) - _HALF
                if rel_ack < 0:
                    rel_ack = 0
                elif not rst:
                    delta = ((ack - peer.ack_seq + _HALF) & _M) - _HALF
                    if not (ack == 0 and delta > Z_TOO_LARGE_SEQ_DELTA) and delta > 0:
                        peer.ack_seq = ack
        # update_last_seq
        delta_last = ((end - ep.last_seq + _HALF) & _M) - _HALF
        if (syn or rst) and (delta_last > Z_TOO_LARGE_SEQ_DELTA
                             or delta_last < -Z_TOO_LARGE_SEQ_DELTA):
            pass
        elif fin and ep.last_seq == (ep.start_seq + 1) & _M:
            ep.last_seq = end
        elif ep.zs == Z_RESET:
            pass
        elif delta_last > 0:
            ep.last_seq = end
        elif plen > 0:
            conn.scaled(ep, "T", "rxmt")
        # UpdateStateMachine
        do_close = self._state_machine(conn, ep, peer, flags, seq, ack, plen, delta_last, now)
        if ackf:
            # The peer's reassembler learns what has been acknowledged (content gaps).
            fin_rel = peer.fin_rel
            if peer.fin_cnt and rel_ack >= fin_rel:
                rel_ack = fin_rel - 1
            if rel_ack > peer.r_trim:
                ack_received(conn, peer, rel_ack)
        conn.first_seen |= 1 if ep.is_orig else 2  # CheckPIA_FirstPacket
        if plen and not rst and rel_seq >= 0:
            data_sent(ep, rel_seq + 1 if syn else rel_seq, plen)
        if do_close:
            self._connection_closed(conn, ep, peer)

    def _state_machine(
        self, conn: Connection, ep: Side, peer: Side, flags: int, seq: int, ack: int, plen: int,
        delta_last: int, now: float,
    ) -> bool:
        is_orig = ep.is_orig
        zs = ep.zs
        do_close = False
        if zs == Z_INACTIVE:
            if flags & _SYN:
                if is_orig:
                    ep.set_zstate(Z_SYN_ACK_SENT if flags & _ACK else Z_SYN_SENT)
                    if conn.attempt_at == _INF:
                        conn.attempt_at = now + Z_ATTEMPT_DELAY
                        conn.hard_deadline = min(conn.hard_deadline, conn.attempt_at)
                else:
                    if not flags & _ACK and peer.zs == Z_SYN_ACK_SENT and seq == ep.start_seq:
                        # A SYN and SYN-ACK seen in reverse order: turn the roles around.
                        conn.flip()
                        conn.first_seen |= 1
                        peer.set_zstate(Z_ESTABLISHED)
                    if peer.zs == Z_SYN_SENT:
                        peer.set_zstate(Z_ESTABLISHED)
                    ep.set_zstate(Z_ESTABLISHED)
            if flags & _FIN:
                ep.set_zstate(Z_CLOSED)
                do_close = True
            if flags & _RST:
                ep.set_zstate(Z_RESET)
                do_close = True
            if ep.zs == Z_INACTIVE:
                if not is_orig and plen == 0 and conn.orig.zs == Z_SYN_SENT:
                    pass  # an ACK of the SYN before the SYN-ACK
                elif flags & _ACK and peer.zs == Z_ESTABLISHED:
                    ep.set_zstate(Z_ESTABLISHED)
                    conn.is_partial = False
                    conn.first_seen |= 1 if is_orig else 2
                else:
                    ep.set_zstate(Z_PARTIAL)
        elif zs in (Z_SYN_SENT, Z_SYN_ACK_SENT):
            if flags & _FIN:
                ep.set_zstate(Z_CLOSED)
                do_close = True
            if flags & _RST:
                ep.set_zstate(Z_RESET)
                do_close = True
        elif zs in (Z_ESTABLISHED, Z_PARTIAL):
            if (
                flags & _SYN and zs == Z_PARTIAL and peer.zs == Z_INACTIVE
                and not flags & _ACK
            ):
                ep.set_zstate(Z_SYN_SENT)
            if flags & _FIN and not flags & _RST:
                ep.set_zstate(Z_CLOSED)
                if peer.zs == Z_RESET and peer.zprev == Z_CLOSED:
                    peer.set_zstate(Z_CLOSED)
                do_close = True
            if flags & _RST:
                ep.set_zstate(Z_RESET)
                do_close = True
        elif zs == Z_CLOSED and flags & _RST and peer.zs != Z_CLOSED:
            ep.set_zstate(Z_RESET)
            if not ep.did_close:
                do_close = True
            if conn.reset_at == _INF:
                conn.reset_at = now + Z_RESET_DELAY
                conn.hard_deadline = min(conn.hard_deadline, conn.reset_at)
        return do_close

    def _connection_closed(self, conn: Connection, ep: Side, peer: Side) -> None:
        if ep.did_close:
            return
        ep.did_close = True
        if ep.zs == Z_RESET or peer.did_close or peer.zs == Z_INACTIVE:
            # Close complete: Zeek cancels its other timers and deletes the connection later.
            conn.attempt_at = conn.reset_at = conn.partial_close_at = _INF
            conn.expire_origins = []
            conn.delete_at = conn.last_time + Z_CLOSE_DELAY
            conn.hard_deadline = conn.delete_at
        elif ep.zprev == Z_INACTIVE:
            conn.partial_close_at = conn.last_time + Z_PARTIAL_CLOSE_DELAY
        else:
            conn.expire_origins.append(conn.last_time + Z_SESSION_TIMER)


# Zeek's TCP_Reassembler, reduced to what shows in `history`: content gaps ('G'), i.e. data the
# peer acknowledged that was never seen, in a cleanly established or closing connection.


def _clean(side: Side) -> bool:
    return side.zs == Z_ESTABLISHED or (side.zs == Z_CLOSED and side.zprev == Z_ESTABLISHED)


def _gap(conn: Connection, side: Side) -> None:
    if _clean(side) and _clean(side.peer):
        conn.scaled(side, "G", "gap")


def ack_received(conn: Connection, side: Side, rel_ack: int) -> None:
    """TCP_Reassembler::AckReceived: `side`'s data up to `rel_ack` was acknowledged."""
    if side.fin_cnt and rel_ack >= side.fin_rel:
        rel_ack = side.fin_rel - 1
        if rel_ack <= side.r_trim:
            return
    last = side.r_last
    if last < rel_ack and not (rel_ack <= 2 and conn.is_partial):
        blocks = side.r_blocks
        if blocks:
            for b_seq, b_upper in blocks:
                if b_upper <= last:
                    continue
                if b_seq >= rel_ack:
                    break
                if b_seq > last:
                    _gap(conn, side)
                last = max(last, b_upper)
        if rel_ack > last:
            _gap(conn, side)
            last = rel_ack
        side.r_last = last
    blocks = side.r_blocks
    if blocks:
        kept = [b for b in blocks if b[1] > rel_ack]
        side.r_blocks = kept or None
    side.r_trim = rel_ack


def data_sent(side: Side, seq: int, plen: int) -> None:
    """TCP_Reassembler::DataSent: `plen` bytes at relative `seq` seen from `side`."""
    upper = seq + plen
    acked = ((side.ack_seq - side.start_seq + _HALF) & _M) - _HALF
    if seq < acked:
        if upper <= acked:
            return
        seq = acked
    trim = side.r_trim
    if upper <= trim:
        return
    if seq < trim:
        seq = trim
    last = side.r_last
    if seq <= last:
        if upper > last:
            last = upper
            blocks = side.r_blocks
            if blocks:
                while blocks and blocks[0][0] <= last:
                    last = max(last, blocks.pop(0)[1])
                side.r_blocks = blocks or None
            side.r_last = last
        return
    blocks = side.r_blocks
    if blocks is None:
        side.r_blocks = [[seq, upper]]
    else:
        blocks.append([seq, upper])
        blocks.sort()


_FINISHED = Connection(0, 0.0, 0)
_FINISHED_SIDE = _FINISHED.orig


def _acknowledged(peer: Side, ack: int) -> int:
    """Zeek's view of an ACK for `peer`'s data: the acknowledgment relative to `peer`'s initial
    sequence number (0 if before it), `peer.ack_seq` moved up to it unless the jump is one of
    the implausible ones Zeek ignores (an ACK of 0 far ahead)."""
    rel_ack = ((ack - peer.start_seq + _HALF) & _M) - _HALF
    if rel_ack < 0:
        return 0
    delta = ((ack - peer.ack_seq + _HALF) & _M) - _HALF
    if not (ack == 0 and delta > Z_TOO_LARGE_SEQ_DELTA) and delta > 0:
        peer.ack_seq = ack
    return rel_ack


def _counted(
    conn: Connection, side: Side, peer: Side, now: float, seq: int, ack: int, flags: int,
    window: int, seglen: int, plen: int,
) -> None:
    """What each direct path of `Tracker` does first for its segment: Wireshark's analysis flags
    (over `seglen` bytes of sequence space) and the packet and payload counts."""
    bits = wsflags.analyze(conn.ws, side.ws, peer.ws, now, seq, ack, flags, window, seglen)
    side.pkts += 1
    if plen:
        side.bytes += plen
    if bits:
        count_bits(conn, bits)
    side.zpkts += 1


def count_bits(conn: Connection, bits: int) -> None:
    counts = conn.counts
    if counts is None:
        counts = conn.counts = [0] * 13
    b = 0
    while bits:
        if bits & 1:
            counts[b] += 1
        bits >>= 1
        b += 1
