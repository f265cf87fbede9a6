"""The chunked byte source and the shared read state of a capture reader.

A reader never holds the whole file: it keeps one buffer of at most a chunk (1 MiB) plus the
unread tail of the previous chunk, and `offset` arithmetic (`base` + position in the buffer)
names file offsets for error reports.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from synack.capture.packet import InterfaceInfo, Truncation

CHUNK_SIZE = 1 << 20


class Stream:
    """A binary file read forwards in large chunks, plus what the parser learned so far."""

    __slots__ = ("base", "buf", "file", "interfaces", "off", "packets_read", "read", "truncated")

    def __init__(self, file: BinaryIO, first: bytes) -> None:
        self.file = file
        # read1 (one system call at most) lets a live pipe (`tcpdump -w - | ...`) flow packet by
        # packet instead of waiting for a full chunk; raw files' read already behaves so.
        self.read: Callable[[int], bytes] = getattr(file, "read1", file.read)
        self.buf = first  # bytes of the file starting at offset `base`
        self.base = 0
        self.off = 0  # where parsing resumes, relative to `buf`
        self.packets_read = 0
        self.truncated: Truncation | None = None
        self.interfaces: list[InterfaceInfo] = []

    def more(self, need: int = 0) -> bytes:
        """Read the next chunk: at least `need` bytes unless the file ends first (b"" at EOF)."""
        size = need if need > CHUNK_SIZE else CHUNK_SIZE
        data = self.read(size)
        if not data or len(data) >= need:
            return data
        parts = [data]
        got = len(data)
        while got < need:  # short reads from pipes
            data = self.read(size - got)
            if not data:
                break
            parts.append(data)
            got += len(data)
        return b"".join(parts)

    def count_of(self, records: Iterator[Any]) -> int:
        """Packets yielded so far by the parser generator `records` reading this stream.

        The generators count in a local `n` (an attribute store per packet is measurably slower)
        and copy it to `packets_read` when they finish; while suspended, their local is read.
        """
        if inspect.isgenerator(records):
            n = inspect.getgeneratorlocals(records).get("n")
            if isinstance(n, int):
                return n
        return self.packets_read

    def stop(self, offset: int, message: str) -> None:
        """Record why reading stopped at file offset `offset`."""
        self.truncated = Truncation(offset, message)
