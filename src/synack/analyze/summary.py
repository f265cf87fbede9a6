"""The per-connection record: what the observer reports for one finished connection."""

from __future__ import annotations

import socket
from dataclasses import dataclass, fields
from typing import Any

from synack.analyze import flags as wsflags
from synack.analyze import rfc
from synack.analyze import zeek as z
from synack.analyze.tracker import Connection, Side

# Analysis counters reported per connection: (record field, Wireshark field).
COUNTERS: tuple[tuple[str, str], ...] = (
    ("retransmissions", "retransmission"),
    ("fast_retransmissions", "fast_retransmission"),
    ("spurious_retransmissions", "spurious_retransmission"),
    ("out_of_order", "out_of_order"),
    ("duplicate_acks", "duplicate_ack"),
    ("lost_segments", "lost_segment"),
    ("acked_unseen", "ack_lost_segment"),
    ("zero_windows", "zero_window"),
    ("zero_window_probes", "zero_window_probe"),
    ("window_updates", "window_update"),
    ("keep_alives", "keep_alive"),
)


@dataclass(slots=True)
class ConnectionRecord:
    """One connection as reported (`--json` writes these fields, in this order)."""

    uid: str
    ts: float
    orig_h: str
    orig_p: int
    resp_h: str
    resp_p: int
    ip_version: int
    duration: float | None
    orig_pkts: int
    resp_pkts: int
    orig_bytes: int | None
    resp_bytes: int | None
    conn_state: str
    history: str
    orig_payload_bytes: int
    resp_payload_bytes: int
    last_seen: float
    direction_inferred: bool
    start_missing: bool
    handshake: str
    syn_retransmissions: int
    handshake_rtt: float | None
    close: str
    reset_by: str | None
    reset_state: str | None
    orig_state: str
    resp_state: str
    retransmissions: int
    fast_retransmissions: int
    spurious_retransmissions: int
    out_of_order: int
    duplicate_acks: int
    lost_segments: int
    acked_unseen: int
    zero_windows: int
    zero_window_probes: int
    window_updates: int
    keep_alives: int
    bad_checksums: int

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in RECORD_FIELDS}


# The record's field names in order (from the dataclass, so that they hold compiled too).
RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ConnectionRecord))


_ADDR_TEXT: dict[bytes, str] = {}  # packed address -> text, for the addresses seen recently
_ADDR_CACHE_SIZE = 65536


def _addr(raw: bytes) -> str:
    text = _ADDR_TEXT.get(raw)
    if text is None:
        text = socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)
        if len(_ADDR_TEXT) >= _ADDR_CACHE_SIZE:
            _ADDR_TEXT.clear()
        _ADDR_TEXT[raw] = text
    return text


# Counter field -> the bit positions whose counts it sums.
_COUNTER_BITS: tuple[tuple[str, tuple[int, ...]], ...] = tuple(
    (name, tuple(b for b in range(13) if wsflags.FIELD_BITS[field] >> b & 1))
    for name, field in COUNTERS
)
_ZEROS = (0,) * len(COUNTERS)


def _state_name(s: Side) -> str:
    st = s.st
    if st is None:
        return "UNKNOWN"
    name: str = st._value_  # `State.value` without the enum property's lookup
    return name


def handshake_outcome(conn: Connection) -> str:
    o, r = conn.orig, conn.resp
    if conn.simultaneous_open:
        return "simultaneous_open"
    syn_by = o if o.syns else (r if r.syns else None)
    if syn_by is None:
        return "not_captured"
    other = syn_by.peer
    if not other.synacks and syn_by.pkts > syn_by.syns + syn_by.rsts:
        return "not_captured"  # the SYN's sender went on as synchronized: its SYN-ACK was missed
    if not other.synacks:
        if conn.rst_by is other and conn.rst_sender_state in (None, rfc.LISTEN, rfc.CLOSED):
            return "refused"
        if conn.rst_by is syn_by:
            return "aborted"
        if other.pkts:
            return "not_captured"
        return "unanswered"
    if conn.handshake_ack == "ack":
        return "completed"
    if conn.handshake_ack == "data":
        return "completed_by_data"
    if conn.rst_by is not None:
        return "reset"
    return "incomplete"


def handshake_rtt(conn: Connection, handshake: str) -> float | None:
    """The handshake RTT if this record saw the handshake it is measured from, else None.

    The value is tshark's tcp.analysis.initial_rtt (from the most recent SYN to the first ACK
    without SYN after it), which tshark keeps per stream across the 4-tuple's incarnations. A
    record reports it only when it holds the SYN, the SYN-ACK and the ACK (or data) completing
    the handshake (RFC 9293 §3.5 figure 6), and the stream measured it within this record.
    """
    ws = conn.ws
    rtt = ws.first_rtt
    if not rtt or ws is conn.rtt_known_ws or conn.start_missing:
        return None
    if handshake == "completed" or handshake == "completed_by_data":
        return rtt
    if handshake == "simultaneous_open" and conn.orig.synacks and conn.resp.synacks:
        return rtt  # both SYN-ACKs seen (RFC 9293 §3.5 figure 8)
    return None


def close_outcome(conn: Connection) -> str:
    o, r = conn.orig, conn.resp
    if conn.rst_by is not None:
        return "reset_by_orig" if conn.rst_by is o else "reset_by_resp"
    fins = (o.fin_seq >= 0) + (r.fin_seq >= 0)
    if fins == 2:
        if conn.simultaneous_close:
            return "simultaneous"
        if conn.fin_piggybacked:
            return "three_segment"
        return "four_way"
    if fins == 1:
        closer = conn.first_fin_by
        other = closer.peer if closer is not None else r
        if other.st is rfc.CLOSE_WAIT and not other.data_after_peer_fin:
            return "close_wait"
        return "half_closed"
    if o.st is rfc.ESTABLISHED or r.st is rfc.ESTABLISHED:
        return "open"
    return "none"


def make_record(conn: Connection) -> ConnectionRecord:
    """The record of a finished connection; states are those after its last packet."""
    o, r = conn.orig, conn.resp
    history = conn.history_str
    duration = conn.last_time - conn.start
    osize, rsize = o.zeek_size(), r.zeek_size()
    state = z.conn_state(o.zs, r.zs, osize, rsize, history)
    counts = conn.counts
    if counts is None:
        flag_counts: tuple[int, ...] = _ZEROS
    else:
        flag_counts = tuple(sum(counts[b] for b in bits) for _name, bits in _COUNTER_BITS)
    rx, fast, spurious, ooo, dup, lost, unseen, zwin, zprobe, wupd, alive = flag_counts
    src, dst, sport, dport = o.key
    rst_by = conn.rst_by
    rst_state: str | None = None
    if rst_by is not None and conn.rst_receiver_state is not None:
        rst_state = conn.rst_receiver_state.value
    syn_by = o if o.syns else r
    syns = syn_by.syns
    syn_retransmissions = syns - 1 if syns else 0
    if conn.resent_syn_by is not None and conn.resent_syn_by is syn_by:
        # The record opens with a repeat of the previous record's unanswered SYN.
        syn_retransmissions += 1
    handshake = handshake_outcome(conn)
    # `handshake_rtt`, with its commonest case inline: a completed handshake measured here.
    ws = conn.ws
    rtt: float | None = ws.first_rtt or None
    if rtt is not None and (
        handshake != "completed" or ws is conn.rtt_known_ws or conn.start_missing
    ):
        rtt = handshake_rtt(conn, handshake)
    positive = duration > 0
    # Positional, in field order (a record per connection: keyword passing costs too much).
    return ConnectionRecord(
        f"C{conn.number}", conn.start, _addr(src), sport, _addr(dst), dport, conn.version,
        duration if positive else None, o.zpkts, r.zpkts, osize if positive else None,
        rsize if positive else None, state, history, o.bytes, r.bytes, conn.last_seen,
        conn.flipped or conn.start_missing, conn.start_missing, handshake, syn_retransmissions,
        rtt, close_outcome(conn),
        None if rst_by is None else ("orig" if rst_by is o else "resp"), rst_state,
        _state_name(o), _state_name(r), rx, fast, spurious, ooo, dup, lost, unseen, zwin, zprobe,
        wupd, alive, o.chk_cnt + r.chk_cnt,
    )
