"""Send and receive buffers of a connection.

Nothing here knows sequence numbers (so nothing wraps): the connection maps them to positions.
The receive side reassembles out-of-order data by byte ranges (RFC 9293 §3.10.7.4 SHLD-31: hold
segments that begin beyond RCV.NXT), as smoltcp's assembler does.
"""

from __future__ import annotations

from bisect import bisect_left


class SendBuffer:
    """Bytes written by the program and not yet acknowledged; index 0 is the oldest (SND.UNA's).

    Acknowledged bytes are skipped by an offset and dropped only when that offset reaches the
    end of the data or passes half of it (and 1 MiB): moving the rest down on every ACK would
    cost a copy of the whole buffer per ACK.
    """

    __slots__ = ("_data", "_start", "capacity", "size")

    _COMPACT = 1 << 20

    def __init__(self, capacity: int) -> None:
        self._data = bytearray()
        self._start = 0
        self.capacity = capacity
        self.size = 0  # bytes held: len(self), as an attribute for the per-segment paths

    def __len__(self) -> int:
        return self.size

    @property
    def space(self) -> int:
        return max(0, self.capacity - self.size)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append as much of `data` as fits; returns the number of bytes taken."""
        n = min(len(data), self.capacity - self.size)
        if n <= 0:
            return 0
        self._data += data[:n] if n < len(data) else data
        self.size += n
        return n

    def peek(self, index: int, length: int) -> bytes:
        """`length` bytes from `index` (clipped to what is buffered)."""
        start = self._start + index
        if length <= 4096:  # small: a slice copy costs less than a view
            return bytes(self._data[start : start + length])
        with memoryview(self._data) as view:
            return bytes(view[start : start + length])

    def acknowledge(self, n: int) -> int:
        """Drop the `n` oldest bytes (clipped); returns how many were dropped."""
        n = min(n, self.size)
        if n <= 0:
            return 0
        self.size -= n
        start = self._start + n
        if start == len(self._data):
            self._data.clear()
            start = 0
        elif start >= self._COMPACT and 2 * start >= len(self._data):
            del self._data[:start]
            start = 0
        self._start = start
        return n


class ReceiveBuffer:
    """In-order bytes waiting for `receive()`, plus out-of-order ranges beyond them.

    `next` is the offset of the next byte expected in order (RCV.NXT as an offset). Out-of-order
    data is kept as sorted, disjoint, non-adjacent ranges (`_starts[i]`, `_chunks[i]`).
    """

    __slots__ = ("_chunks", "_ready", "_starts", "capacity", "last_range", "next")

    def __init__(self, capacity: int) -> None:
        self._ready = bytearray()
        self._starts: list[int] = []
        self._chunks: list[bytearray] = []
        self.capacity = capacity
        self.next = 0
        self.last_range: tuple[int, int] | None = None  # the range the latest segment landed in

    @property
    def readable(self) -> int:
        return len(self._ready)

    @property
    def out_of_order(self) -> int:
        """Bytes held beyond a gap."""
        return sum(len(c) for c in self._chunks)

    def free_space(self) -> int:
        if self._chunks:
            return self.capacity - len(self._ready) - self.out_of_order
        return self.capacity - len(self._ready)

    def read(self, max_bytes: int = -1) -> bytes:
        if max_bytes < 0 or max_bytes >= len(self._ready):
            data = bytes(self._ready)
            self._ready.clear()
            return data
        data = bytes(self._ready[:max_bytes])
        del self._ready[:max_bytes]
        return data

    def insert(self, delta: int, data: bytes) -> int:
        """Store `data` at `delta` bytes beyond `next`; returns the bytes that became in order."""
        if delta == 0 and not self._chunks:  # fast path: in order, no holes
            self._ready += data
            self.next += len(data)
            return len(data)
        if delta < 0:
            data = data[-delta:]
            delta = 0
        if not data:
            return 0
        self._add_range(self.next + delta, data)
        if self._starts[0] != self.next:
            return 0
        chunk = self._chunks.pop(0)
        start = self._starts.pop(0)
        self._ready += chunk
        self.next += len(chunk)
        if self.last_range is not None and self.last_range[0] == start:
            self.last_range = None
        return len(chunk)

    def _add_range(self, offset: int, data: bytes) -> None:
        starts, chunks = self._starts, self._chunks
        end = offset + len(data)
        i = bisect_left(starts, offset)
        if i > 0 and starts[i - 1] + len(chunks[i - 1]) >= offset:
            i -= 1  # the predecessor reaches this segment: merge with it
        new_start = offset
        new_data = bytearray(data)
        j = i
        while j < len(starts) and starts[j] <= end:
            # Overlap or adjacency: keep the bytes already held, fill in from the new segment.
            r_start, r_data = starts[j], chunks[j]
            lo = min(new_start, r_start)
            hi = max(new_start + len(new_data), r_start + len(r_data))
            merged = bytearray(hi - lo)
            merged[new_start - lo : new_start - lo + len(new_data)] = new_data
            merged[r_start - lo : r_start - lo + len(r_data)] = r_data
            new_start, new_data = lo, merged
            j += 1
        starts[i:j] = [new_start]
        chunks[i:j] = [new_data]
        self.last_range = (new_start, new_start + len(new_data))

    def ranges(self) -> list[tuple[int, int]]:
        """Out-of-order ranges as (start, end) offsets, ascending."""
        return [(s, s + len(c)) for s, c in zip(self._starts, self._chunks, strict=True)]
