"""Lines identical to what `TZ=UTC tcpdump -nn -r FILE` (tcpdump 4.99) prints for TCP packets.

The formatter walks the captured bytes the way tcpdump's printers do, including their behaviour
on short captures (`[|tcp]`), malformed headers (`[bad hdr length ...]`, `bad-len`, `[bad opt]`)
and what tcpdump shows without `-e`:

- links: Ethernet (802.1Q/802.1ad tags, 802.3 LLC/SNAP, PPPoE sessions, MPLS labels), Linux
  SLL and SLL2 (interface name and direction), BSD null/loopback, PPP, raw IPv4/IPv6;
- IPv4 (options, fragments, IP-in-IP, GRE) and IPv6 (hop-by-hop, destination options, routing
  incl. segment routing, fragment and AH headers);
- TCP: flags, relative sequence numbers, window, urgent pointer and every option tcpdump names
  (MSS, window scale, SACK, timestamps, MD5, TCP-AO, UTO, TFO, MPTCP, unknown kinds);
- after `length N`, the first line of SMTP, SSH, FTP, HTTP and RTSP payloads.

Not reproduced: other application decoders (DNS, BGP, SMB, NFS ...), tunnels carried over UDP
(VXLAN, Geneve; tcpdump prints their inner packet on a second line), 802.11/radiotap links and
IPv6 jumbograms. The text up to and including `length N` is what must match; tests compare it
packet by packet with the installed tcpdump.

It is stateful like tcpdump: sequence and acknowledgment numbers are printed relative to the
first numbers seen on a connection (see `_SeqTracker`), unless `absolute` (tcpdump `-S`) is set.
"""

from __future__ import annotations

import functools
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from synack.capture.reader import CaptureReader

__all__ = [
    "TcpdumpFormatter", "format_ipv6", "format_timestamp", "trace_capture", "trace_records",
]

_MASK32 = 0xFFFFFFFF
_LIBPCAP_MAX_SNAPLEN = 262144  # libpcap's MAXIMUM_SNAPLEN

# Link-layer header types (https://www.tcpdump.org/linktypes.html).
_DLT_NULL = 0
_DLT_EN10MB = 1
_DLT_PPP = 9
_DLT_RAW_BSD = 12
_DLT_RAW = 101
_DLT_LOOP = 108
_DLT_LINUX_SLL = 113
_DLT_IPV4 = 228
_DLT_IPV6 = 229
_DLT_LINUX_SLL2 = 276

_ETHERTYPE_IP = 0x0800
_ETHERTYPE_IPV6 = 0x86DD
_ETHERTYPE_MPLS = 0x8847
_ETHERTYPE_MPLS_MULTI = 0x8848
_ETHERTYPE_PPPOE_SESSION = 0x8864
_ETHERTYPE_JUMBO = 0x8870  # an LLC frame larger than 802.3 allows
_ETHERTYPE_TEB = 0x6558  # transparent Ethernet bridging, inside GRE
_ETHERTYPE_VLANS = frozenset({0x8100, 0x88A8, 0x9100, 0x9200})
_ETHERTYPE_NAMES = {
    _ETHERTYPE_IP: "IPv4",
    _ETHERTYPE_IPV6: "IPv6",
    _ETHERTYPE_MPLS: "MPLS unicast",
    _ETHERTYPE_MPLS_MULTI: "MPLS multicast",
}

# BSD address families that mean IPv6 in DLT_NULL/DLT_LOOP headers (NetBSD/OpenBSD, FreeBSD, macOS).
_AF_INET = 2
_AF_INET6_BSD = frozenset({24, 28, 30})

_SLL_PKTTYPES = {0: "In", 1: "B", 2: "M", 3: "P", 4: "Out"}

_IPPROTO_HOPOPTS = 0
_IPPROTO_IPIP = 4
_IPPROTO_TCP = 6
_IPPROTO_UDP = 17
_IPPROTO_IPV6 = 41
_IPPROTO_ROUTING = 43
_IPPROTO_FRAGMENT = 44
_IPPROTO_DCCP = 33
_IPPROTO_SCTP = 132
_IPPROTO_GRE = 47
_IPPROTO_AH = 51
_IPPROTO_DSTOPTS = 60
# Upper layers whose printers print the addresses themselves (tcpdump print-ip.c / print-ip6.c).
_PRINTS_OWN_ADDRESSES = frozenset({_IPPROTO_TCP, _IPPROTO_UDP, _IPPROTO_DCCP, _IPPROTO_SCTP})

# TCP control bits in the order tcpdump prints them (RFC 9293 §3.1; ECE/CWR RFC 3168).
# tcpdump 4.99 reads only the low eight bits, so the AE (ex-NS) bit is never shown.
_FIN, _SYN, _RST, _PSH, _ACK, _URG, _ECE, _CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
_TCP_HEADER = struct.Struct("!HHIIBBHHH")
_PORTS = struct.Struct("!HH")
_TIMESTAMPS = struct.Struct("!II")
_FLAG_LETTERS = (
    (_FIN, "F"),
    (_SYN, "S"),
    (_RST, "R"),
    (_PSH, "P"),
    (_ACK, "."),
    (_URG, "U"),
    (_ECE, "E"),
    (_CWR, "W"),
)

_FLAGS_TEXT = tuple(
    "Flags [" + ("".join(letter for bit, letter in _FLAG_LETTERS if value & bit) or "none") + "]"
    for value in range(256)
)

# TCP option kinds (IANA "TCP Option Kind Numbers") and tcpdump's names for them.
_OPT_EOL, _OPT_NOP, _OPT_MSS, _OPT_WSCALE, _OPT_SACKOK, _OPT_SACK = 0, 1, 2, 3, 4, 5
_OPT_ECHO, _OPT_ECHOREPLY, _OPT_TIMESTAMP = 6, 7, 8
_OPT_CC, _OPT_CCNEW, _OPT_CCECHO = 11, 12, 13
_OPT_SIGNATURE, _OPT_SCPS, _OPT_UTO, _OPT_TCPAO, _OPT_MPTCP = 19, 20, 28, 29, 30
_OPT_FASTOPEN, _OPT_EXPERIMENT2 = 34, 254
_OPTION_NAMES = {
    _OPT_EOL: "eol",
    _OPT_NOP: "nop",
    _OPT_MSS: "mss",
    _OPT_WSCALE: "wscale",
    _OPT_SACKOK: "sackOK",
    _OPT_SACK: "sack",
    _OPT_ECHO: "echo",
    _OPT_ECHOREPLY: "echoreply",
    _OPT_TIMESTAMP: "TS",
    _OPT_CC: "cc",
    _OPT_CCNEW: "ccnew",
    _OPT_CCECHO: "",
    _OPT_SIGNATURE: "md5",
    _OPT_SCPS: "scps",
    _OPT_UTO: "uto",
    _OPT_TCPAO: "tcp-ao",
    _OPT_MPTCP: "mptcp",
    _OPT_FASTOPEN: "tfo",
    _OPT_EXPERIMENT2: "exp",
}
_TCP_SIGLEN = 16
_TFO_EXPERIMENT_MAGIC = 0xF989  # RFC 7413 §4.1.1 / RFC 6994

_MPTCP_SUBTYPES = (
    "capable",
    "join",
    "dss",
    "add-addr",
    "rem-addr",
    "prio",
    "fail",
    "fast-close",
)
_MPTCP_ADD_ADDR_ECHO = {0x6: "v0-ip6", 0x4: "v0-ip4", 0x1: "v1-echo", 0x0: "v1"}


class _Truncated(Exception):
    """The capture ends before a field a printer needs; tcpdump appends ` [|proto]`."""

    def __init__(self, protocol: str, suffix: str = "") -> None:
        super().__init__(protocol)
        self.protocol = protocol
        self.suffix = suffix


class _Stop(Exception):
    """The printer has finished the line early (an error message was printed)."""


class _BadOption(Exception):
    """A TCP option is malformed; tcpdump prints `[bad opt]` and stops."""


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


def format_timestamp(timestamp_ns: int) -> str:
    """`HH:MM:SS.ffffff` in UTC, microseconds truncated as libpcap does for nanosecond files."""
    micros = timestamp_ns // 1000
    seconds, fraction = divmod(micros, 1_000_000)
    day_seconds = seconds % 86400
    hours, rest = divmod(day_seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{fraction:06d}"


@functools.lru_cache(maxsize=4096)
def format_ipv4(raw: bytes) -> str:
    return f"{raw[0]}.{raw[1]}.{raw[2]}.{raw[3]}"


@functools.lru_cache(maxsize=4096)
def format_ipv6(raw: bytes) -> str:
    """IPv6 text as tcpdump's addrtostr6 writes it (RFC 5952 style; IPv4-mapped tails dotted)."""
    words = struct.unpack("!8H", raw)
    best_base, best_len = -1, 0
    cur_base, cur_len = -1, 0
    for i, word in enumerate(words):
        if word == 0:
            if cur_base == -1:
                cur_base, cur_len = i, 1
            else:
                cur_len += 1
        elif cur_base != -1:
            if best_base == -1 or cur_len > best_len:
                best_base, best_len = cur_base, cur_len
            cur_base = -1
    if cur_base != -1 and (best_base == -1 or cur_len > best_len):
        best_base, best_len = cur_base, cur_len
    if best_base != -1 and best_len < 2:
        best_base = -1
    parts: list[str] = []
    i = 0
    while i < 8:
        if best_base != -1 and best_base <= i < best_base + best_len:
            if i == best_base:
                parts.append(":")
            i += 1
            continue
        if i != 0:
            parts.append(":")
        if i == 6 and best_base == 0 and (best_len == 6 or (best_len == 5 and words[5] == 0xFFFF)):
            parts.append(format_ipv4(raw[12:16]))
            break
        parts.append(f"{words[i]:x}")
        i += 1
    if best_base != -1 and best_base + best_len == 8:
        parts.append(":")
    return "".join(parts)


def _interface_name(index: int) -> str:
    """The local interface name for an SLL2 interface index, as tcpdump looks it up (or `?`)."""
    try:
        return socket.if_indextoname(index)
    except (OSError, OverflowError):
        return "?"


@dataclass(slots=True)
class _IpContext:
    """What the TCP printer needs from the enclosing IP header."""

    version: int
    src: bytes
    dst: bytes
    next_is_tcp: bool  # the IP header's own protocol/next-header field says TCP

    def address(self, raw: bytes) -> str:
        return format_ipv4(raw) if self.version == 4 else format_ipv6(raw)


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


class _Packet:
    """Captured bytes with tcpdump's moving "snapshot end" and the output being built."""

    __slots__ = ("data", "end", "out", "protocol", "tcp")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.end = len(data)
        self.out: list[str] = []
        self.protocol = ""
        self.tcp = False

    def emit(self, text: str) -> None:
        self.out.append(text)

    def available(self, offset: int) -> int:
        return max(0, self.end - offset)

    def has(self, offset: int, length: int) -> bool:
        return offset + length <= self.end

    def need(self, offset: int, length: int) -> None:
        if offset + length > self.end:
            raise _Truncated(self.protocol)

    def u8(self, offset: int) -> int:
        self.need(offset, 1)
        return self.data[offset]

    def u16(self, offset: int) -> int:
        self.need(offset, 2)
        return int.from_bytes(self.data[offset : offset + 2], "big")

    def u32(self, offset: int) -> int:
        self.need(offset, 4)
        return int.from_bytes(self.data[offset : offset + 4], "big")

    def u64(self, offset: int) -> int:
        self.need(offset, 8)
        return int.from_bytes(self.data[offset : offset + 8], "big")

    def raw(self, offset: int, length: int) -> bytes:
        self.need(offset, length)
        return self.data[offset : offset + length]

    def limit(self, offset: int, length: int) -> None:
        """Cut the snapshot at `offset + length` (tcpdump nd_push_snaplen)."""
        self.end = min(self.end, offset + max(0, length))


class TcpdumpFormatter:
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

    # -- link layers ---------------------------------------------------------------------------

    def _link(self, p: _Packet, link_type: int, wire: int) -> None:
        if link_type == _DLT_EN10MB:
            self._ethernet(p, wire)
        elif link_type in (_DLT_NULL, _DLT_LOOP):
            self._null(p, wire, big_endian=link_type == _DLT_LOOP)
        elif link_type in (_DLT_RAW, _DLT_RAW_BSD, _DLT_IPV4, _DLT_IPV6):
            self._raw_ip(p, 0, wire)
        elif link_type == _DLT_LINUX_SLL:
            self._sll(p, wire)
        elif link_type == _DLT_LINUX_SLL2:
            self._sll2(p, wire)
        elif link_type == _DLT_PPP:
            self._ppp(p, 0, wire)

    def _ethernet(self, p: _Packet, wire: int) -> None:
        self._ethernet_at(p, 0, wire)

    def _ethernet_at(self, p: _Packet, start: int, length: int) -> None:
        """Ethernet II; without -e tcpdump prints nothing of it, nor of 802.1Q/802.1ad tags."""
        p.protocol = "ether"
        p.need(start, 14)
        offset = start + 12
        ethertype = p.u16(offset)
        offset += 2
        while ethertype in _ETHERTYPE_VLANS:
            p.protocol = "vlan"
            p.need(offset, 4)
            ethertype = p.u16(offset + 2)
            offset += 4
        if ethertype <= 1500:
            self._llc(p, offset, min(ethertype, length - (offset - start)))
            return
        if ethertype == _ETHERTYPE_JUMBO:
            self._llc(p, offset, length - (offset - start))
            return
        self._ethertype(p, ethertype, offset, length - (offset - start))

    def _llc(self, p: _Packet, offset: int, length: int) -> None:
        """IEEE 802.2 LLC in an 802.3 frame: IP by SAP, or SNAP (RFC 1042) with an Ethertype."""
        p.protocol = "llc"
        p.limit(offset, length)
        header = p.raw(offset, 3)
        if header == b"\x06\x06\x03":
            self._ipv4(p, offset + 3, length - 3)
        elif header == b"\xaa\xaa\x03" and p.raw(offset + 3, 3) in (b"\0\0\0", b"\0\0\xf8"):
            self._ethertype(p, p.u16(offset + 6), offset + 8, length - 8)

    def _ethertype(self, p: _Packet, ethertype: int, offset: int, length: int) -> None:
        if ethertype == _ETHERTYPE_IP:
            self._ipv4(p, offset, length)
        elif ethertype == _ETHERTYPE_IPV6:
            self._ipv6(p, offset, length)
        elif ethertype in (_ETHERTYPE_MPLS, _ETHERTYPE_MPLS_MULTI):
            self._mpls(p, offset, length)
        elif ethertype == _ETHERTYPE_TEB:
            self._ethernet_at(p, offset, length)
        elif ethertype == _ETHERTYPE_PPPOE_SESSION:
            self._pppoe(p, offset, length)

    def _pppoe(self, p: _Packet, offset: int, length: int) -> None:
        """PPPoE session stage (RFC 2516 §5): the session id, then the PPP frame."""
        p.protocol = "pppoe"
        p.need(offset, 6)
        if p.data[offset + 1] != 0:  # only session data (code 0) carries IP
            return
        version, kind = p.data[offset] >> 4, p.data[offset] & 0x0F
        if version != 1:
            p.emit(f" [ver {version}]")
        if kind != 1:
            p.emit(f" [type {kind}]")
        session = p.u16(offset + 2)
        payload = p.u16(offset + 4)
        p.emit("PPPoE ")
        remaining = length - 6
        if payload > remaining:
            p.emit(f" [len {payload} > {remaining}!]")
            payload = remaining
        if session:
            p.emit(f" [ses 0x{session:x}]")
        p.emit(" ")
        self._ppp(p, offset + 6, payload)

    def _ppp(self, p: _Packet, offset: int, length: int) -> None:
        """PPP (RFC 1661): address/control bytes when present (0xff 0x03, or pppd's direction
        byte 0x00/0x01 before 0x03), then a one- or two-byte protocol."""
        p.protocol = "ppp"
        if length < 2:
            raise _Truncated("ppp")
        if p.u16(offset) in (0x0003, 0x0103, 0xFF03):
            offset += 2
            length -= 2
        if length < 2:
            raise _Truncated("ppp")
        protocol = p.u8(offset)
        if protocol & 1:  # RFC 1661 §6.5 protocol field compression
            offset, length = offset + 1, length - 1
        else:
            protocol = p.u16(offset)
            offset, length = offset + 2, length - 2
        if protocol in (0x0021, 0x002F, _ETHERTYPE_IP):  # IPv4, Van Jacobson uncompressed
            self._ipv4(p, offset, length)
        elif protocol in (0x0057, _ETHERTYPE_IPV6):
            self._ipv6(p, offset, length)

    def _null(self, p: _Packet, wire: int, *, big_endian: bool) -> None:
        p.protocol = "null"
        p.need(0, 4)
        family = int.from_bytes(p.data[0:4], "big" if big_endian else "little")
        if family & 0xFFFF0000:
            family = int.from_bytes(family.to_bytes(4, "big"), "little")
        if family == _AF_INET:
            self._ipv4(p, 4, wire - 4)
        elif family in _AF_INET6_BSD:
            self._ipv6(p, 4, wire - 4)

    def _raw_ip(self, p: _Packet, offset: int, length: int) -> None:
        p.protocol = "raw"
        version = p.u8(offset) >> 4
        if version == 4:
            self._ipv4(p, offset, length)
        elif version == 6:
            self._ipv6(p, offset, length)

    def _sll(self, p: _Packet, wire: int) -> None:
        p.protocol = "sll"
        p.need(0, 16)
        self._sll_payload(p, p.u16(14), 16, wire - 16)

    def _sll2(self, p: _Packet, wire: int) -> None:
        p.protocol = "sll2"
        p.need(0, 20)
        p.emit(f"{_interface_name(p.u32(4)):<5} ")
        p.emit(f"{_SLL_PKTTYPES.get(p.u8(10), '?'):<3} ")
        self._sll_payload(p, p.u16(0), 20, wire - 20)

    def _sll_payload(self, p: _Packet, protocol: int, offset: int, length: int) -> None:
        if protocol == 0x8100:  # one VLAN tag, announced without -e (print-sll.c)
            p.protocol = "vlan"
            p.need(offset, 4)
            protocol = p.u16(offset + 2)
            name = "Unknown" if protocol <= 1500 else _ETHERTYPE_NAMES.get(protocol, "Unknown")
            p.emit(f"ethertype {name}, ")
            offset += 4
            length -= 4
        self._ethertype(p, protocol, offset, length)

    def _mpls(self, p: _Packet, offset: int, length: int) -> None:
        """RFC 3032 label stack; tcpdump shows it even without -e, then guesses the payload."""
        p.protocol = "mpls"
        p.emit("MPLS")
        while True:
            if length < 4:
                p.emit(" (invalid)")
                raise _Stop
            entry = p.u32(offset)
            label = entry >> 12
            bottom = entry & 0x100
            p.emit(f" (label {label}, tc {(entry >> 9) & 7}")
            if bottom:
                p.emit(", [S]")
            p.emit(f", ttl {entry & 0xFF})")
            offset += 4
            length -= 4
            if bottom:
                break
        if label in (0, 3):
            version = 4
        elif label == 2:
            version = 6
        else:
            if length < 1:
                raise _Stop
            first = p.u8(offset)
            version = 4 if 0x45 <= first <= 0x4F else 6 if 0x60 <= first <= 0x6F else 0
        if version == 4:
            p.emit(" ")
            self._ipv4(p, offset, length)
        elif version == 6:
            p.emit(" ")
            self._ipv6(p, offset, length)

    # -- IP ------------------------------------------------------------------------------------

    def _ipv4(self, p: _Packet, offset: int, length: int) -> None:
        """tcpdump print-ip.c, non-verbose (RFC 791 header; options are not shown)."""
        p.protocol = "ip"
        if p.has(offset + 9, 1) and p.data[offset + 9] == _IPPROTO_TCP:
            p.tcp = p.data[offset] >> 4 == 4
        version = p.u8(offset) >> 4
        if version != 4:
            p.tcp = False
            raise _Stop
        p.emit("IP ")
        p.need(offset, 20)
        if length < 20:
            p.emit(f"truncated-ip {length}")
            raise _Stop
        hlen = (p.data[offset] & 0x0F) * 4
        if hlen < 20:
            p.emit(f"bad-hlen {hlen}")
            raise _Stop
        total = p.u16(offset + 2)
        if length < total:
            p.emit(f"truncated-ip - {total - length} bytes missing! ")
        if total < hlen:
            p.emit(f"bad-len {total}")
            raise _Stop
        p.limit(offset, total)
        frag = p.u16(offset + 6)
        proto = p.u8(offset + 9)
        src = p.raw(offset + 12, 4)
        dst = p.raw(offset + 16, 4)
        if frag & 0x1FFF:
            # Not the first fragment: no upper-layer header to show (RFC 791 §3.2).
            p.emit(f"{format_ipv4(src)} > {format_ipv4(dst)}: ip-proto-{proto}")
            raise _Stop
        if proto not in _PRINTS_OWN_ADDRESSES:
            p.emit(f"{format_ipv4(src)} > {format_ipv4(dst)}: ")
        if not p.has(offset, hlen):
            p.emit(f" [remaining caplen({p.available(offset)}) < header length({hlen})]")
            raise _Truncated(p.protocol)
        context = _IpContext(4, src, dst, proto == _IPPROTO_TCP)
        self._ip_payload(p, proto, offset + hlen, total - hlen, context)

    def _ip_payload(
        self, p: _Packet, proto: int, offset: int, length: int, context: _IpContext
    ) -> None:
        """Hand an IP payload to the next printer (tcpdump ip_demux_print)."""
        if proto == _IPPROTO_TCP:
            self._tcp(p, offset, length, context)
        elif proto == _IPPROTO_IPIP:
            self._ipv4(p, offset, length)
        elif proto == _IPPROTO_IPV6:
            self._ipv6(p, offset, length)
        elif proto == _IPPROTO_GRE:
            self._gre(p, offset, length)
        elif proto == _IPPROTO_AH:
            advance = self._ah(p, offset)
            self._ip_payload(p, p.data[offset], offset + advance, length - advance, context)

    def _ah(self, p: _Packet, offset: int) -> int:
        """IPsec Authentication Header (RFC 4302 §2); returns its length."""
        p.protocol = "ah"
        p.need(offset, 8)
        advance = (p.data[offset + 1] + 2) * 4
        p.emit("AH(")
        reserved = p.u16(offset + 2)
        if reserved:
            p.emit(f"reserved=0x{reserved:x}[MustBeZero],")
        p.emit(f"spi=0x{p.u32(offset + 4):08x},")
        p.emit(f"seq=0x{p.u32(offset + 8):x},icv=0x")
        for i in range(12, advance):
            p.emit(f"{p.u8(offset + i):02x}")
        p.emit("): ")
        return advance

    def _gre(self, p: _Packet, offset: int, length: int) -> None:
        """GRE version 0 (RFC 2784, key and sequence number RFC 2890), as print-gre.c shows it."""
        p.protocol = "gre"
        flags = p.u16(offset)
        if flags & 0x7 != 0:  # PPTP's enhanced GRE (version 1) is not followed
            raise _Stop
        p.emit("GREv0")
        ethertype = p.u16(offset + 2)
        cp = offset + 4
        if flags & 0xC000:  # checksum or routing present: checksum and offset words
            p.emit(f", off 0x{p.u16(cp + 2):x}")
            cp += 4
        if flags & 0x2000:
            p.emit(f", key=0x{p.u32(cp):x}")
            cp += 4
        if flags & 0x1000:
            p.emit(f", seq {p.u32(cp)}")
            cp += 4
        if flags & 0x4000:  # RFC 1701 source route entries: only an empty list is followed
            if p.u16(cp) != 0 or p.u8(cp + 3) != 0:
                raise _Stop
            cp += 4
        p.emit(f", length {length}: ")
        self._ethertype(p, ethertype, cp, length - (cp - offset))

    def _ipv6(self, p: _Packet, offset: int, length: int) -> None:
        """tcpdump print-ip6.c, non-verbose (RFC 8200 header and extension headers)."""
        p.protocol = "ip6"
        if p.has(offset + 6, 1) and p.data[offset + 6] == _IPPROTO_TCP:
            p.tcp = p.data[offset] >> 4 == 6
        p.need(offset, 40)
        if length < 40:
            p.emit(f"truncated-ip6 {length}")
            raise _Stop
        p.emit("IP6 ")
        version = p.data[offset] >> 4
        if version != 6:
            p.tcp = False
            p.emit(f"version error: {version} != 6")
            raise _Stop
        payload_len = p.u16(offset + 4)
        if payload_len != 0:
            total = payload_len + 40
            if length < total:
                p.emit(f"truncated-ip6 - {total - length} bytes missing!")
        else:
            total = 40  # a jumbogram (RFC 2675); tcpdump 4.99 accepts none below 64 KiB
        p.limit(offset, total)
        src = p.raw(offset + 8, 16)
        dst = p.raw(offset + 24, 16)
        first_next = p.data[offset + 6]
        context = _IpContext(6, src, dst, first_next == _IPPROTO_TCP)
        nh = first_next
        cp = offset + 40
        remaining = total - 40
        if nh not in _PRINTS_OWN_ADDRESSES:
            p.emit(f"{format_ipv6(src)} > {format_ipv6(dst)}: ")
        if payload_len == 0 and nh == _IPPROTO_HOPOPTS:
            p.protocol = "hbhopt"
            p.need(cp, (p.u8(cp + 1) + 1) << 3)
            p.emit("HBH [No valid Jumbo Payload Hop-by-Hop option found] (invalid)")
            p.tcp = False
            raise _Stop
        seen_hbh = False
        while True:
            if nh == _IPPROTO_HOPOPTS:
                # RFC 8200 §4.1: only directly after the IPv6 header, and only once.
                if seen_hbh or cp != offset + 40:
                    p.tcp = False
                    which = "was already found" if seen_hbh else "don't follow the IPv6 header"
                    p.emit(f"[The Hop-by-Hop Options header {which}] (invalid)")
                    raise _Stop
                seen_hbh = True
                p.protocol = "hbhopt"
                advance = (p.u8(cp + 1) + 1) << 3
                p.need(cp, advance)
                p.emit("HBH ")
                _ipv6_options(p, cp + 2, advance - 2)
            elif nh == _IPPROTO_DSTOPTS:
                p.protocol = "dstopt"
                advance = (p.u8(cp + 1) + 1) << 3
                p.need(cp, advance)
                p.emit("DSTOPT ")  # its options are only checked with -v
            elif nh == _IPPROTO_ROUTING:
                advance = self._ipv6_routing(p, cp)
            elif nh == _IPPROTO_AH:  # what follows AH goes to the IPv4-style demultiplexer
                advance = self._ah(p, cp)
                self._ip_payload(p, p.data[cp], cp + advance, remaining - advance, context)
                return
            elif nh == _IPPROTO_FRAGMENT:
                p.protocol = "frag6"
                p.need(cp, 8)
                frag_offset = p.u16(cp + 2) & 0xFFF8
                frag_len = total - (cp - offset) - 8
                p.emit(f"frag ({frag_offset}|{frag_len})")
                if p.data[cp] == _IPPROTO_TCP:
                    p.tcp = True
                if frag_offset != 0:
                    raise _Stop  # a later fragment: no upper-layer header (RFC 8200 §4.5)
                p.emit(" ")
                if not p.has(cp + 8, 1):
                    raise _Stop  # tcpdump ends quietly when nothing follows a first fragment
                advance = 8
            else:
                self._ip_payload(p, nh, cp, remaining, context)
                return
            nh = p.data[cp]
            cp += advance
            remaining -= advance

    def _ipv6_routing(self, p: _Packet, cp: int) -> int:
        """RFC 8200 §4.4 routing header, as tcpdump print-rt6.c shows types 0, 2 and 4."""
        p.protocol = "rt6"
        length = p.u8(cp + 1)
        rtype = p.u8(cp + 2)
        segleft = p.u8(cp + 3)
        advance = (length + 1) << 3
        p.emit(f"RT6 (len={length}, type={rtype}")
        if rtype == 0:
            p.emit(" [Deprecated]")
        p.emit(f", segleft={segleft}")
        if rtype == 4:  # segment routing header (RFC 8754 §2)
            p.emit(f", last-entry={p.u8(cp + 4)}")
            if p.u8(cp + 5):
                p.emit(f", flags=0x{p.u8(cp + 5):x}")
            p.emit(f", tag={p.u16(cp + 6):x}")
        elif rtype in (0, 2):
            if rtype == 2 and length != 2:  # RFC 6275 §6.4: exactly one address
                p.emit(f" (invalid length {length}) (invalid)")
                p.tcp = False
                raise _Stop
            reserved = p.u32(cp + 4)
            if reserved:
                p.emit(f", rsv=0x{reserved:x}")
        else:
            p.emit(" (unknown type) (invalid)")
            p.tcp = False
            raise _Stop
        if length % 2:  # addresses are 16 bytes, two 8-byte units each
            p.emit(f" (invalid length {length}) (invalid)")
            p.tcp = False
            raise _Stop
        for i in range(length // 2):
            p.emit(f", [{i}]{format_ipv6(p.raw(cp + 8 + 16 * i, 16))}")
        p.emit(") ")
        p.need(cp, advance)
        return advance

    # -- TCP -----------------------------------------------------------------------------------

    def _tcp(self, p: _Packet, offset: int, length: int, ip: _IpContext) -> None:
        """tcpdump print-tcp.c, non-verbose (RFC 9293 §3.1 header)."""
        p.protocol = "tcp"
        p.tcp = True
        if not p.has(offset, 4):
            p.emit(f"{ip.address(ip.src)} > {ip.address(ip.dst)}:")
            raise _Truncated("tcp")
        sport, dport = _PORTS.unpack_from(p.data, offset)
        if ip.next_is_tcp:
            p.emit(f"{ip.address(ip.src)}.{sport} > {ip.address(ip.dst)}.{dport}: ")
        else:
            p.emit(f"{sport} > {dport}: ")
        p.need(offset, 20)
        _, _, seq, ack, data_offset, flags, window, _, urgent = _TCP_HEADER.unpack_from(
            p.data, offset
        )
        hlen = (data_offset >> 4) * 4
        if hlen < 20:
            p.emit(f" tcp {(length - hlen) & _MASK32} [bad hdr length {hlen} - too short, < 20]")
            raise _Stop
        p.emit(_FLAGS_TEXT[flags])
        base_seq = base_ack = 0
        rev = False
        if not self.absolute and flags & _ACK:
            seq, ack, base_seq, base_ack, rev = self._seq.relate(
                ip, sport, dport, seq, ack, bool(flags & _SYN)
            )
        if hlen > length:
            p.emit(f" [bad hdr length {hlen} - too long, > {length}]")
            raise _Stop
        payload = length - hlen
        if payload > 0 or flags & (_SYN | _FIN | _RST):
            p.emit(f", seq {seq}")
            if payload > 0:
                p.emit(f":{(seq + payload) & _MASK32}")
        if flags & _ACK:
            p.emit(f", ack {ack}")
        p.emit(f", win {window}")
        if flags & _URG:
            p.emit(f", urg {urgent}")
        if hlen > 20:
            sack_base = base_seq if rev else base_ack
            _TcpOptions(p, offset, hlen, payload, flags, sack_base).print()
        p.emit(f", length {payload}")
        if payload > 0:
            if not p.has(offset, hlen):
                p.emit(f" [remaining caplen({p.available(offset)}) < header length({hlen})]")
                raise _Truncated(p.protocol)
            _application(p, offset + hlen, payload, sport, dport)


# Ports whose payload tcpdump hands to a decoder this module does not reproduce, checked before
# the ones it does (print-tcp.c order): telnet, SMTP, whois, BGP, PPTP, Redis, NetBIOS, SMB, BEEP,
# OpenFlow.
_OTHER_DECODER_PORTS = frozenset({43, 179, 1723, 6379, 139, 445, 10288, 6633, 6653})
_HTTP_PORTS = frozenset({80, 8080})
_RTSP_PORTS = frozenset({554, 8554})
_RTSP_METHODS = frozenset(
    {
        # RFC 2326 §10
        "DESCRIBE", "ANNOUNCE", "GET_PARAMETER", "OPTIONS", "PAUSE", "PLAY", "RECORD",
        "REDIRECT", "SETUP", "SET_PARAMETER", "TEARDOWN",
    }
)  # fmt: skip
_HTTP_METHODS = frozenset(
    {
        # RFC 9110, WebDAV (RFC 4918, 3253, 3648, 3744, 5323) and PATCH (RFC 5789)
        "OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "CONNECT",
        "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK",
        "VERSION-CONTROL", "REPORT", "CHECKOUT", "CHECKIN", "UNCHECKOUT", "MKWORKSPACE",
        "UPDATE", "LABEL", "MERGE", "BASELINE-CONTROL", "MKACTIVITY", "ORDERPATCH", "ACL",
        "SEARCH", "PATCH",
    }
)  # fmt: skip
_MAX_TOKEN = 128


def _printable(byte: int) -> bool:
    return 0x20 <= byte <= 0x7E


def _application(p: _Packet, offset: int, length: int, sport: int, dport: int) -> None:
    """The first line of SMTP, SSH, FTP, HTTP and RTSP payloads, as tcpdump appends it."""
    ports = {sport, dport}
    if 23 in ports:  # telnet shows only option negotiation (IAC ...), not decoded here
        p.protocol = "telnet"
        p.u8(offset)
        return
    if 25 in ports:
        p.emit(": ")
        p.protocol = "smtp"
        _text_protocol(p, offset, length, None)
        return
    if ports & _OTHER_DECODER_PORTS:
        return
    if 22 in ports:
        _ssh_banner(p, offset, length)
    elif 21 in ports:
        p.emit(": ")
        p.protocol = "ftp"
        _text_protocol(p, offset, length, None)
    elif ports & _HTTP_PORTS:
        p.emit(": ")
        p.protocol = "http"
        _text_protocol(p, offset, length, _HTTP_METHODS)
    elif ports & _RTSP_PORTS:
        p.emit(": ")
        p.protocol = "rtsp"
        _text_protocol(p, offset, length, _RTSP_METHODS)


def _ssh_banner(p: _Packet, offset: int, length: int) -> None:
    """RFC 4253 §4.2 identification string."""
    p.protocol = "ssh"
    for i, expected in enumerate(b"SSH-"):
        if p.u8(offset + i) != expected:
            return
    for i in range(4, length):
        byte = p.u8(offset + i)
        if byte == 0x0A or (byte == 0x0D and i + 1 < length and p.u8(offset + i + 1) == 0x0A):
            p.emit(f": SSH: {p.data[offset : offset + i].decode('ascii')}")
            return
        if not _printable(byte):
            return


def _token(p: _Packet, offset: int, index: int, length: int) -> tuple[int, str]:
    """tcpdump fetch_token: the next space-separated printable token and where the next starts."""
    token = bytearray()
    while index < length:
        if not p.has(offset + index, 1):
            return 0, ""
        byte = p.data[offset + index]
        if byte > 0x7F:
            return 0, ""
        if byte in b" \t\r\n":
            break
        if not _printable(byte) or len(token) + 2 > _MAX_TOKEN + 1:
            return 0, ""
        token.append(byte)
        index += 1
    if not token:
        return 0, ""
    while index < length and p.has(offset + index, 1):
        byte = p.data[offset + index]
        if byte in b"\r\n" or not _printable(byte) or byte not in b" \t":
            break
        index += 1
    return index, token.decode("ascii")


def _text_protocol(p: _Packet, offset: int, length: int, commands: frozenset[str] | None) -> None:
    """tcpdump txtproto_print without -v: the protocol name, and the first line of a request or
    response (a known command, or a three-digit status code as the second token)."""
    show = commands is None
    if commands is not None:
        index, token = _token(p, offset, 0, length)
        if index:
            show = token.upper() in commands
            index, token = _token(p, offset, index, length)
            if index and len(token) == 3 and token.isdigit():
                show = True
    p.emit(p.protocol.upper())
    if not show:
        return
    for i in range(length):
        byte = p.u8(offset + i)
        if byte == 0x0A:
            break
        if byte == 0x0D:
            if i + 1 >= length or p.u8(offset + i + 1) != 0x0A:
                return
            break
        if not _printable(byte) and byte != 0x09:
            return
    else:
        p.emit(f": {p.data[offset : offset + length].decode('ascii')}")
        raise _Truncated(p.protocol)
    p.emit(f": {p.data[offset : offset + i].decode('ascii')}")


def _ipv6_options(p: _Packet, start: int, length: int) -> None:
    """Check hop-by-hop option TLVs (RFC 8200 §4.2) as tcpdump does even without -v (looking for
    a jumbo payload): nothing is printed unless one is malformed, which ends the line."""
    i = 0
    while i < length:
        kind = p.u8(start + i)
        if kind == 0x00:  # Pad1
            i += 1
            continue
        if i + 1 >= length:
            raise _Truncated(p.protocol)
        size = p.u8(start + i + 1) + 2
        if i + size > length:
            raise _Truncated(p.protocol)
        left = length - i
        if kind == 0x05:  # router alert (RFC 2711)
            if left < 4:
                p.emit("(rtalert: trunc)")
                raise _Truncated(p.protocol)
            if size != 4:
                p.emit(f"(rtalert: invalid len {size - 2})")
                raise _Truncated(p.protocol)
        elif kind == 0xC2:  # jumbo payload (RFC 2675)
            if left < 6:
                p.emit("(jumbo: trunc)")
                raise _Truncated(p.protocol)
            if size != 6:
                p.emit(f"(jumbo: invalid len {size - 2})")
                raise _Truncated(p.protocol)
        elif kind == 0xC9:  # home address (RFC 6275 §6.3)
            if left < 18:
                p.emit("(homeaddr: trunc)")
                raise _Truncated(p.protocol)
            if size < 18:
                p.emit(f"(homeaddr: invalid len {size - 2})")
                raise _Truncated(p.protocol)
        elif left < 2:
            p.emit("(padn: trunc)" if kind == 0x01 else f"(type {kind}: trunc)")
            raise _Truncated(p.protocol)
        i += size


class _TcpOptions:
    """The `options [...]` list (print-tcp.c), with tcpdump's handling of odd lengths."""

    def __init__(
        self, p: _Packet, tcp_offset: int, hlen: int, payload: int, flags: int, sack_base: int
    ) -> None:
        self.p = p
        self.tcp_offset = tcp_offset
        self.tcp_hlen = hlen
        self.payload = payload
        self.flags = flags
        self.sack_base = sack_base
        self.left = hlen - 20  # option bytes not yet accounted for
        self.separator = ""

    def lencheck(self, cp: int, needed: int) -> None:
        """tcpdump LENCHECK: the option must hold `needed` bytes and they must be captured."""
        if needed > self.left:
            raise _BadOption
        if not self.p.has(cp, needed):
            raise _Truncated(self.p.protocol, ">" if self.separator else "")

    def print(self) -> None:
        p = self.p
        start = self.tcp_offset + 20
        if (
            self.left == 12
            and p.data[start : start + 4] == b"\x01\x01\x08\x0a"
            and p.has(start, 12)
        ):
            # The usual NOP, NOP, timestamps layout (RFC 7323 Appendix A), printed directly.
            value, echo = _TIMESTAMPS.unpack_from(p.data, start + 4)
            p.emit(f", options [nop,nop,TS val {value} ecr {echo}]")
            return
        p.emit(", options [")
        try:
            self._walk()
        except _BadOption:
            p.emit("[bad opt]")
            if self.separator:
                p.emit("]")
            raise _Stop from None
        p.emit("]")

    def _walk(self) -> None:
        p = self.p
        cp = self.tcp_offset + 20
        while self.left > 0:
            p.emit(self.separator)
            opt = p.u8(cp)
            cp += 1
            if opt in (_OPT_EOL, _OPT_NOP):
                length = 1
            else:
                length = p.u8(cp)
                cp += 1
                if length < 2 or length > self.left:
                    raise _BadOption
                self.left -= 1
            self.left -= 1
            p.emit(_OPTION_NAMES.get(opt, f"unknown-{opt}"))
            datalen = self._option(opt, cp, length)
            cp += datalen
            self.left -= datalen
            datalen += 1 if opt in (_OPT_EOL, _OPT_NOP) else 2
            if datalen != length:
                p.emit(f"[len {length}]")
            self.separator = ","
            if opt == _OPT_EOL:
                break

    def _option(self, opt: int, cp: int, length: int) -> int:
        """Print one option's data; return how many data bytes tcpdump consumed."""
        p = self.p
        if opt in (_OPT_EOL, _OPT_NOP, _OPT_SACKOK):
            return 0
        if opt == _OPT_MSS:
            self.lencheck(cp, 2)
            p.emit(f" {p.u16(cp)}")
            return 2
        if opt == _OPT_WSCALE:
            self.lencheck(cp, 1)
            p.emit(f" {p.u8(cp)}")
            return 1
        if opt == _OPT_SACK:
            return self._sack(cp, length - 2)
        if opt in (_OPT_CC, _OPT_CCNEW, _OPT_CCECHO, _OPT_ECHO, _OPT_ECHOREPLY):
            self.lencheck(cp, 4)
            p.emit(f" {p.u32(cp)}")
            return 4
        if opt == _OPT_TIMESTAMP:
            self.lencheck(cp, 8)
            p.emit(f" val {p.u32(cp)} ecr {p.u32(cp + 4)}")
            return 8
        if opt == _OPT_SIGNATURE:
            return self._md5(cp)
        if opt == _OPT_SCPS:
            self.lencheck(cp, 2)
            p.emit(f" cap {p.u8(cp):02x} id {p.u8(cp + 1)}")
            return 2
        if opt == _OPT_TCPAO:
            return self._tcp_ao(cp, length - 2)
        if opt == _OPT_MPTCP:
            datalen = length - 2
            self.lencheck(cp, datalen)
            if not _Mptcp(p, cp - 2, length, self.flags).print():
                raise _BadOption
            return datalen
        if opt == _OPT_FASTOPEN:
            datalen = length - 2
            self.lencheck(cp, datalen)
            p.emit(" ")
            self._fastopen(cp, datalen)
            return datalen
        if opt == _OPT_EXPERIMENT2:
            datalen = length - 2
            self.lencheck(cp, datalen)
            if datalen < 2:
                raise _BadOption
            magic = p.u16(cp)
            p.emit("-")
            if magic == _TFO_EXPERIMENT_MAGIC:
                p.emit("tfo")
                self._fastopen(cp + 2, datalen - 2)
            else:
                p.emit(f"{magic:04x}")
            return datalen
        if opt == _OPT_UTO:
            self.lencheck(cp, 2)
            value = p.u16(cp)
            p.emit(f" 0x{value:x}")
            # RFC 5482 §3: the low bit is the granularity (1 = minutes).
            p.emit(f" {(value >> 1) * 60 if value & 1 else value >> 1}")
            return 2
        datalen = length - 2
        if datalen:
            p.emit(" 0x")
        for i in range(datalen):
            self.lencheck(cp, i + 1)
            p.emit(f"{p.u8(cp + i):02x}")
        return datalen

    def _sack(self, cp: int, datalen: int) -> int:
        """RFC 2018 blocks, relative to the peer's initial sequence number like seq/ack."""
        p = self.p
        if datalen % 8 != 0:
            p.emit(" invalid sack")
            return datalen
        p.emit(f" {datalen // 8} ")
        for i in range(0, datalen, 8):
            self.lencheck(cp, i + 4)
            start = p.u32(cp + i)
            self.lencheck(cp, i + 8)
            end = p.u32(cp + i + 4)
            start = (start - self.sack_base) & _MASK32
            end = (end - self.sack_base) & _MASK32
            p.emit(f"{{{start}:{end}}}")
        return datalen

    def _md5(self, cp: int) -> int:
        """RFC 2385 signature; without a secret tcpdump says it cannot check it."""
        p = self.p
        self.lencheck(cp, _TCP_SIGLEN)
        p.emit(" ")
        payload_start = self.tcp_offset + self.tcp_hlen
        if payload_start + self.payload > p.end:
            p.emit("snaplen too short, ")
        else:
            p.emit("shared secret not supplied with -M, ")
        p.emit("can't check - ")
        p.emit(p.raw(cp, _TCP_SIGLEN).hex())
        return _TCP_SIGLEN

    def _tcp_ao(self, cp: int, datalen: int) -> int:
        """RFC 5925 §2.2: KeyID, RNextKeyID, MAC; the length must be at least 4."""
        p = self.p
        if datalen < 2:
            p.emit(" (invalid)")
            return datalen
        self.lencheck(cp, 1)
        p.emit(f" keyid {p.u8(cp)}")
        self.lencheck(cp, 2)
        p.emit(f" rnextkeyid {p.u8(cp + 1)}")
        if datalen > 2:
            p.emit(" mac 0x")
            for i in range(2, datalen):
                self.lencheck(cp, i + 1)
                p.emit(f"{p.u8(cp + i):02x}")
        return datalen

    def _fastopen(self, cp: int, datalen: int) -> None:
        """RFC 7413 §4.1.1 cookie option (or a cookie request when empty)."""
        p = self.p
        if datalen == 0:
            p.emit(" cookiereq")
        elif datalen % 2 != 0 or datalen < 4 or datalen > 16:
            p.emit(" (invalid)")
        else:
            p.emit(f" cookie {p.raw(cp, datalen).hex()}")


class _Mptcp:
    """Multipath TCP option (RFC 8684 §3), as tcpdump print-mptcp.c shows it."""

    def __init__(self, p: _Packet, cp: int, length: int, flags: int) -> None:
        self.p = p
        self.cp = cp
        self.length = length
        self.flags = flags

    def print(self) -> bool:
        p = self.p
        saved_end = p.end
        p.protocol = "mptcp"
        p.end = min(p.end, self.cp + self.length)
        try:
            return self._print()
        finally:
            p.end = saved_end  # the protocol name stays "mptcp", as in tcpdump

    def _print(self) -> bool:
        p = self.p
        if self.length < 3:
            return False
        subtype = min(p.u8(self.cp + 2) >> 4, len(_MPTCP_SUBTYPES))
        name = _MPTCP_SUBTYPES[subtype] if subtype < len(_MPTCP_SUBTYPES) else "unknown"
        p.emit(f" {self.length} {name}")
        printers = (
            self._capable,
            self._join,
            self._dss,
            self._add_addr,
            self._remove_addr,
            self._prio,
            self._fail,
            self._fast_close,
        )
        if subtype >= len(printers):
            return True
        return printers[subtype]()

    def _capable(self) -> bool:
        p, cp, n, flags = self.p, self.cp, self.length, self.flags
        syn_form = n in (12, 4) and flags & _SYN
        ack_form = n in (20, 22) and flags & (_SYN | _ACK) == _ACK
        if not (syn_form or ack_form):
            return False
        version = p.u8(cp + 2) & 0x0F
        if version > 1:
            p.emit(f" Unknown Version ({version})")
            return True
        p.emit(f" v{version}")
        if p.u8(cp + 3) & 0x80:
            p.emit(" csum")
        if n == 12 or n >= 20:
            p.emit(f" {{0x{p.u64(cp + 4):x}")
            if n >= 20:
                p.emit(f",0x{p.u64(cp + 12):x}")
            p.emit("}")
        return True

    def _join(self) -> bool:
        p, cp, n, flags = self.p, self.cp, self.length, self.flags
        if not (
            (n == 12 and flags & _SYN)
            or (n == 16 and flags & (_SYN | _ACK) == (_SYN | _ACK))
            or (n == 24 and flags & _ACK)
        ):
            return False
        if n != 24:
            if p.u8(cp + 2) & 0x01:
                p.emit(" backup")
            p.emit(f" id {p.u8(cp + 3)}")
        if n == 12:
            p.emit(f" token 0x{p.u32(cp + 4):x} nonce 0x{p.u32(cp + 8):x}")
        elif n == 16:
            p.emit(f" hmac 0x{p.u64(cp + 4):x} nonce 0x{p.u32(cp + 12):x}")
        else:
            p.emit(f" hmac 0x{p.raw(cp + 4, 20).hex()}")
        return True

    def _dss(self) -> bool:
        p, cp, n = self.p, self.cp, self.length
        if n < 4 or self.flags & _SYN:
            return False
        dss_flags = p.u8(cp + 3)
        if dss_flags & 0x10:
            p.emit(" fin")
        cp += 4
        n -= 4
        if dss_flags & 0x01:
            p.emit(" ack ")
            if dss_flags & 0x02:
                if n < 8:
                    return False
                p.emit(f"{p.u64(cp)}")
                cp, n = cp + 8, n - 8
            else:
                if n < 4:
                    return False
                p.emit(f"{p.u32(cp)}")
                cp, n = cp + 4, n - 4
        if dss_flags & 0x04:
            p.emit(" seq ")
            if dss_flags & 0x08:
                if n < 8:
                    return False
                p.emit(f"{p.u64(cp)}")
                cp, n = cp + 8, n - 8
            else:
                if n < 4:
                    return False
                p.emit(f"{p.u32(cp)}")
                cp, n = cp + 4, n - 4
            if n < 4:
                return False
            p.emit(f" subseq {p.u32(cp)}")
            cp, n = cp + 4, n - 4
            if n < 2:
                return False
            p.emit(f" len {p.u16(cp)}")
            cp, n = cp + 2, n - 2
            if n >= 2:
                p.emit(f" csum 0x{p.u16(cp):x}")
                n -= 2
        return n == 0

    def _add_addr(self) -> bool:
        p, cp, n = self.p, self.cp, self.length
        if n not in (8, 10, 16, 18, 20, 22, 28, 30):
            return False
        echo = _MPTCP_ADD_ADDR_ECHO.get(p.u8(cp + 2) & 0x0F, "[bad version/echo]")
        p.emit(f" {echo} id {p.u8(cp + 3)}")
        if n in (8, 10, 16, 18):
            p.emit(f" {format_ipv4(p.raw(cp + 4, 4))}")
            if n in (10, 18):
                p.emit(f":{p.u16(cp + 8)}")
            if n == 16:
                p.emit(f" hmac 0x{p.u64(cp + 8):x}")
            if n == 18:
                p.emit(f" hmac 0x{p.u64(cp + 10):x}")
        else:
            p.emit(f" {format_ipv6(p.raw(cp + 4, 16))}")
            if n in (22, 30):
                p.emit(f":{p.u16(cp + 20)}")
            if n == 28:
                p.emit(f" hmac 0x{p.u64(cp + 20):x}")
            if n == 30:
                p.emit(f" hmac 0x{p.u64(cp + 22):x}")
        return True

    def _remove_addr(self) -> bool:
        p, cp, n = self.p, self.cp, self.length
        if n < 4:
            return False
        p.emit(" id")
        for i in range(n - 3):
            p.emit(f" {p.u8(cp + 3 + i)}")
        return True

    def _prio(self) -> bool:
        p, cp, n = self.p, self.cp, self.length
        if n not in (3, 4):
            return False
        p.emit(" backup" if p.u8(cp + 2) & 0x01 else " non-backup")
        if n == 4:
            p.emit(f" id {p.u8(cp + 3)}")
        return True

    def _fail(self) -> bool:
        if self.length != 12:
            return False
        self.p.emit(f" seq {self.p.u64(self.cp + 4)}")
        return True

    def _fast_close(self) -> bool:
        if self.length != 12:
            return False
        self.p.emit(f" key 0x{self.p.u64(self.cp + 4):x}")
        return True
