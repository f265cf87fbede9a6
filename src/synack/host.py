"""A sans-I/O TCP host: demultiplexes IP packets to connections by 4-tuple.

The host owns listeners (bounded SYN backlog and accept queue), picks ephemeral ports and ISNs
(RFC 6528), answers segments for no connection with RST (RFC 9293 §3.10.7.1), keeps TIME-WAIT
connections as compact records (a few bytes per 4-tuple, not a whole `Connection`), and counts and
drops malformed or bad-checksum packets: nothing from the wire raises out of `receive_packet`.

Drive it like a `Connection`: `receive_packet(data, now)`, `handle_timer(now)` at `next_deadline()`,
and send what `packets_to_send()` returns. Programs call the `Connection` objects it hands out.
"""

from __future__ import annotations

import heapq
import ipaddress
import struct
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from typing import Final

from synack.tcp.config import TcpConfig
from synack.tcp.connection import (
    ChallengeAckLimiter,
    Connection,
    IPAddress,
    SegmentFields,
    SynOffer,
    TransitionCallback,
    fields_segment,
    reset_for,
)
from synack.tcp.isn import IsnGenerator
from synack.tcp.state import State
from synack.wire.checksum import internet_checksum, ones_complement_sum, pseudo_header_sum
from synack.wire.errors import ParseError
from synack.wire.ip import IPv4Header, build_tcp_packet, parse_tcp_packet
from synack.wire.seq import SEQ_MASK, seq_diff, seq_ge, seq_gt, seq_le, seq_lt
from synack.wire.tcp import (
    ACK,
    FIN,
    RST,
    SYN,
    Mss,
    Nop,
    SackPermitted,
    TcpSegment,
    Timestamps,
    WindowScale,
    build_tcp,
    parse_tcp,
)
from synack.wire.tcp import FLAGS as _FLAGS

# local address, local port, remote address, remote port; addresses packed (4 or 16 bytes)
Key = tuple[bytes, int, bytes, int]

EPHEMERAL_PORTS: Final = (32768, 60999)  # Linux ip_local_port_range
# A TIME-WAIT record: snd_nxt rcv_nxt ts_recent ts_offset expires, window field, ts_ok, how many
# entries of the expiry FIFO name this 4-tuple (each restart of 2*MSL appends one), RCV.WND.
_TW: Final = struct.Struct("!IIIIdHBHI")
_TW_QUEUED: Final = 7  # field index of the FIFO entry count
_TW_WND: Final = 8  # RCV.WND in bytes
_NOP: Final = Nop()
_V4: Final = struct.Struct("!BBHHHBBH4s4s")
# States as module constants: an attribute of the Enum class costs several times more to read.
_CLOSED: Final = State.CLOSED
_LISTEN: Final = State.LISTEN
_SYN_RECEIVED: Final = State.SYN_RECEIVED
_TIME_WAIT: Final = State.TIME_WAIT
_ADDRESS_TYPES: Final = (ipaddress.IPv4Address, ipaddress.IPv6Address)
_ECT0: Final = 2  # RFC 3168 §5 ECN codepoints
_CE: Final = 3
_TCP: Final = struct.Struct("!HHIIHHHH")
_TCP_TS: Final = struct.Struct("!HHIIHHHHIII")  # header + nop, nop, timestamps
# An IPv4 header and a TCP header with nop, nop, timestamps, as far as receiving needs them:
# version/IHL, TOS, length, flags/fragment offset, protocol, addresses; ports, SEQ, ACK,
# offset/flags, window, urgent pointer, option kinds (nop, nop, kind, length), TSval.
_V4_TCP_TS: Final = struct.Struct("!BBH2xHxB2x4s4sHHIIHH2xHII4x")
# Whole headers of outgoing packets: IPv4 (no options) and TCP without options, with nop, nop,
# timestamps, or with Linux's SYN options.
_OUT_PLAIN: Final = struct.Struct("!BBHHHBBH4s4sHHIIHHHH")
_OUT_TS: Final = struct.Struct("!BBHHHBBH4s4sHHIIHHHHIII")
_OUT_SYN: Final = struct.Struct("!BBHHHBBH4s4sHHIIHHHHHHIIIBBBB")
_TS_KIND: Final = b"\x01\x01\x08\x0a"
# A header with Linux's SYN options: mss, sackOK, TS, nop, wscale (kind/length bytes as fields).
_TCP_SYN: Final = struct.Struct("!HHIIHHHHHHIIIBBBB")
_SACK_OK: Final = SackPermitted()


@dataclass(slots=True)
class HostStats:
    """Counters of what the host received, dropped and answered."""

    # Every received packet is counted once more, in exactly one of: segments_accepted,
    # malformed, bad_checksum, not_for_us.
    packets_received: int = 0
    packets_sent: int = 0
    segments_accepted: int = 0  # well-formed TCP for us: to a connection, listener, or RST reply
    malformed: int = 0
    bad_checksum: int = 0
    not_for_us: int = 0
    resets_sent: int = 0  # RSTs for segments to no connection
    syn_dropped: int = 0  # SYN backlog or accept queue full
    time_wait_hits: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Listener:
    """A passive OPEN on a port: connections in SYN-RECEIVED and an accept queue."""

    __slots__ = ("accept_queue", "address", "backlog", "config", "pending", "port")

    def __init__(
        self, port: int, backlog: int, address: IPAddress | None,
        config: TcpConfig | None = None,
    ) -> None:
        self.port = port
        self.backlog = backlog
        self.address = address
        self.config = config  # the listening socket's own settings (None: the host's)
        self.pending: set[Connection] = set()  # SYN-RECEIVED children
        self.accept_queue: deque[Connection] = deque()


class Host:
    """A TCP host with one or more addresses (see the module docstring)."""

    def __init__(
        self,
        addresses: Iterable[IPAddress | str],
        *,
        config: TcpConfig | None = None,
        secret: bytes = b"synack",  # fixed for reproducible runs; a real wire passes a random key
        ephemeral_ports: tuple[int, int] = EPHEMERAL_PORTS,
        checksum_offload: bool = False,
    ) -> None:
        self.addresses: list[IPAddress] = [ipaddress.ip_address(a) for a in addresses]
        if not self.addresses:
            raise ValueError("a host needs at least one address")
        self._addrs = frozenset(self.addresses)
        self._packed = frozenset(a.packed for a in self.addresses)
        self.config = config if config is not None else TcpConfig()
        self.stats = HostStats()
        self._on_transition: TransitionCallback | None = None
        # Connections queue StateChanged events (False: a driver that reads none, as the asyncio
        # Stack without an event hook, saves making them).
        self.state_events = True
        self._isn = IsnGenerator(secret)
        self._limiter = ChallengeAckLimiter(self.config.challenge_ack_limit)
        self._conns: dict[Key, Connection] = {}
        self._conns_peak = 0
        self._listeners: dict[int, Listener] = {}
        # How many connections wait in accept queues, of every port (read-only: a driver checks
        # it before asking each listener).
        self.acceptable = 0
        self._parent: dict[Connection, Listener] = {}
        # TIME-WAIT records by `_tw_key` (the 4-tuple as one bytes object: fewer objects per entry).
        self._tw: dict[bytes, bytes] = {}
        self._tw_fifo: deque[bytes] = deque()
        self._tw_conns: dict[bytes, Connection] = {}  # kept only while someone observes
        self._dirty: dict[Connection, None] = {}
        # Connections that took a call, a segment or a timer since `take_news()` (None: nobody
        # asks, as on the simulated network, so nothing is kept).
        self._news: dict[Connection, None] | None = None
        self._timers: list[tuple[float, int, Connection]] = []
        self._scheduled: dict[Connection, float] = {}
        self._timer_seq = 0
        self._out: list[bytes] = []
        self._ports = ephemeral_ports
        span = ephemeral_ports[1] - ephemeral_ports[0] + 1
        self._next_port = ephemeral_ports[0] + self._isn.ts_offset(b"", 0, b"", 0) % span
        self._interned: dict[bytes, IPAddress] = {a.packed: a for a in self.addresses}
        self._bytes: dict[bytes, bytes] = {}  # one bytes object per packed address
        self._pseudo: dict[bytes, int] = {}  # TCP pseudo-header sums (length 0) by src + dst
        self._pair_sums: dict[bytes, tuple[int, int]] = {}  # `_sums_of` by IPv4 src + dst
        # The device checks and completes TCP checksums (a TUN device with the virtio-net header):
        # arriving TCP checksums are not verified, and outgoing IPv4 segments carry only the
        # pseudo-header sum in their checksum field (CHECKSUM_PARTIAL; the device adds the
        # segment's sum from csum_start = the IP header length, into csum_offset = 16).
        self.checksum_offload = checksum_offload
        # Segments to connections past their handshake go as header fields (False: always as
        # TcpSegments, the general path; tests compare the two).
        self.fast_lane = True
        # IPv4 headers by (src + dst, length, ECN codepoint).
        self._v4_heads: dict[tuple[bytes, int, int], bytes] = {}

    # ------------------------------------------------------------------ program side

    def listen(self, port: int, backlog: int = 128, *, address: IPAddress | str | None = None,
               config: TcpConfig | None = None) -> Listener:
        """Passive OPEN on `port` (all addresses unless `address`). `config`: settings of its
        connections (socket options) instead of the host's."""
        if port in self._listeners:
            raise OSError(98, f"port {port} is already listening")
        addr = ipaddress.ip_address(address) if address is not None else None
        listener = Listener(port, backlog, addr, config)
        self._listeners[port] = listener
        return listener

    def unlisten(self, port: int, now: float) -> None:
        """Close a listener: connections not yet accepted are aborted (RST), as Linux does."""
        listener = self._listeners.pop(port, None)
        if listener is None:
            return
        self.acceptable -= len(listener.accept_queue)
        for conn in [*listener.pending, *listener.accept_queue]:
            conn.abort(now)
        self._flush()

    def accept(self, port: int) -> Connection | None:
        """The oldest established connection on `port` not yet accepted, or None."""
        listener = self._listeners.get(port)
        if listener is None or not listener.accept_queue:
            return None
        self.acceptable -= 1
        return listener.accept_queue.popleft()

    def connect(
        self,
        remote_addr: IPAddress | str,
        remote_port: int,
        now: float,
        *,
        local_port: int | None = None,
        local_addr: IPAddress | str | None = None,
        config: TcpConfig | None = None,
    ) -> Connection:
        """Active OPEN: a new connection in SYN-SENT whose SYN is queued. `config`: this
        connection's settings (socket options) instead of the host's."""
        remote = remote_addr if isinstance(remote_addr, _ADDRESS_TYPES) else (
            ipaddress.ip_address(remote_addr)
        )
        if local_addr is not None:
            local = ipaddress.ip_address(local_addr)
            if local not in self._addrs:
                raise OSError(99, f"{local} is not an address of this host")
        else:
            found = next((a for a in self.addresses if a.version == remote.version), None)
            if found is None:
                raise OSError(101, f"no IPv{remote.version} address to reach {remote}")
            local = found
        iss: int | None = None
        if local_port is None:
            local_port = self._ephemeral_port(local, remote, remote_port)
        else:
            key = (local.packed, local_port, remote.packed, remote_port)
            if key in self._conns:
                raise OSError(98, f"{local}:{local_port} -> {remote}:{remote_port} is in use")
            record = self._tw.pop(_tw_key(key), None)
            if record is not None:  # reuse the 4-tuple: start above the old sequence space
                iss = (_TW.unpack(record)[0] + 65535 + 2) & SEQ_MASK
                self._tw_conns.pop(_tw_key(key), None)
        key = (local.packed, local_port, remote.packed, remote_port)
        conn = self._new_connection(key, now, iss, config=config)
        conn.connect(now)
        self._flush()
        return conn

    @property
    def on_transition(self) -> TransitionCallback | None:
        """Called with (connection, old state, new state, cause) at every state change of the
        host's connections (TIME-WAIT records included)."""
        return self._on_transition

    @on_transition.setter
    def on_transition(self, hook: TransitionCallback | None) -> None:
        self._on_transition = hook
        # Connections call the host only while someone listens (see `_hook`).
        report = self._hook()
        for conn in self._conns.values():
            if conn.on_transition is None or conn.on_transition == self._report:
                conn.on_transition = report

    def _hook(self) -> TransitionCallback | None:
        """The transition hook of the host's connections: the host's report, or None while
        nobody listens (a call per state change saved)."""
        return self._report if self._on_transition is not None else None

    @property
    def connections(self) -> Iterator[Connection]:
        """Every connection the host tracks (TIME-WAIT records excluded)."""
        return iter(list(self._conns.values()))

    @property
    def time_wait_count(self) -> int:
        return len(self._tw)

    def lookup(self, local: tuple[IPAddress, int], remote: tuple[IPAddress, int]) -> State | None:
        """The state of the connection with this 4-tuple (TIME_WAIT for compact records)."""
        key = (local[0].packed, local[1], remote[0].packed, remote[1])
        conn = self._conns.get(key)
        if conn is not None:
            return conn.state
        return State.TIME_WAIT if _tw_key(key) in self._tw else None

    # ------------------------------------------------------------------ network side

    def receive_packet(self, data: bytes, now: float) -> None:
        """One IP packet from the network. Malformed or corrupted packets are counted, dropped."""
        stats = self.stats
        stats.packets_received += 1
        if len(data) >= 52 and self.fast_lane:
            # The most common packet of all, decoded in one step: IPv4 without options, not a
            # fragment, a TCP header with nop, nop, timestamps, for a connection past its
            # handshake (`Connection.fields_arrived`). Anything else (or any doubt: a bad
            # checksum, an address not ours) goes on below, where it is counted.
            (vihl, tos, total, frag, proto, src, dst, sport, dport, seq, ack, word, window,
             urgent, kind, tsval) = _V4_TCP_TS.unpack_from(data)
            if (
                vihl == 0x45 and proto == 6 and not frag & 0x3FFF and word & 0xF000 == 0x8000
                and kind == 0x0101080A and 52 <= total <= len(data) and dst in self._packed
                and not int.from_bytes(data[:20], "big") % 0xFFFF
                and (self.checksum_offload or self._tcp_checksum_ok(data, total, src, dst))
                and (conn := self._conns.get((dst, dport, src, sport))) is not None
                and conn.fields_arrived(sport, dport, seq, ack, word & 0x1FF, window, urgent,
                                        tsval, data[52:total], now, tos & 3 == _CE)
            ):
                stats.segments_accepted += 1
                self._flush()
                return
        if len(data) >= 40:
            vihl, tos, total, _, frag, _, proto, _, src, dst = _V4.unpack_from(data)
            if vihl == 0x45 and proto == 6 and not frag & 0x3FFF:
                # IPv4 without options, not a fragment: the common case, decoded in place.
                if total > len(data) or total < 40:
                    stats.malformed += 1
                    return
                if dst not in self._packed:
                    stats.not_for_us += 1
                    return
                # RFC 1071: the header's words sum to 0xFFFF, i.e. to 0 modulo 0xFFFF.
                if int.from_bytes(data[:20], "big") % 0xFFFF or (
                    not self.checksum_offload and not self._tcp_checksum_ok(data, total, src, dst)
                ):
                    stats.bad_checksum += 1
                    return
                if self.fast_lane and self._other_fields(data, total, src, dst, tos, now):
                    return
                try:
                    seg = _parse_tcp_fast(data[20:total])
                except (ParseError, ValueError):
                    stats.malformed += 1
                    return
                self._segment_arrived(src, dst, seg, tos & 3 == _CE, now)
                return
        try:
            packet, seg = parse_tcp_packet(data)
        except (ParseError, ValueError):
            stats.malformed += 1
            return
        src = packet.header.src.packed
        dst = packet.header.dst.packed
        if dst not in self._packed:
            stats.not_for_us += 1
            return
        tcp = packet.payload
        header = packet.header
        tclass = header.tos if isinstance(header, IPv4Header) else header.traffic_class
        ihl = (data[0] & 15) * 4
        tcp_ok = self.checksum_offload or ones_complement_sum(
            tcp, pseudo_header_sum(src, dst, 6, len(tcp))
        ) == 0xFFFF
        if not tcp_ok or (packet.version == 4 and ones_complement_sum(data[:ihl]) != 0xFFFF):
            stats.bad_checksum += 1
            return
        self._segment_arrived(src, dst, seg, tclass & 3 == _CE, now)

    def _other_fields(
        self, data: bytes, total: int, src: bytes, dst: bytes, tos: int, now: float
    ) -> bool:
        """For a verified IPv4 packet, the shapes besides the one `receive_packet` decodes
        first: a SYN with Linux's options for a listener (`_syn_fields`), and a segment without
        options for a connection past its handshake (`Connection.fields_arrived`), both
        without a TcpSegment. False: nothing was done."""
        word = (data[32] << 8) | data[33]
        hlen = word >> 10 & 0x3C
        if hlen == 40 and total >= 60:
            (sport, dport, seq, ack, _, window, _, _, mss_kind, mss, sack_ts_kind, tsval, _, nop,
             ws_kind, ws_len, shift) = _TCP_SYN.unpack_from(data, 20)
            return (
                mss_kind == 0x0204 and sack_ts_kind == 0x0402080A and nop == 1 and ws_kind == 3
                and ws_len == 3
                and self._syn_fields((dst, dport, src, sport), seq, ack, word & 0x1FF, window,
                                     (mss, shift, True, tsval), now)
            )
        if hlen == 20:
            sport, dport, seq, ack, _, window, _, urgent = _TCP.unpack_from(data, 20)
            conn = self._conns.get((dst, dport, src, sport))
            if conn is not None and conn.fields_arrived(
                sport, dport, seq, ack, word & 0x1FF, window, urgent, None, data[40:total], now,
                tos & 3 == _CE,
            ):
                self.stats.segments_accepted += 1
                self._flush()
                return True
        return False

    def _segment_arrived(self, src: bytes, dst: bytes, seg: TcpSegment, ce: bool,
                         now: float) -> None:
        """A verified segment for one of our addresses: to its connection, TIME-WAIT record or
        listener, or answered with RST."""
        stats = self.stats
        stats.segments_accepted += 1
        key = (dst, seg.dst_port, src, seg.src_port)
        conn = self._conns.get(key)
        if conn is not None:
            conn.segment_arrived(seg, now, ce)
            self._flush()
            return
        if self._tw and _tw_key(key) in self._tw:
            self._time_wait_segment(key, seg, now)
            return
        listener = self._listeners.get(seg.dst_port)
        if listener is not None and (listener.address is None or listener.address.packed == dst):
            self._listen_segment(listener, key, seg, now)
            return
        self._reply_reset(key, seg)  # RFC 9293 §3.10.7.1: no connection

    def _tcp_checksum_ok(self, data: bytes, total: int, src: bytes, dst: bytes) -> bool:
        """Whether the TCP segment of an IPv4 packet without options verifies (RFC 9293 §3.1)."""
        pair = src + dst
        pseudo = self._pseudo.get(pair)
        if pseudo is None:
            pseudo = self._pseudo[pair] = pseudo_header_sum(src, dst, 6, 0)
        return ones_complement_sum(data[20:total], pseudo + total - 20) == 0xFFFF

    def packets_to_send(self) -> list[bytes]:
        if self._dirty:
            self._flush()
        out = self._out
        if not out:
            return []
        self._out = []
        self.stats.packets_sent += len(out)
        return out

    def next_deadline(self) -> float | None:
        if self._dirty:
            self._flush()
        timers = self._timers
        while timers:
            when, _, conn = timers[0]
            if self._scheduled.get(conn) == when:
                break
            heapq.heappop(timers)  # stale: the connection re-armed or went away
        best = timers[0][0] if timers else None
        fifo = self._tw_fifo
        if fifo:
            record = self._tw.get(fifo[0])
            head = _TW.unpack(record) if record is not None else None
            if head is None or head[_TW_QUEUED] > 1:
                self._expire_time_wait(-1.0)  # drops superseded FIFO entries, expires nothing
                head = _TW.unpack(self._tw[fifo[0]]) if fifo else None
            if head is not None:
                expires = head[4]
                if best is None or expires < best:
                    best = expires
        return best

    def handle_timer(self, now: float) -> None:
        self._flush()
        timers = self._timers
        while timers and timers[0][0] <= now:
            when, _, conn = heapq.heappop(timers)
            if self._scheduled.get(conn) != when:
                continue
            del self._scheduled[conn]
            conn.handle_timer(now)
        self._expire_time_wait(now)
        self._flush()

    # ------------------------------------------------------------------ connection hooks

    def touched(self, conn: Connection) -> None:
        """A connection took a call: collect its output, timers and state at the next flush."""
        self._dirty[conn] = None
        news = self._news
        if news is not None:
            news[conn] = None

    def take_news(self) -> dict[Connection, None]:
        """The connections touched since the last call (a driver services just those, not every
        connection it holds); the first call starts the tracking."""
        news = self._news
        self._news = {}
        return news if news is not None else {}

    def _report(self, conn: Connection, old: State, new: State, cause: str) -> None:
        callback = self._on_transition
        if callback is not None:
            callback(conn, old, new, cause)

    # ------------------------------------------------------------------ internals

    def _key(self, local: bytes, local_port: int, remote: bytes, remote_port: int) -> Key:
        """A 4-tuple key whose address bytes are shared with every other key of that address."""
        intern = self._bytes
        return (
            intern.setdefault(local, local), local_port, intern.setdefault(remote, remote),
            remote_port,
        )

    def _address(self, packed: bytes) -> IPAddress:
        """The address object for packed bytes (one shared object per address)."""
        addr = self._interned.get(packed)
        if addr is None:
            addr = self._interned[packed] = ipaddress.ip_address(packed)
        return addr

    def _packet(self, src: bytes, dst: bytes, seg: TcpSegment, ecn: int = 0) -> bytes:
        """The IP packet carrying `seg` (as `build_tcp_packet`: TTL 64, DF, ident 0), with the
        ECN codepoint `ecn` (RFC 3168 §5) in its TOS / traffic class."""
        if len(src) != 4:
            return build_tcp_packet(self._address(src), self._address(dst), seg, tos=ecn)
        pair = src + dst
        pseudo = self._pseudo.get(pair)
        if pseudo is None:
            pseudo = self._pseudo[pair] = pseudo_header_sum(src, dst, 6, 0)
        tcp = _build_tcp_fast(seg, src, dst, pseudo, self.checksum_offload)
        # The IPv4 header differs only in its total length: one per (addresses, length).
        head = self._v4_heads.get((pair, len(tcp), ecn))
        if head is None:
            head = self._v4_head(src, dst, len(tcp), ecn)
        return head + tcp

    def _fields_packet(self, key: Key, fields: SegmentFields, ecn: int = 0) -> bytes:
        """`_packet` for a segment queued as `SegmentFields`, built without a TcpSegment (for
        IPv4: the same bytes as `_packet(..., fields_segment(...))`), in one pack.

        RFC 1071: since 2**16 = 1 modulo 0xFFFF, a one's complement sum of 16-bit words is the
        plain sum of the header's fields (32-bit ones whole) modulo 0xFFFF, 0 read as 0xFFFF;
        so both checksums come from the field values, without the header's bytes.
        """
        src, sport, dst, dport = key
        if len(src) != 4:
            return self._packet(src, dst, fields_segment(sport, dport, fields), ecn)
        flags, seq, ack, window, tsval, tsecr, payload, syn = fields
        pair = src + dst
        sums = self._pair_sums.get(pair)
        if sums is None:
            sums = self._sums_of(pair)
        pseudo, ip_words = sums
        length = (20 if tsval is None else 32 if syn is None else 40) + len(payload)
        total = 20 + length
        # TTL 64, DF, ident 0, as build_tcp_packet
        ip_csum = 0xFFFF - ((ip_words + ecn + total) % 0xFFFF or 0xFFFF)
        if self.checksum_offload:  # the pseudo-header sum only (CHECKSUM_PARTIAL)
            csum = (pseudo + length) % 0xFFFF or 0xFFFF
        else:
            words = pseudo + length + sport + dport + seq + ack + window
            if payload:
                words += int.from_bytes(payload, "big") << (8 if len(payload) & 1 else 0)
            if tsval is None:
                words += 0x5000 | flags
            elif syn is not None:
                words += (0xA000 | flags) + 0x0204 + syn[0] + 0x0402080A + tsval + tsecr + (
                    0x0103 + 0x0300 + syn[1]  # nop, wscale kind / length, shift
                )
            else:
                words += (0x8000 | flags) + 0x0101080A + tsval + tsecr
            csum = 0xFFFF - (words % 0xFFFF or 0xFFFF)
        if tsval is None:
            head = _OUT_PLAIN.pack(0x45, ecn, total, 0, 0x4000, 64, 6, ip_csum, src, dst,
                                   sport, dport, seq, ack, 0x5000 | flags, window, csum, 0)
        elif syn is not None:  # Linux's SYN options: mss, sackOK, TS, nop, wscale
            head = _OUT_SYN.pack(0x45, ecn, total, 0, 0x4000, 64, 6, ip_csum, src, dst,
                                 sport, dport, seq, ack, 0xA000 | flags, window, csum, 0, 0x0204,
                                 syn[0], 0x0402080A, tsval, tsecr, 1, 3, 3, syn[1])
        else:
            head = _OUT_TS.pack(0x45, ecn, total, 0, 0x4000, 64, 6, ip_csum, src, dst,
                                sport, dport, seq, ack, 0x8000 | flags, window, csum, 0,
                                0x0101080A, tsval, tsecr)
        return head + payload if payload else head

    def _sums_of(self, pair: bytes) -> tuple[int, int]:
        """For IPv4 source + destination `pair`: the TCP pseudo-header sum (length 0), and the
        IPv4 header's fields but TOS and length summed (as `_fields_packet` needs them)."""
        if len(self._pair_sums) >= 4096:
            self._pair_sums.clear()
        src, dst = pair[:4], pair[4:]
        sums = (
            pseudo_header_sum(src, dst, 6, 0),
            0x4500 + 0x4000 + 0x4006 + int.from_bytes(src, "big") + int.from_bytes(dst, "big"),
        )
        self._pair_sums[pair] = sums
        return sums

    def _v4_head(self, src: bytes, dst: bytes, length: int, ecn: int) -> bytes:
        """The IPv4 header of a TCP segment of `length` bytes (kept: it differs between packets
        only in its total length)."""
        if len(self._v4_heads) >= 4096:
            self._v4_heads.clear()
        raw = _V4.pack(0x45, ecn, 20 + length, 0, 0x4000, 64, 6, 0, src, dst)
        head = raw[:10] + internet_checksum(raw).to_bytes(2, "big") + raw[12:]
        self._v4_heads[(src + dst, length, ecn)] = head
        return head

    def _new_connection(
        self, key: Key, now: float, iss: int | None = None, passive: bool = False,
        config: TcpConfig | None = None,
    ) -> Connection:
        lp, lport, rp, rport = key = self._key(*key)
        if iss is None:
            iss, ts_offset = self._isn.isn_and_ts_offset(lp, lport, rp, rport, now)
        else:
            ts_offset = self._isn.ts_offset(lp, lport, rp, rport)
        conn = Connection(
            (self._address(lp), lport), (self._address(rp), rport),
            config=config if config is not None else self.config, iss=iss,
            ts_offset=ts_offset, host=self, limiter=self._limiter,
        )
        conn.host_key = key
        conn.state_events = self.state_events
        self._conns[key] = conn
        if len(self._conns) > self._conns_peak:
            self._conns_peak = len(self._conns)
        if not passive:
            conn.on_transition = self._hook()
        return conn

    def _ephemeral_port(self, local: IPAddress, remote: IPAddress, remote_port: int) -> int:
        low, high = self._ports
        span = high - low + 1
        for _ in range(span):
            port = self._next_port
            self._next_port = low + (port - low + 1) % span
            key = (local.packed, port, remote.packed, remote_port)
            if (
                port not in self._listeners and key not in self._conns
                and _tw_key(key) not in self._tw
            ):
                return port
        raise OSError(99, "no ephemeral port available")

    def _flush(self) -> None:
        """Collect output, timers and state of every connection touched since the last flush."""
        dirty = self._dirty
        while dirty:
            self._dirty = {}  # touches made while collecting land here, for the next round
            for conn in dirty:
                self._collect(conn)
            dirty = self._dirty

    def _collect(self, conn: Connection) -> None:
        key = conn.host_key
        if key is None:
            return
        if conn._out:
            out = self._out
            segments = conn.take_output()
            ect = conn.ect_sent
            for seg in segments:
                ecn = _ECT0 if ect and id(seg) in ect else 0
                if isinstance(seg, tuple):
                    out.append(self._fields_packet(key, seg, ecn))
                else:
                    out.append(self._packet(key[0], key[2], seg, ecn))
        if self._conns.get(key) is not conn:
            return
        state = conn._state
        if self._parent and state is not _SYN_RECEIVED and conn in self._parent:
            listener = self._parent.pop(conn)
            listener.pending.discard(conn)
            if state is not _LISTEN and state is not _CLOSED:
                listener.accept_queue.append(conn)  # handshake complete: accept() returns it
                self.acceptable += 1
        if state is _CLOSED or state is _LISTEN:
            self._forget(key, conn)
            return
        if state is _TIME_WAIT:
            self._to_time_wait(key, conn)
            return
        deadline = conn.next_deadline()
        if deadline is None:
            self._scheduled.pop(conn, None)
        elif self._scheduled.get(conn) != deadline:
            self._scheduled[conn] = deadline
            self._timer_seq += 1
            heapq.heappush(self._timers, (deadline, self._timer_seq, conn))

    def _forget(self, key: Key, conn: Connection) -> None:
        """Drop a connection from the table (and its timer); shrink the table after a mass exit
        (Python dicts never give memory back by themselves)."""
        del self._conns[key]
        self._unschedule(conn)
        n = len(self._conns)
        if self._conns_peak > 1024 and n * 8 < self._conns_peak:
            self._conns = dict(self._conns)
            self._scheduled = dict(self._scheduled)
            self._conns_peak = n

    def _unschedule(self, conn: Connection) -> None:
        """Forget a connection's timer; rebuild the heap once stale entries dominate it."""
        if self._scheduled.pop(conn, None) is not None and (
            len(self._timers) > 2 * len(self._scheduled) + 64
        ):
            self._timers = [t for t in self._timers if self._scheduled.get(t[2]) == t[0]]
            heapq.heapify(self._timers)

    # ------------------------------------------------------------------ listeners

    def _listen_segment(self, listener: Listener, key: Key, seg: TcpSegment, now: float) -> None:
        """RFC 9293 §3.10.7.2 for a listener: RST ignored, ACK answered by RST, SYN spawns a
        connection in SYN-RECEIVED (dropped when the SYN backlog or the accept queue is full)."""
        flags = int(seg.flags)
        if flags & RST:
            return
        if flags & ACK:
            self._reply_reset(key, seg)
            return
        if not flags & SYN:
            return
        if len(listener.pending) >= listener.backlog or len(listener.accept_queue) >= (
            listener.backlog
        ):
            self.stats.syn_dropped += 1
            return
        self._spawn(listener, key, seg, now, None)

    def _spawn(
        self, listener: Listener, key: Key, seg: TcpSegment, now: float, iss: int | None
    ) -> None:
        self._child(listener, key, now, iss).segment_arrived(seg, now)
        self._flush()

    def _child(self, listener: Listener, key: Key, now: float, iss: int | None) -> Connection:
        """A new connection in LISTEN for the SYN of `key` (it goes to SYN-RECEIVED)."""
        conn = self._new_connection(key, now, iss, passive=True, config=listener.config)
        conn.listen()
        conn.on_transition = self._hook()
        listener.pending.add(conn)
        self._parent[conn] = listener
        return conn

    def _syn_fields(
        self, key: Key, seq: int, ack: int, flags: int, window: int, offer: SynOffer, now: float
    ) -> bool:
        """`_segment_arrived` for a segment with Linux's SYN options given by its fields, when
        it is a SYN (without ACK or RST) for a listener and no connection: as `_listen_segment`
        and `_spawn`, without a TcpSegment. False: nothing was done."""
        if flags & (SYN | ACK | RST) != SYN or key in self._conns or (
            self._tw and _tw_key(key) in self._tw
        ):
            return False
        listener = self._listeners.get(key[1])
        if listener is None or (listener.address is not None and listener.address.packed != key[0]):
            return False
        self.stats.segments_accepted += 1
        if len(listener.pending) >= listener.backlog or len(listener.accept_queue) >= (
            listener.backlog
        ):
            self.stats.syn_dropped += 1
            return True
        self._child(listener, key, now, None).syn_fields_arrived(seq, ack, flags, window, offer,
                                                                 now)
        self._flush()
        return True

    def _reply_reset(self, key: Key, seg: TcpSegment) -> None:
        rst = reset_for(seg)
        if rst is None:
            return
        self.stats.resets_sent += 1
        self._out.append(self._packet(key[0], key[2], rst))

    # ------------------------------------------------------------------ TIME-WAIT records

    def _to_time_wait(self, key: Key, conn: Connection) -> None:
        self._forget(key, conn)
        expires = conn.next_deadline()
        if expires is None:
            expires = 0.0
        tk = _tw_key(key)
        self._tw[tk] = _TW.pack(
            conn.snd_nxt, conn.rcv_nxt, conn.ts_recent, conn.ts_offset, expires,
            min(conn.rcv_wnd >> conn.rcv_wscale, 0xFFFF), 1 if conn.ts_ok else 0, 1,
            conn.rcv_window,
        )
        self._tw_fifo.append(tk)
        if self._on_transition is not None:
            self._tw_conns[tk] = conn

    def _expire_time_wait(self, now: float) -> None:
        fifo = self._tw_fifo
        tw = self._tw
        while fifo:
            key = fifo[0]
            record = tw.get(key)
            if record is None:
                fifo.popleft()
                continue
            fields_ = list(_TW.unpack(record))
            if fields_[_TW_QUEUED] > 1:  # a later FIFO entry (a restart) supersedes this one
                fields_[_TW_QUEUED] -= 1
                tw[key] = _TW.pack(*fields_)
                fifo.popleft()
                continue
            if fields_[4] > now:
                break
            fifo.popleft()
            del tw[key]
            conn = self._tw_conns.pop(key, None)
            if conn is not None:
                conn.expire_time_wait(now)

    def _time_wait_segment(self, key: Key, seg: TcpSegment, now: float) -> None:
        """RFC 9293 §3.10.7.4 for a TIME-WAIT record (what `Connection` does in TIME-WAIT), with
        Linux's reuse of the 4-tuple by a SYN above the old sequence space."""
        self.stats.time_wait_hits += 1
        cfg = self.config
        tk = _tw_key(key)
        record = self._tw[tk]
        snd_nxt, rcv_nxt, ts_recent, ts_offset, _, window, ts_ok, queued, wnd = _TW.unpack(record)
        flags = int(seg.flags)
        seq = seg.seq
        seg_len = len(seg.payload) + (flags & SYN and 1) + (flags & FIN)
        delta = seq_diff(seq, rcv_nxt)
        if seg_len == 0:
            ok = delta == 0 if wnd == 0 else 0 <= delta < wnd
        else:
            ok = wnd > 0 and (0 <= delta < wnd or 0 <= delta + seg_len - 1 < wnd)
        ts = seg.timestamps if ts_ok else None
        # RFC 7323 §5.3 R1 (PAWS): a TSval older than TS.Recent marks an old duplicate.
        paws_reject = (  # (a TS.Recent of 0 is no reference: Linux tcp_paws_check)
            cfg.paws and ts is not None and ts_recent != 0 and seq_lt(ts.value, ts_recent)
        )
        if (
            flags & SYN and not flags & (ACK | RST) and cfg.time_wait_accepts_syn
            and not paws_reject
            and (delta > 0 or (ts is not None and seq_gt(ts.value, ts_recent)))
        ):
            # Linux (and FreeBSD): a SYN above the old sequence space, or with a newer timestamp
            # (RFC 6191), opens a new connection; TIME-WAIT is forgotten and the SYN goes to the
            # listener with a larger ISN.
            listener = self._listeners.get(key[1])
            self._drop_time_wait(key, now, "SYN for a new connection")
            if listener is not None:
                self._spawn(listener, key, seg, now, (snd_nxt + 65535 + 2) & SEQ_MASK)
            else:
                self._reply_reset(key, seg)
            return
        reply = True
        if flags & RST and cfg.rfc1337:
            return  # RFC 1337 (F1): ignore every RST in TIME-WAIT
        if paws_reject and not flags & RST:
            ok = False  # acknowledged below, 2*MSL restarted (Linux)
        if not ok or delta < 0:  # first: sequence check (a segment that starts old is
            if flags & RST:  # trimmed to nothing processable: acknowledged, as Linux does)
                return
        elif flags & RST:  # second: RST
            if cfg.rfc5961_rst and delta != 0:
                reply = self._limiter.allow(now)  # challenge ACK
            else:
                if not cfg.rfc1337:  # RFC 1337 would ignore it
                    self._drop_time_wait(key, now, "RST received")
                return
        elif flags & SYN:  # fourth: SYN
            if cfg.rfc5961_syn:
                reply = self._limiter.allow(now)  # challenge ACK
            else:  # RFC 793: a SYN in the window resets
                self._drop_time_wait(key, now, "SYN received")
                rst = TcpSegment(key[1], key[3], snd_nxt, rcv_nxt, _FLAGS[RST | ACK], 0)
                self._out.append(self._packet(key[0], key[2], rst))
                return
        elif not flags & ACK:  # fifth: no ACK: drop
            return
        elif delta == 0 and seg_len == 0:
            return  # a bare ACK at RCV.NXT
        # Anything else with ACK can only be a retransmission of the peer's FIN: acknowledge it
        # and restart 2*MSL (RFC 9293 §3.10.7.4 fifth step, TIME-WAIT; Linux does the same).
        if flags & ACK or paws_reject:
            if ts is not None and seq_le(seq, rcv_nxt) and seq_ge(ts.value, ts_recent):
                ts_recent = ts.value  # RFC 7323 §4.3 (2): SEG.SEQ <= Last.ACK.sent (RCV.NXT)
            expires = now + cfg.time_wait
            self._tw[tk] = _TW.pack(snd_nxt, rcv_nxt, ts_recent, ts_offset, expires, window,
                                    ts_ok, min(queued + 1, 0xFFFF), wnd)
            self._tw_fifo.append(tk)
        if not reply:
            return
        options: tuple[Nop | Timestamps, ...] = ()
        if ts_ok:
            tsval = (int(now * 1000) + ts_offset) & SEQ_MASK
            options = (_NOP, _NOP, Timestamps(tsval, ts_recent))
        ack = TcpSegment(key[1], key[3], snd_nxt, rcv_nxt, _FLAGS[ACK], window, 0, options)
        self._out.append(self._packet(key[0], key[2], ack))

    def _drop_time_wait(self, key: Key, now: float, cause: str) -> None:
        tk = _tw_key(key)
        del self._tw[tk]
        conn = self._tw_conns.pop(tk, None)
        if conn is not None:
            conn.expire_time_wait(now, cause)



def _parse_tcp_fast(data: bytes) -> TcpSegment:
    """`parse_tcp` for the shapes nearly every segment has (no options; nop, nop, timestamps;
    Linux's SYN options), without the general option walk; anything else goes to `parse_tcp`."""
    n = len(data)
    if n >= 20:
        word = (data[12] << 8) | data[13]
        hlen = (word >> 12) << 2
        if hlen == 20 and not word & 0x0E00:
            sport, dport, seq, ack, _, window, checksum, urgent = _TCP.unpack_from(data)
            return TcpSegment(sport, dport, seq, ack, _FLAGS[word & 0x1FF], window, urgent, (),
                              data[20:], checksum)
        if hlen == 32 and n >= 32 and not word & 0x0E00 and data[20:24] == _TS_KIND:
            sport, dport, seq, ack, _, window, checksum, urgent, _, tsval, tsecr = (
                _TCP_TS.unpack_from(data)
            )
            return TcpSegment(sport, dport, seq, ack, _FLAGS[word & 0x1FF], window, urgent,
                              (_NOP, _NOP, Timestamps(tsval, tsecr)), data[32:], checksum)
        if hlen == 40 and n >= 40 and not word & 0x0E00:
            (sport, dport, seq, ack, _, window, checksum, urgent, mss_kind, mss, sack_ts_kind,
             tsval, tsecr, nop, ws_kind, ws_len, shift) = _TCP_SYN.unpack_from(data)
            if (
                mss_kind == 0x0204 and sack_ts_kind == 0x0402080A and nop == 1
                and ws_kind == 3 and ws_len == 3
            ):
                options = (Mss(mss), _SACK_OK, Timestamps(tsval, tsecr), _NOP, WindowScale(shift))
                return TcpSegment(sport, dport, seq, ack, _FLAGS[word & 0x1FF], window, urgent,
                                  options, data[40:], checksum)
    return parse_tcp(data)


def _build_tcp_fast(
    seg: TcpSegment, src: bytes, dst: bytes, pseudo: int | None = None, partial: bool = False
) -> bytes:
    """`build_tcp` for segments without options, with only nop, nop, timestamps, or with Linux's
    SYN options; `pseudo` is the pseudo-header sum of the addresses and protocol (length 0), if
    known. `partial`: the checksum field holds only the pseudo-header sum, for the device to
    complete."""
    if pseudo is None:
        pseudo = pseudo_header_sum(src, dst, 6, 0)
    options = seg.options
    flags = int(seg.flags)
    if not options and seg.checksum is None and not seg.padding and not seg.reserved:
        head = _TCP.pack(seg.src_port, seg.dst_port, seg.seq, seg.ack, 0x5000 | flags,
                         seg.window, 0, seg.urgent)
    elif (
        len(options) == 3 and type(options[2]) is Timestamps and type(options[0]) is Nop
        and type(options[1]) is Nop and seg.checksum is None and not seg.padding
        and not seg.reserved
    ):
        ts = options[2]
        head = _TCP_TS.pack(seg.src_port, seg.dst_port, seg.seq, seg.ack, 0x8000 | flags,
                            seg.window, 0, seg.urgent, 0x0101080A, ts.value, ts.echo)
    elif (
        len(options) == 5 and type(options[0]) is Mss and type(options[1]) is SackPermitted
        and type(options[2]) is Timestamps and type(options[3]) is Nop
        and type(options[4]) is WindowScale and seg.checksum is None and not seg.padding
        and not seg.reserved
    ):  # Linux's SYN and SYN-ACK options: mss, sackOK, TS, nop, wscale
        mss, ts, ws = options[0], options[2], options[4]
        head = _TCP_SYN.pack(seg.src_port, seg.dst_port, seg.seq, seg.ack, 0xA000 | flags,
                             seg.window, 0, seg.urgent, 0x0204, mss.value, 0x0402080A, ts.value,
                             ts.echo, 1, 3, 3, ws.shift)
    else:
        tcp = build_tcp(seg, src, dst)
        if partial:
            folded = ones_complement_sum(b"", pseudo + len(tcp))
            tcp = tcp[:16] + folded.to_bytes(2, "big") + tcp[18:]
        return tcp
    payload = seg.payload
    length = len(head) + len(payload)
    if partial:
        checksum = ones_complement_sum(b"", pseudo + length)
    else:
        checksum = internet_checksum(head + payload, pseudo + length)
    return head[:16] + checksum.to_bytes(2, "big") + head[18:] + payload


def _tw_key(key: Key) -> bytes:
    """The 4-tuple as one bytes object (the key of TIME-WAIT records)."""
    return key[0] + key[1].to_bytes(2, "big") + key[2] + key[3].to_bytes(2, "big")
