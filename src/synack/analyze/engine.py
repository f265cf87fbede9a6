"""Run the tracker over a capture: decode, optionally verify checksums, stream records out."""

from __future__ import annotations

import gc
import os
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final

from synack.analyze import flags as wsflags
from synack.analyze import rfc, zeek
from synack.analyze.summary import ConnectionRecord, make_record
from synack.analyze.tracker import (
    Connection,
    PacketHook,
    Side,
    Tracker,
    ack_received,
    count_bits,
    data_sent,
)
from synack.analyze.zeek import PARTIAL_CLOSE_DELAY, TOO_LARGE_SEQ_DELTA
from synack.capture.packet import CapturedPacket, Record, Truncation
from synack.capture.reader import open_capture
from synack.capture.share import ShareSkip, share_table
from synack.tcp.state import State
from synack.wire.errors import ParseError
from synack.wire.fastpath import decode_tcp


@dataclass(slots=True)
class CaptureStats:
    """What was read from a capture besides the connections."""

    packets: int = 0
    tcp_packets: int = 0
    non_tcp: int = 0
    malformed: int = 0
    bad_checksums: int = 0
    connections: int = 0
    first_time: float | None = None
    last_time: float | None = None
    first_record: int = 0  # 1-based record numbers of the first and last TCP segments
    last_record: int = 0
    truncated: Truncation | None = None
    errors: list[str] = field(default_factory=list)


def tcp_checksum_ok(data: bytes, tcp_off: int, tcp_len: int, src: bytes, dst: bytes) -> bool:
    """RFC 9293 §3.1 checksum over the pseudo-header and the segment (True if not all captured).

    The one's complement sum of 16-bit words is congruent to the big-endian integer of the bytes
    modulo 0xFFFF, which lets the whole sum run at C speed.
    """
    end = tcp_off + tcp_len
    if end > len(data):
        return True
    seg = data[tcp_off:end]
    if tcp_len & 1:
        seg += b"\0"
    total = (
        int.from_bytes(src, "big") + int.from_bytes(dst, "big") + 6 + tcp_len
        + int.from_bytes(seg, "big")
    )
    return total % 0xFFFF == 0


def ipv4_checksum_ok(data: bytes, start: int, end: int) -> bool:
    """RFC 791 header checksum (True when the header is not all captured)."""
    if start < 0 or end > len(data):
        return True
    return int.from_bytes(data[start:end], "big") % 0xFFFF == 0


# Ethernet + IPv4 (no options) + TCP through the window field; Ethernet + IPv6 + TCP likewise.
_ETH_V4_TCP = struct.Struct("!12xHBxH2xHxB2x4s4sHHIIHH")
_ETH_V6_TCP = struct.Struct("!12xH4xHB1x16s16sHHIIHH")
# The last byte of each address and both ports of the same frames (`flow_hash`'s inputs).
_PRE_V4 = struct.Struct("!29xB3xBHH")
_PRE_V6 = struct.Struct("!37xB15xBHH")


def _sweep_ns(next_sweep: float) -> int:
    """A capture time in ns safely below `next_sweep` (float rounding is far below 1 ms)."""
    return int(next_sweep * 1e9) - 1_000_000

ProgressHook = Callable[[int], None]

_M: Final = 0xFFFFFFFF
_HALF: Final = 1 << 31
_PARTIAL_CLOSE_DELAY: Final = PARTIAL_CLOSE_DELAY
_TOO_LARGE_SEQ_DELTA: Final = TOO_LARGE_SEQ_DELTA
_Z_INACTIVE: Final = zeek.INACTIVE
_Z_CLOSED: Final = zeek.CLOSED
_Z_RESET: Final = zeek.RESET
_Z_ESTABLISHED: Final = zeek.ESTABLISHED
_Z_SYN_SENT: Final = zeek.SYN_SENT
_ACKED_UNSEEN: Final = wsflags.ACKED_UNSEEN
_EST: Final = State.ESTABLISHED


def run(
    records: Iterable[Record], tracker: Tracker, stats: CaptureStats, *,
    verify_checksums: bool = False, progress: ProgressHook | None = None,
    share: tuple[int, int] | None = None, skip: ShareSkip | None = None,
    progress_every: int = 0x10000,
) -> None:
    """Feed capture records to `tracker`, counting what is not TCP in `stats`.

    `share=(k, n)`: apply only the segments of the flows whose `flow_share` is k of n (one worker
    of a parallel analysis); the other segments still advance the tracker's clock, so that its
    sweeps of expired connections run at the same packets as when it sees every flow. (A
    segment before the next sweep is due cannot change when sweeps run, so another worker's
    common frame is then skipped undecoded.) `stats` then counts only the records of share k:
    Ethernet + IPv4/IPv6 + TCP header frames by the flow hash of the bytes where the addresses
    and ports are, every other record in share 0.
    `skip`: `records` comes from a pcap or pcapng reader given this `ShareSkip` (and `share` is
    set); it passes over the other shares' common frames before the next sweep itself, and says
    each record's number and share.
    `tracker.index` is set to the 1-based number of the record before each call into the tracker.
    `progress(k)` is called before the first record numbered k or more, for each multiple k of
    `progress_every`, and `progress(n)` once at the end (n records).

    One loop does it all for the common packet: Ethernet + IPv4 or IPv6 + TCP decoded in place,
    and a segment without SYN, FIN or RST of a connection Zeek has seen both ends of applied
    here directly (the steps of `Tracker.segment`'s branch for it, with Wireshark's in-order case
    of `flags.analyze` inline). The opening SYN, the SYN-ACK answering it, and the FIN or RST of
    an established connection take the tracker's direct paths (`Tracker.open_syn`,
    `syn_ack_reply`, `fin_established`, `rst_established`); everything else, and every segment
    when an `on_packet` hook is set, goes through `Tracker.segment`.
    """
    segment = tracker.segment
    table_get = tracker.table.get
    ws_analyze = wsflags.analyze
    rfc_advance = rfc.advance
    fast_enabled = tracker.on_packet is None
    direct_open = not tracker.keep_packets  # a new connection keeps no packet rows
    open_syn = tracker.open_syn
    syn_ack_reply = tracker.syn_ack_reply
    fin_established = tracker.fin_established
    rst_established = tracker.rst_established
    n = 0
    tcp = 0
    non_tcp = 0
    malformed = 0
    bad_ip = 0
    first: float | None = None
    first_n = last_n = 0
    now = last = 0.0
    tnow = tracker.now
    next_sweep = tracker.next_sweep
    sweep_ns = _sweep_ns(next_sweep)
    if skip is not None:
        skip.until_ns = sweep_ns
    eth_v4 = _ETH_V4_TCP.unpack_from
    eth_v6 = _ETH_V6_TCP.unpack_from
    due = progress_every if progress is not None else 1 << 62  # the next progress call
    my_share, shares = share if share is not None else (0, 0)
    share_of = share_table(shares) if shares else b""
    pre_v4 = _PRE_V4.unpack_from
    pre_v6 = _PRE_V6.unpack_from
    counting = True  # this record is in the share `stats` counts
    owner = -1  # its share by the bytes alone (-1: not a common frame)
    # Declared types: plain ints for a compiler (mypyc) to keep unboxed; no cost when interpreted.
    ts_ns: int
    link_type: int
    data: bytes
    version: int
    src: bytes
    dst: bytes
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    win: int
    hl: int
    plen: int
    ip_len: int
    toff: int
    word: int
    frag: int
    proto: int
    bits: int
    for ts_ns, link_type, data, _orig_len, _iface in records:
        if skip is None:
            n += 1
        else:
            n = skip.number
        if n >= due and progress is not None:
            while n >= due:
                progress(due)
                due += progress_every
        if skip is not None:
            owner = skip.owner
            if owner == my_share:
                counting = True
            elif owner >= 0:
                counting = False  # (the reader passed over it if before the next sweep)
            else:
                counting = not my_share
        elif shares:
            # The share of the common frames from the bytes alone (`share.frame_share`, the
            # same bytes the flow hash of a decoded segment reads); other frames are share 0's
            # to count.
            owner = -1
            if link_type == 1 and len(data) >= 38:
                if data[12] == 8 and data[13] == 0 and data[14] == 0x45:
                    a, b, p, q = pre_v4(data)
                    owner = share_of[p ^ q ^ a ^ b]
                elif data[12] == 0x86 and data[13] == 0xDD and data[20] == 6 and len(data) >= 58:
                    a, b, p, q = pre_v6(data)
                    owner = share_of[p ^ q ^ a ^ b]
            if owner == my_share:
                counting = True
            elif owner >= 0:
                if ts_ns < sweep_ns:
                    continue  # another worker's frame; no sweep can be due at its time
                counting = False
            else:
                counting = not my_share
        # The common frames inline (Ethernet + option-less IPv4, or IPv6 without extension
        # headers, + TCP); everything else through the wire layer's fast decoder.
        version = 0
        if link_type == 1 and len(data) >= 54:
            if data[12] == 8 and data[13] == 0 and data[14] == 0x45:
                _et, _vihl, ip_len, frag, proto, src, dst, sport, dport, seq, ack, word, win = (
                    eth_v4(data))
                hl = (word >> 12) << 2
                if proto == 6 and not frag & 0x3FFF and 20 <= hl <= ip_len - 20:
                    version = 4
                    flags = word & 0x1FF
                    plen = ip_len - 20 - hl
                    toff = 34
            elif data[12] == 0x86 and data[13] == 0xDD and data[20] == 6 and len(data) >= 74:
                _et, ip_len, _nh, src, dst, sport, dport, seq, ack, word, win = eth_v6(data)
                hl = (word >> 12) << 2
                if 20 <= hl <= ip_len:
                    version = 6
                    flags = word & 0x1FF
                    plen = ip_len - hl
                    toff = 54
        if not version:
            try:
                t = decode_tcp(link_type, data)
            except ParseError:
                if counting:
                    malformed += 1
                continue
            if t is None:
                if counting:
                    non_tcp += 1
                continue
            version, src, dst, sport, dport, seq, ack, flags, win, hl, plen, ip_len, toff = t
        now = ts_ns / 1e9
        if counting:
            tcp += 1
            last = now
            last_n = n
            if first is None:
                first = now
                first_n = n
        ok = True
        if verify_checksums and version == 4 and not ipv4_checksum_ok(
            data, toff - (ip_len - hl - plen), toff
        ):
            # Zeek discards a packet whose IPv4 header checksum is wrong before TCP sees it.
            if counting:
                bad_ip += 1
            continue
        if shares and (
            owner != my_share if owner >= 0
            else share_of[sport ^ dport ^ src[-1] ^ dst[-1]] != my_share  # flow_hash
        ):
            # Another worker's flow: only the clock moves (as `Tracker.segment` moves it).
            if now > tnow:
                tnow = now
                if now >= next_sweep:
                    tracker.now = tnow
                    tracker.index = n
                    tracker.sweep(now)
                    next_sweep = tracker.next_sweep
                    sweep_ns = _sweep_ns(next_sweep)
                    if skip is not None:
                        skip.until_ns = sweep_ns
            continue
        if verify_checksums:
            ok = tcp_checksum_ok(data, toff, hl + plen, src, dst)
        # Which path: `side` stays None for `Tracker.segment` (a sweep of expired connections
        # is due, the checksum is bad, packets are hooked or kept, a Zeek timer may have
        # expired the connection, or a segment none of the paths below takes).
        side = None
        if now < next_sweep and ok and fast_enabled:
            key = (src, dst, sport, dport)
            side = table_get(key)
            if side is None:
                if flags & 0x17 == 0x02 and not plen and direct_open:
                    # A plain SYN opening a connection.
                    if now > tnow:
                        tnow = now
                    tracker.index = n
                    open_syn(now, version, key, seq, ack, flags, win)
                    continue
            elif (
                (conn := side.conn).packets is not None
                or now >= conn.hard_deadline or now - conn.last_time >= _PARTIAL_CLOSE_DELAY
            ):
                side = None
            elif flags & 0x07:
                peer = side.peer
                if (
                    (flags & 0x07 == 0x01 or flags & 0x07 == 0x04) and conn.first_seen == 3
                    and side.zs == _Z_ESTABLISHED
                    and (peer.zs == _Z_ESTABLISHED or peer.zs == _Z_CLOSED)
                ):
                    # A FIN closing, or a RST aborting, an established connection.
                    if now > tnow:
                        tnow = now
                    if flags & 0x01:
                        fin_established(conn, side, peer, now, seq, ack, flags, win, plen)
                    else:
                        rst_established(conn, side, peer, now, seq, ack, flags, win, plen)
                    continue
                if (
                    flags & 0x17 == 0x12 and not plen and conn.first_seen == 1
                    and not side.is_orig and side.zs == _Z_INACTIVE and peer.zs == _Z_SYN_SENT
                ):
                    # The SYN-ACK answering the originator's SYN.
                    if now > tnow:
                        tnow = now
                    syn_ack_reply(conn, side, peer, now, seq, ack, flags, win)
                    continue
                side = None
            elif conn.first_seen != 3 or side.zs == _Z_INACTIVE:
                side = None
        if side is None:
            tracker.now = tnow
            tracker.index = n
            segment(now, version, src, dst, sport, dport, seq, ack, flags, win, plen, ok)
            tnow = tracker.now
            if tracker.next_sweep != next_sweep:
                next_sweep = tracker.next_sweep
                sweep_ns = _sweep_ns(next_sweep)
                if skip is not None:
                    skip.until_ns = sweep_ns
            continue
        # A segment without SYN, FIN or RST of a connection both of whose endpoints Zeek has
        # seen: the same steps as `Tracker.segment` takes for it, inline.
        if now > tnow:
            tnow = now
        conn.last_seen = now
        peer = side.peer
        fwd = side.ws
        rev = peer.ws
        stream = conn.ws
        nextseq = fwd.nextseq
        if (
            seq == nextseq and win and (plen > 1 or (plen == 0 and ack != fwd.lastack))
            and fwd.base_seq >= 0 and (stream.first_rtt or not stream.mru_syn or not flags & 0x10)
        ):
            # flags.analyze's in-order case: in-order data, or a new ACK, into an open window.
            bits = 0
            if flags & 0x10:
                m = rev.maxseqtobeacked
                if m and ((ack - m + _HALF) & _M) - _HALF > 0:
                    bits = _ACKED_UNSEEN
                    rev.maxseqtobeacked = rev.nextseq
            if plen:
                end = (seq + plen) & _M
                fwd.nextseq = end
                fwd.nextseqtime = now
                m = fwd.maxseqtobeacked
                if seq == m or not m:
                    fwd.maxseqtobeacked = end
            elif not fwd.maxseqtobeacked:
                fwd.maxseqtobeacked = nextseq
            fwd.dupacks = 0
            fwd.window = win
            fwd.lastack = ack
            fwd.lastacktime = now
            fwd.lastflags = bits
        else:
            bits = ws_analyze(stream, fwd, rev, now, seq, ack, flags, win, plen)
        side.pkts += 1
        if plen:
            side.bytes += plen
        if bits:
            count_bits(conn, bits)
        side.zpkts += 1
        zs = side.zs
        is_orig = side.is_orig
        # `Connection.check_history`, inline: the first data ('D') or bare ACK ('A') each way.
        if plen:
            mask = 0x10 if is_orig else 0x100000  # Zeek's HIST_DATA
            if not conn.hist_seen & mask:
                conn.hist_seen |= mask
                conn.history.append("D" if is_orig else "d")
        elif flags & 0x10:
            mask = 0x20 if is_orig else 0x200000  # HIST_ACK
            if not conn.hist_seen & mask:
                conn.hist_seen |= mask
                conn.history.append("A" if is_orig else "a")
        pzs = peer.zs
        if not win and pzs != _Z_CLOSED and zs != _Z_RESET:
            conn.scaled(side, "W", "win0")
        if not (side.did_close and peer.did_close):
            conn.last_time = now
        rel_ack = -1
        if flags & 0x10:
            if pzs == _Z_INACTIVE:
                peer.start_seq = peer.ack_seq = peer.last_seq = (ack - 1) & _M
                rel_ack = 1
            else:
                rel_ack = ((ack - peer.start_seq + _HALF) & _M) - _HALF
                if rel_ack >= 0:
                    delta = ((ack - peer.ack_seq + _HALF) & _M) - _HALF
                    if delta > 0 and not (ack == 0 and delta > _TOO_LARGE_SEQ_DELTA):
                        peer.ack_seq = ack
                else:
                    rel_ack = 0
        if zs != _Z_RESET:
            end = (seq + plen) & _M
            if ((end - side.last_seq + _HALF) & _M) - _HALF > 0:
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
        st = side.st
        if (
            st is not _EST or peer.st is not _EST or side.fin_seq >= 0 or peer.fin_seq >= 0
            or side.acks_lost or peer.acks_lost
        ):
            rfc_advance(side, peer, flags, seq, ack, plen, now)
        # else: data or ACKs between two established endpoints change no state
    tracker.now = tnow
    if skip is not None:
        n = skip.number  # with the records passed over after the last one yielded
    if progress is not None:
        while n >= due:
            progress(due)
            due += progress_every
    stats.packets += n
    stats.tcp_packets += tcp
    stats.non_tcp += non_tcp
    stats.malformed += malformed
    stats.bad_checksums += bad_ip
    if first is not None:
        if stats.first_time is None:
            stats.first_time = first
            stats.first_record = first_n
        stats.last_time = last
        stats.last_record = last_n
    if progress is not None:
        progress(n)


def analyze_file(
    path: str | os.PathLike[str], on_record: Callable[[ConnectionRecord, Connection], None], *,
    verify_checksums: bool = False, keep_packets: int = 0, keep_connections: int = 0,
    on_packet: PacketHook | None = None, progress: ProgressHook | None = None,
) -> CaptureStats:
    """Analyze a pcap/pcapng file, calling `on_record` for each connection as it finishes.

    Raises ParseError if the file is not a capture at all; a damaged file is analysed up to the
    damage and `stats.truncated` says where it stopped.
    """
    stats = CaptureStats()

    def sink(conn: Connection) -> None:
        stats.connections += 1
        on_record(make_record(conn), conn)

    tracker = Tracker(
        sink, keep_packets=keep_packets, keep_connections=keep_connections, on_packet=on_packet
    )
    # Connections are small reference cycles freed by the cyclic collector: run it less often.
    thresholds = gc.get_threshold()
    gc.set_threshold(10_000, thresholds[1], thresholds[2])
    try:
        with open_capture(path) as reader:
            try:
                run(reader.iter_records(), tracker, stats, verify_checksums=verify_checksums,
                    progress=progress)
            finally:
                stats.truncated = reader.truncated
    finally:
        gc.set_threshold(*thresholds)
    tracker.finish_all()
    stats.bad_checksums += tracker.bad_checksums
    return stats


def analyze_records(
    records: Iterable[Record], *, verify_checksums: bool = False,
) -> list[ConnectionRecord]:
    """All connection records of in-memory capture records, in order of finishing."""
    out: list[ConnectionRecord] = []
    stats = CaptureStats()
    tracker = Tracker(lambda conn: out.append(make_record(conn)))
    run(records, tracker, stats, verify_checksums=verify_checksums)
    tracker.finish_all()
    return out


class EndpointStates:
    """Both endpoints' inferred RFC 9293 states, packet by packet (for `synack trace --states`).

        states = EndpointStates()
        for ts_ns, link_type, data, _orig_len, _iface in reader.iter_records():
            pair = states.after(ts_ns, link_type, data)   # None if not a TCP segment
            # pair == ("SYN_SENT", "LISTEN"): the sender's state, then the receiver's

    States are `State.value` strings, or "UNKNOWN" for an endpoint not yet seen. Connections
    are delimited as `synack analyze` delimits them, so the states agree with its timelines.
    """

    def __init__(self) -> None:
        self._last: tuple[str, str] | None = None
        self._tracker = Tracker(_ignore, on_packet=self._hook)

    def _hook(self, conn: Connection, sender: Side, bits: int, now: float, flags: int,
              seq: int, ack: int, plen: int) -> None:
        r = sender.peer
        self._last = (
            sender.st.value if sender.st is not None else "UNKNOWN",
            r.st.value if r.st is not None else "UNKNOWN",
        )

    def after(self, timestamp_ns: int, link_type: int, data: bytes) -> tuple[str, str] | None:
        """Feed one captured frame; the (sender, receiver) states after it, None if not TCP."""
        self._last = None
        try:
            t = decode_tcp(link_type, data)
        except ParseError:
            return None
        if t is None:
            return None
        version, src, dst, sport, dport, seq, ack, flags, win, _hl, plen, _il, _off = t
        self._tracker.segment(timestamp_ns / 1e9, version, src, dst, sport, dport, seq, ack,
                              flags, win, plen)
        return self._last


def _ignore(conn: Connection) -> None:
    return None


def states_after_each(
    packets: Iterable[CapturedPacket],
) -> Iterator[tuple[str, str] | None]:
    """For each packet in order: (sender's state, receiver's state) after it, None if not TCP."""
    states = EndpointStates()
    for pkt in packets:
        yield states.after(pkt.timestamp_ns, pkt.link_type, pkt.data)
