"""A direct printer for the frames most captures are made of.

Ethernet (with or without 802.1Q/802.1ad tags), Linux SLL, BSD null/loopback and raw-IP frames
that carry an IPv4 header without options or an IPv6 header without extension headers, then a
TCP header whose options are among NOP, EOL, MSS, window scale, SACK-permitted, SACK and
timestamps at their usual lengths, with the whole datagram captured. For these, tcpdump's
printers (ether_print -> ip_print / ip6_print -> tcp_print) take one straight path that never
prints error text; `_FastPath` produces the same line from one struct call for the headers,
with address text cached per address/port pair.

Any other frame goes to the general printers (link.py, ip.py, tcp.py). They stay the
reference: tests run both on random and crafted frames and require equal lines.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable

from synack.capture.packet import Record
from synack.capture.tcpdump.apps import Decoder, decoder_for
from synack.capture.tcpdump.flags import _FLAGS_TEXT
from synack.capture.tcpdump.packet import _MASK32
from synack.capture.tcpdump.text import _clock, format_ipv4, format_ipv6

# The header fields the printers read, from the IP header on (print-ip.c, print-ip6.c,
# print-tcp.c). IPv4 without options: version/IHL, total length, fragment field with TTL and
# protocol. IPv6: version (high nibble), payload length, next header. Then, for both, the
# source address to the destination port as one bytes key (the flow's), seq, ack, data offset,
# flags, window and urgent pointer. The `_OPTS` forms add the first 12 option bytes, as a kinds
# word, a value and an echo (the usual NOP, NOP, timestamps), for a frame that holds them.
_V4_TCP = "BxH2xI2x12sIIBBH2xH"
_V6_TCP = "B3xHBx36sIIBBH2xH"
_OPTS = "III"
_IPV4 = struct.Struct("!" + _V4_TCP)
_IPV4_OPTS = struct.Struct("!" + _V4_TCP + _OPTS)
_IPV6 = struct.Struct("!" + _V6_TCP)
_IPV6_OPTS = struct.Struct("!" + _V6_TCP + _OPTS)
_NO_OPTIONS = (0, 0, 0)
_V4_FRAGMENT_PROTOCOL = 0x1FFF00FF  # fragment offset and protocol (not TTL) in that field
# The protocols after which the general printers can still meet TCP (ip_demux_print: TCP,
# IP-in-IP, IPv6-in-IP, GRE, AH; ip6_print adds hop-by-hop, routing, fragment and destination
# options headers). A datagram of any other protocol is not printed at all.
_IPV4_FOLLOWED = frozenset({6, 4, 41, 47, 51})
_IPV6_FOLLOWED = _IPV4_FOLLOWED | {0, 43, 44, 60}
_NOP_NOP_TS = 0x0101080A
_U16 = struct.Struct("!H")
_U32_PAIR = struct.Struct("!II")
# A flow's key: source and destination addresses, source and destination ports.
_V4_KEY = struct.Struct("!4s4sHH")
_V6_KEY = struct.Struct("!16s16sHH")
# Linux's SYN and SYN-ACK options: mss, sackOK, TS, nop, wscale (20 bytes).
_LINUX_SYN = struct.Struct("!HHIIIHBB")
_LINUX_SYN_KINDS = (0x0204, 0x0402080A, 0x0103, 3)  # the kind/length bytes of that layout

_DLT_NULL, _DLT_EN10MB, _DLT_RAW_BSD, _DLT_RAW, _DLT_LOOP = 0, 1, 12, 101, 108
_DLT_LINUX_SLL, _DLT_IPV4, _DLT_IPV6 = 113, 228, 229
_RAW_IP_LINKS = frozenset({_DLT_RAW_BSD, _DLT_RAW, _DLT_IPV4, _DLT_IPV6})
_ETHERTYPE_IPV4, _ETHERTYPE_IPV6 = b"\x08\x00", b"\x86\xdd"
_ETHERTYPE_VLANS = frozenset({b"\x81\x00", b"\x88\xa8", b"\x91\x00", b"\x92\x00"})
_AF_INET, _AF_INET6_BSD = 2, frozenset({24, 28, 30})

_ACK, _SYN_FIN_RST, _SYN, _URG = 0x10, 0x07, 0x02, 0x20
_NS_PER_SECOND = 1_000_000_000
_DIGITS3 = tuple(f"{n:03d}" for n in range(1000))  # microseconds as two groups of three digits
_FLOW_CACHE_SIZE = 1 << 16
# Decimal text of 16-bit values (windows, lengths), filled as values are met: a list index
# costs a fraction of an int's conversion to text.
_DECIMAL = [""] * (1 << 16)
_NO_CUT = 1 << 62  # a snapshot length no record reaches

# A flow's cached text and keys: the "IP a.p > b.q: " prefix, the conversation key of tcpdump's
# tcp_seq_hash (canonical order), whether this direction is the reverse of it, and the
# application decoder its ports select.
_Flow = tuple[str, bytes, bool, Decoder | None]


class _FastPath:
    """tcpdump's lines for common frames; other frames go to the general printers.

    Shares the conversation table with the general printer (`bases`: canonical address/port
    bytes -> (initial seq, initial ack), see formatter._SeqTracker), so the two can alternate.
    """

    def __init__(self, bases: dict[bytes, tuple[int, int]], absolute: bool) -> None:
        self.bases = bases
        self.absolute = absolute
        self.flows: dict[bytes, _Flow] = {}
        self.second_ns = -_NS_PER_SECOND  # the start of the last timestamp's second
        self.clock = ""  # its `HH:MM:SS.` text

    def line(self, timestamp_ns: int, link_type: int, data: bytes, wire: int) -> str | None:
        """The line for one frame, or None when this path leaves the frame to the general
        printers (`wire`: the frame's length on the wire, at least the captured length)."""
        lines: list[str] = []
        self.run([(timestamp_ns, link_type, data, wire, 0)], _NO_CUT, _left, lines.append)
        return lines[0] if lines else None

    def run(
        self,
        records: Iterable[Record],
        snapshot: int,
        general: Callable[[int, int, bytes, int], str | None],
        emit: Callable[[str], object],
    ) -> None:
        """`emit` the line of each TCP record, its data cut to `snapshot` bytes as libpcap does.

        Frames this path does not take go to `general(timestamp_ns, link_type, data, wire)`
        (their line, or None for frames tcpdump does not print as TCP); IP datagrams of a
        protocol that cannot lead to TCP are passed over here. One loop with the state in local
        variables: this is the per-packet cost of `synack trace`.
        """
        flows, bases, relative = self.flows, self.bases, not self.absolute
        second_ns, clock = self.second_ns, self.clock
        for timestamp_ns, link_type, data, original_length, _ in records:
            size = len(data)
            if size > snapshot:
                data = data[:snapshot]
                size = snapshot
            line = None  # "": no line; None: the general printers decide
            while True:  # one pass; `break` leaves the frame to the general printers
                # Link layer (ether_print; nothing of it is printed without -e): where IP starts.
                if link_type == _DLT_EN10MB and size >= 54:
                    if data[12] == 0x08 and data[13] == 0x00:
                        offset, v6 = 14, False
                    elif data[12] == 0x86 and data[13] == 0xDD:
                        offset, v6 = 14, True
                    else:
                        found = _network(link_type, data)  # 802.1Q/802.1ad tags
                        if found is None:
                            break
                        offset, v6 = found
                else:
                    found = _network(link_type, data)
                    if found is None:
                        break
                    offset, v6 = found
                # IP (ip_print, ip6_print): no IPv4 options or IPv6 extension headers, all of the
                # datagram captured, so no "truncated-ip" (the wire length is at least that).
                size -= offset
                if v6:
                    if size >= 72:
                        fields = _IPV6_OPTS.unpack_from(data, offset)
                    elif size >= 60:
                        fields = _IPV6.unpack_from(data, offset) + _NO_OPTIONS
                    else:
                        if size > 6 and data[offset + 6] not in _IPV6_FOLLOWED:
                            line = ""  # not TCP, as below: no line
                        break
                    version, tcp_len, nh, key, seq, ack, doff, flags, win, urg, kinds, v, e = fields
                    if version & 0xF0 != 0x60 or nh != 6 or not 20 <= tcp_len <= size - 40:
                        if nh not in _IPV6_FOLLOWED:
                            line = ""  # neither TCP nor a header ip6_print follows to it
                        break  # not IPv6, an extension header, not TCP, cut short
                    tcp = offset + 40
                else:
                    if size >= 52:
                        fields = _IPV4_OPTS.unpack_from(data, offset)
                    elif size >= 40:
                        fields = _IPV4.unpack_from(data, offset) + _NO_OPTIONS
                    else:
                        if size > 9 and data[offset + 9] not in _IPV4_FOLLOWED:
                            line = ""  # not TCP, as below: no line
                        break
                    vihl, total, frag, key, seq, ack, doff, flags, win, urg, kinds, v, e = fields
                    if vihl != 0x45 or frag & _V4_FRAGMENT_PROTOCOL != 6 or not 40 <= total <= size:
                        if frag & 0xFF not in _IPV4_FOLLOWED:
                            line = ""  # neither TCP nor a protocol ip_print follows to it
                        break  # options, a later fragment, not TCP, cut short
                    tcp_len = total - 20
                    tcp = offset + 20
                # TCP (tcp_print): a header length that fits, and the options.
                hlen = (doff >> 4) << 2
                if hlen < 20 or hlen > tcp_len:
                    break
                flow = flows.get(key)
                if flow is None:
                    flow = self._flow(key, v6)
                prefix, conversation, rev, decoder = flow
                usual = hlen == 32 and kinds == _NOP_NOP_TS  # NOP, NOP, timestamps
                if hlen == 20 or usual:
                    options = ""
                else:
                    listed = _linux_syn_options(data, tcp + 20) if hlen == 40 else None
                    if listed is None:
                        sack = (bases, conversation, rev, ack, flags, relative)
                        listed = _usual_options(data, tcp + 20, hlen - 20, sack)
                        if listed is None:
                            break
                    options = listed
                # tcp_seq_hash: relative numbers against the conversation's first (not -S).
                if flags & _ACK and relative:
                    base = bases.get(conversation)
                    if base is None or flags & _SYN:  # a new conversation: printed absolute
                        if rev:
                            bases[conversation] = ((ack - 1) & _MASK32, seq)
                        else:
                            bases[conversation] = (seq, (ack - 1) & _MASK32)
                    elif rev:
                        seq, ack = (seq - base[1]) & _MASK32, (ack - base[0]) & _MASK32
                    else:
                        seq, ack = (seq - base[0]) & _MASK32, (ack - base[1]) & _MASK32
                payload = tcp_len - hlen
                if payload:
                    numbers = f", seq {seq}:{(seq + payload) & _MASK32}"
                elif flags & _SYN_FIN_RST:
                    numbers = f", seq {seq}"
                else:
                    numbers = ""
                # The timestamp (ts_format, as text.format_timestamp): a clock text per second.
                nanos = timestamp_ns - second_ns
                if not 0 <= nanos < _NS_PER_SECOND:
                    second, nanos = divmod(timestamp_ns, _NS_PER_SECOND)
                    second_ns = self.second_ns = timestamp_ns - nanos
                    clock = self.clock = _clock(second % 86400) + "."
                micros = nanos // 1000
                window = _DECIMAL[win] or _decimal(win)
                length = _DECIMAL[payload] or _decimal(payload)
                if usual and flags & (_ACK | _URG) == _ACK:  # most segments of a connection
                    acked = (_DECIMAL[ack] or _decimal(ack)) if ack < 65536 else ack
                    line = (
                        f"{clock}{_DIGITS3[micros // 1000]}{_DIGITS3[micros % 1000]} {prefix}"
                        f"{_FLAGS_TEXT[flags]}{numbers}, ack {acked}, win {window}"
                        f", options [nop,nop,TS val {v} ecr {e}], length {length}"
                    )
                else:
                    if usual:
                        options = f", options [nop,nop,TS val {v} ecr {e}]"
                    if flags & _URG:
                        options = f", urg {urg}{options}"
                    if flags & _ACK:
                        numbers = f"{numbers}, ack {ack}"
                    line = (
                        f"{clock}{_DIGITS3[micros // 1000]}{_DIGITS3[micros % 1000]} {prefix}"
                        f"{_FLAGS_TEXT[flags]}{numbers}, win {window}{options}, length {length}"
                    )
                if payload and decoder is not None:  # tcp_print's port-based decoders
                    text, truncated = decoder(data, tcp + hlen, payload, tcp + tcp_len)
                    line += text if truncated is None else f"{text} [|{truncated}]"
                break
            if line:
                emit(line)
            elif line is None:
                wire = original_length if original_length > size else size
                line = general(timestamp_ns, link_type, data, wire)
                if line is not None:
                    emit(line)

    def _flow(self, key: bytes, v6: bool) -> _Flow:
        """Text and keys of a conversation's two directions (cached; the cache is bounded)."""
        if v6:
            src, dst, sport, dport = _V6_KEY.unpack(key)
            reverse = _V6_KEY.pack(dst, src, dport, sport)
            ip, src_text, dst_text = "IP6", format_ipv6(src), format_ipv6(dst)
        else:
            src, dst, sport, dport = _V4_KEY.unpack(key)
            reverse = _V4_KEY.pack(dst, src, dport, sport)
            ip, src_text, dst_text = "IP", format_ipv4(src), format_ipv4(dst)
        # tcp_seq_hash's key order: lower port first, on equal ports the lower address first.
        rev = sport > dport or (sport == dport and src > dst)
        conversation = reverse if rev else key
        decoder = decoder_for(sport, dport)
        flows = self.flows
        if len(flows) >= _FLOW_CACHE_SIZE:
            flows.clear()
        source, destination = f"{src_text}.{sport}", f"{dst_text}.{dport}"
        # The other direction's entry first (when both directions are one, the key's wins).
        flows[reverse] = (f"{ip} {destination} > {source}: ", conversation, not rev, decoder)
        flow = flows[key] = (f"{ip} {source} > {destination}: ", conversation, rev, decoder)
        return flow


def _decimal(value: int) -> str:
    """`str(value)` for a 16-bit value, remembered in `_DECIMAL`."""
    text = _DECIMAL[value] = str(value)
    return text


def _left(timestamp_ns: int, link_type: int, data: bytes, wire: int) -> None:
    """The `general` of `_FastPath.line`: frames the fast path does not take have no line."""
    return None


# What a SACK option needs to print its blocks: the conversation table, the conversation's key,
# whether the segment goes in its reverse direction, the segment's ack, flags, and whether
# numbers are relative (not -S).
_SackContext = tuple[dict[bytes, tuple[int, int]], bytes, bool, int, int, bool]


def _sack_base(context: _SackContext) -> int:
    """What SACK blocks are printed relative to (print-tcp.c): the peer's initial sequence
    number, like ack, including for a segment that starts the conversation; 0 with -S or no ACK."""
    bases, conversation, rev, ack, flags, relative = context
    if not (flags & _ACK and relative):
        return 0
    base = bases.get(conversation)
    if base is None or flags & _SYN:  # the segment starts the conversation: its ack - 1
        return (ack - 1) & _MASK32
    return base[0] if rev else base[1]


def _linux_syn_options(data: bytes, start: int) -> str | None:
    """The options of Linux's SYN and SYN-ACK (mss, sackOK, TS, nop, wscale: 20 bytes), as
    tcp_print prints them; None for another layout of 20 bytes."""
    kinds_a, mss, kinds_b, value, echo, kinds_c, wscale_len, shift = _LINUX_SYN.unpack_from(
        data, start
    )
    if (kinds_a, kinds_b, kinds_c, wscale_len) != _LINUX_SYN_KINDS:
        return None
    return f", options [mss {mss},sackOK,TS val {value} ecr {echo},nop,wscale {shift}]"


def _network(link_type: int, data: bytes) -> tuple[int, bool] | None:
    """Where IPv4 or IPv6 starts, and whether it is v6 (ether_print with 802.1Q/802.1ad tags,
    sll_print, null_print, raw_print); None for anything else."""
    if link_type == _DLT_EN10MB:
        ethertype = data[12:14]
        offset = 14
        while ethertype in _ETHERTYPE_VLANS:
            ethertype = data[offset + 2 : offset + 4]
            offset += 4
        if ethertype == _ETHERTYPE_IPV4:
            return offset, False
        return (offset, True) if ethertype == _ETHERTYPE_IPV6 else None
    if link_type in _RAW_IP_LINKS:
        if not data:
            return None
        version = data[0] >> 4
        return (0, version == 6) if version in (4, 6) else None
    if link_type == _DLT_LINUX_SLL:
        protocol = data[14:16]
        if protocol == _ETHERTYPE_IPV4:
            return 16, False
        return (16, True) if protocol == _ETHERTYPE_IPV6 else None
    if link_type in (_DLT_NULL, _DLT_LOOP):
        if len(data) < 4:
            return None
        family = int.from_bytes(data[:4], "big" if link_type == _DLT_LOOP else "little")
        if family & 0xFFFF0000:
            family = int.from_bytes(family.to_bytes(4, "big"), "little")
        if family == _AF_INET:
            return 4, False
        return (4, True) if family in _AF_INET6_BSD else None
    return None


def _usual_options(data: bytes, cp: int, left: int, sack: _SackContext) -> str | None:
    """NOP, EOL, MSS, wscale, sackOK, SACK and TS at their usual lengths, as tcp_print prints
    them; None for any other kind or length (the general printer then handles the frame)."""
    parts: list[str] = []
    while left > 0:
        kind = data[cp]
        if kind == 1:
            parts.append("nop")
            cp += 1
            left -= 1
            continue
        if kind == 0:
            parts.append("eol")  # tcpdump stops at the end of the option list
            break
        if left < 2:
            return None
        length = data[cp + 1]
        if length > left:
            return None
        if kind == 8 and length == 10:
            value, echo = _U32_PAIR.unpack_from(data, cp + 2)
            parts.append(f"TS val {value} ecr {echo}")
        elif kind == 2 and length == 4:
            parts.append(f"mss {_U16.unpack_from(data, cp + 2)[0]}")
        elif kind == 3 and length == 3:
            parts.append(f"wscale {data[cp + 2]}")
        elif kind == 4 and length == 2:
            parts.append("sackOK")
        elif kind == 5 and length >= 10 and (length - 2) % 8 == 0:
            parts.append(_sack(data, cp + 2, (length - 2) // 8, _sack_base(sack)))
        else:
            return None
        cp += length
        left -= length
    return f", options [{','.join(parts)}]"


def _sack(data: bytes, cp: int, count: int, base: int) -> str:
    """RFC 2018 blocks, as `sack N {start:end}...`."""
    blocks = [
        f"{{{(start - base) & _MASK32}:{(end - base) & _MASK32}}}"
        for start, end in _U32_PAIR.iter_unpack(data[cp : cp + 8 * count])
    ]
    return f"sack {count} {''.join(blocks)}"
