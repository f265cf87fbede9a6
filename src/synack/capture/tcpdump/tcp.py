"""The TCP header and options as tcpdump prints them."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from synack.capture.tcpdump.apps import _application
from synack.capture.tcpdump.flags import _ACK, _FIN, _FLAGS_TEXT, _RST, _SYN, _URG
from synack.capture.tcpdump.mptcp import _Mptcp
from synack.capture.tcpdump.packet import _MASK32, _BadOption, _Packet, _Stop, _Truncated

if TYPE_CHECKING:
    from synack.capture.tcpdump.formatter import _SeqTracker
    from synack.capture.tcpdump.ip import _IpContext


_TCP_HEADER = struct.Struct("!HHIIBBHHH")
_PORTS = struct.Struct("!HH")
_TIMESTAMPS = struct.Struct("!II")


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


class _TcpLayer:
    """The TCP printer; relative sequence numbers come from the formatter's tracker."""

    absolute: bool
    _seq: _SeqTracker

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
