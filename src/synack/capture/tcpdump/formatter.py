"""The stateful formatter and the capture readers built on it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from synack.capture.tcpdump.ip import _IpContext
from synack.capture.tcpdump.link import _LinkLayers
from synack.capture.tcpdump.packet import _MASK32, _Packet, _Stop, _Truncated
from synack.capture.tcpdump.text import format_timestamp

if TYPE_CHECKING:
    from synack.capture.reader import CaptureReader


_LIBPCAP_MAX_SNAPLEN = 262144  # libpcap's MAXIMUM_SNAPLEN


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
    snapshot: int | None = None
    records = reader.iter_records()
    for number, (timestamp_ns, link_type, data, original_length, _) in enumerate(records, 1):
        if snapshot is None:
            snaplen = reader.snaplen or 0
            pcap = reader.format == "pcap" and 0 < snaplen <= _LIBPCAP_MAX_SNAPLEN
            snapshot = snaplen if pcap else _LIBPCAP_MAX_SNAPLEN
        if len(data) > snapshot:
            data = data[:snapshot]
        line = formatter.format(timestamp_ns, link_type, data, original_length)
        if line is not None:
            yield number, timestamp_ns, link_type, data, line


@dataclass(slots=True)
class _SeqBase:
    seq: int
    ack: int


class _SeqTracker:
    """tcpdump's per-conversation initial sequence numbers (print-tcp.c `tcp_seq_hash`).

    One entry per address/port pair, keyed in a canonical order (lower port first; on equal ports
    the lower address first). An entry is created, or replaced when the segment carries SYN, by
    any segment with ACK set; that segment is printed with absolute numbers. Later ACK segments of
    the pair print both numbers relative to the entry. Segments without ACK never touch it.
    """

    def __init__(self) -> None:
        self._bases: dict[tuple[int, bytes, bytes, int], _SeqBase] = {}

    def relate(
        self, ip: _IpContext, sport: int, dport: int, seq: int, ack: int, syn: bool
    ) -> tuple[int, int, int, int, bool]:
        """Return (seq, ack, base_seq, base_ack, reversed) as tcpdump prints and uses them."""
        rev = sport > dport or (sport == dport and ip.src > ip.dst)
        if rev:
            key = (ip.version, ip.dst, ip.src, (dport << 16) | sport)
        else:
            key = (ip.version, ip.src, ip.dst, (sport << 16) | dport)
        base = self._bases.get(key)
        if base is None or syn:
            if rev:
                base = _SeqBase(seq=(ack - 1) & _MASK32, ack=seq)
            else:
                base = _SeqBase(seq=seq, ack=(ack - 1) & _MASK32)
            self._bases[key] = base
        elif rev:
            seq, ack = (seq - base.ack) & _MASK32, (ack - base.seq) & _MASK32
        else:
            seq, ack = (seq - base.seq) & _MASK32, (ack - base.ack) & _MASK32
        return seq, ack, base.seq, base.ack, rev


class TcpdumpFormatter(_LinkLayers):
    """Formats captured frames exactly as `TZ=UTC tcpdump -nn -r` (`-S` when `absolute`)."""

    def __init__(self, absolute: bool = False) -> None:
        self.absolute = absolute
        self._seq = _SeqTracker()

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
        wire = len(data) if original_length is None else max(original_length, len(data))
        packet = _Packet(bytes(data))
        try:
            self._link(packet, link_type, wire)
        except _Truncated as trunc:
            packet.emit(f" [|{trunc.protocol}]{trunc.suffix}")
        except _Stop:
            pass
        if not packet.tcp:
            return None
        return f"{format_timestamp(timestamp_ns)} {''.join(packet.out)}"
