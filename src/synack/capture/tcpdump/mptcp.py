"""Multipath TCP options as tcpdump prints them."""

from __future__ import annotations

from synack.capture.tcpdump.flags import _ACK, _SYN
from synack.capture.tcpdump.packet import _Packet
from synack.capture.tcpdump.text import format_ipv4, format_ipv6

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
            if not (read := self._dss_number(cp, n, bool(dss_flags & 0x02))):
                return False
            cp, n = read
        if dss_flags & 0x04:
            p.emit(" seq ")
            if not (read := self._dss_number(cp, n, bool(dss_flags & 0x08))):
                return False
            cp, n = read
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

    def _dss_number(self, cp: int, n: int, wide: bool) -> tuple[int, int] | None:
        """Print a DSS data ACK or sequence number (8 bytes if `wide`, else 4) at `cp`; the
        position and bytes left after it, or None if fewer than that are left."""
        size = 8 if wide else 4
        if n < size:
            return None
        p = self.p
        p.emit(f"{p.u64(cp) if wide else p.u32(cp)}")
        return cp + size, n - size

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
