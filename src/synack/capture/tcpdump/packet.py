"""Captured bytes as tcpdump's printers walk them, and how a printer ends a line early."""

from __future__ import annotations

_MASK32 = 0xFFFFFFFF


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
