"""The stateful formatter and the capture readers built on it."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from synack.capture.tcpdump.fast import _FastPath
from synack.capture.tcpdump.ip import _IpContext
from synack.capture.tcpdump.link import _LinkLayers
from synack.capture.tcpdump.packet import _MASK32, _Packet, _Stop, _Truncated
from synack.capture.tcpdump.text import format_timestamp

if TYPE_CHECKING:
    from synack.capture.reader import CaptureReader


_LIBPCAP_MAX_SNAPLEN = 262144  # libpcap's MAXIMUM_SNAPLEN
_PORTS = struct.Struct("!HH")


def trace_capture(reader: CaptureReader, *, absolute: bool = False) -> Iterator[tuple[int, str]]:
    """(packet number from 1, line) for every TCP packet of an open capture, as tcpdump shows them.

    Like libpcap, a pcap record longer than the file's snapshot length is cut to it first.
    """
    for number, _timestamp_ns, _link_type, _data, line in trace_records(reader, absolute=absolute):
        yield number, line


def trace_records(
    reader: CaptureReader, *, absolute: bool = False
) -> Iterator[tuple[int, int, int, bytes, str]]:
    """(packet number from 1, timestamp_ns, link type, data, line) for every TCP packet, with
    the record's data as tcpdump saw it (cut to the snapshot length), for callers that annotate."""
    formatter = TcpdumpFormatter(absolute=absolute)
    snapshot = _snapshot(reader)
    records = reader.iter_records()
    for number, (timestamp_ns, link_type, data, original_length, _) in enumerate(records, 1):
        if len(data) > snapshot:
            data = data[:snapshot]
        line = formatter.format(timestamp_ns, link_type, data, original_length)
        if line is not None:
            yield number, timestamp_ns, link_type, data, line


def write_trace(
    reader: CaptureReader, write_line: Callable[[str], object], *, absolute: bool = False
) -> None:
    """Call `write_line` with each line of `trace_records` as it is made: the fast path for
    common frames, the general printers for the others, in one loop (fast.py)."""
    formatter = TcpdumpFormatter(absolute=absolute, fast=False)
    fast = _FastPath(formatter._seq.bases, absolute)
    fast.run(reader.iter_records(), _snapshot(reader), formatter.format_general, write_line)


def _snapshot(reader: CaptureReader) -> int:
    """The length libpcap cuts records to: a pcap file's snapshot length when it is plausible
    (pcap-common.c max_snaplen_for_dlt), otherwise MAXIMUM_SNAPLEN (pcapng: no cut)."""
    snaplen = reader.snaplen or 0
    if reader.format == "pcap" and 0 < snaplen <= _LIBPCAP_MAX_SNAPLEN:
        return snaplen
    return _LIBPCAP_MAX_SNAPLEN


class _SeqTracker:
    """tcpdump's per-conversation initial sequence numbers (print-tcp.c `tcp_seq_hash`).

    One entry per address/port pair, keyed in a canonical order (lower port first; on equal ports
    the lower address first) by the bytes source address, destination address, source port,
    destination port of that order (12 bytes for IPv4, 36 for IPv6). An entry, (initial seq,
    initial ack) of the canonical direction, is created, or replaced when the segment carries
    SYN, by any segment with ACK set; that segment is printed with absolute numbers. Later ACK
    segments of the pair print both numbers relative to the entry. Segments without ACK never
    touch it. The fast path (fast.py) reads and writes the same table.
    """

    def __init__(self) -> None:
        self.bases: dict[bytes, tuple[int, int]] = {}

    def relate(
        self, ip: _IpContext, sport: int, dport: int, seq: int, ack: int, syn: bool
    ) -> tuple[int, int, int, int, bool]:
        """Return (seq, ack, base_seq, base_ack, reversed) as tcpdump prints and uses them."""
        rev = sport > dport or (sport == dport and ip.src > ip.dst)
        if rev:
            key = ip.dst + ip.src + _PORTS.pack(dport, sport)
        else:
            key = ip.src + ip.dst + _PORTS.pack(sport, dport)
        base = self.bases.get(key)
        if base is None or syn:
            base = ((ack - 1) & _MASK32, seq) if rev else (seq, (ack - 1) & _MASK32)
            self.bases[key] = base
        elif rev:
            seq, ack = (seq - base[1]) & _MASK32, (ack - base[0]) & _MASK32
        else:
            seq, ack = (seq - base[0]) & _MASK32, (ack - base[1]) & _MASK32
        return seq, ack, base[0], base[1], rev


class TcpdumpFormatter(_LinkLayers):
    """Formats captured frames exactly as `TZ=UTC tcpdump -nn -r` (`-S` when `absolute`).

    Common frames take a direct path (fast.py); `fast=False` sends every frame through the
    general printers, the reference that path is tested against.
    """

    def __init__(self, absolute: bool = False, *, fast: bool = True) -> None:
        self.absolute = absolute
        self._seq = _SeqTracker()
        self._fast = _FastPath(self._seq.bases, absolute) if fast else None

    def format(
        self,
        timestamp_ns: int,
        link_type: int,
        data: bytes,
        original_length: int | None = None,
    ) -> str | None:
        """The tcpdump line for a TCP packet, or None when tcpdump would not print it as TCP.

        `original_length` is the frame's length on the wire (pcap `orig_len`); it defaults to the
        captured length. tcpdump uses it to report IP datagrams longer than the frame.
        """
        if type(data) is not bytes:
            data = bytes(data)
        wire = len(data) if original_length is None else max(original_length, len(data))
        if self._fast is not None:
            line = self._fast.line(timestamp_ns, link_type, data, wire)
            if line is not None:
                return line
        return self.format_general(timestamp_ns, link_type, data, wire)

    def format_general(
        self, timestamp_ns: int, link_type: int, data: bytes, wire: int
    ) -> str | None:
        """`format` through the general printers only (`wire`: the frame's length on the wire,
        at least the captured length)."""
        packet = _Packet(data)
        try:
            self._link(packet, link_type, wire)
        except _Truncated as trunc:
            packet.emit(f" [|{trunc.protocol}]{trunc.suffix}")
        except _Stop:
            pass
        if not packet.tcp:
            return None
        return f"{format_timestamp(timestamp_ns)} {''.join(packet.out)}"
