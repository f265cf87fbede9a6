"""Text forms tcpdump prints for timestamps and addresses."""

from __future__ import annotations

import functools
import struct

_BYTE_TEXT = tuple(map(str, range(256)))
_WORDS = struct.Struct("!8H")
# Runs of zero words as they appear in ":w0:w1:...:w7:", from eight down to two words.
_ZERO_RUNS = tuple((size, ":0" * size + ":") for size in range(8, 1, -1))


def format_timestamp(timestamp_ns: int) -> str:
    """`HH:MM:SS.ffffff` in UTC, microseconds truncated as libpcap does for nanosecond files."""
    seconds, fraction = divmod(timestamp_ns // 1000, 1_000_000)
    return f"{_clock(seconds % 86400)}.{fraction:06d}"


@functools.lru_cache(maxsize=1024)
def _clock(day_seconds: int) -> str:
    """`HH:MM:SS` of a second of the day (packets of one second share it)."""
    hours, rest = divmod(day_seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


@functools.lru_cache(maxsize=4096)
def format_ipv4(raw: bytes) -> str:
    a, b, c, d = raw
    return f"{_BYTE_TEXT[a]}.{_BYTE_TEXT[b]}.{_BYTE_TEXT[c]}.{_BYTE_TEXT[d]}"


@functools.lru_cache(maxsize=4096)
def format_ipv6(raw: bytes) -> str:
    """IPv6 text as tcpdump's addrtostr6 writes it (RFC 5952 style): lowercase hex words without
    leading zeros, the longest run of two or more zero words (the first of equal ones) as `::`,
    and the last 32 bits dotted after `::` (IPv4-compatible) or `::ffff:` (IPv4-mapped)."""
    words = _WORDS.unpack(raw)
    text = ":%x:%x:%x:%x:%x:%x:%x:%x:" % words  # noqa: UP031 (the fastest form here)
    if ":0:0:" in text:
        for size, run in _ZERO_RUNS:  # longest first; find() gives the first of equal runs
            start = text.find(run)
            if start >= 0:
                if start == 0 and (size == 6 or (size == 5 and words[5] == 0xFFFF)):
                    return f"::{'ffff:' if size == 5 else ''}{format_ipv4(raw[12:])}"
                return f"{text[1:start]}::{text[start + 2 * size + 1 : -1]}"
    return text[1:-1]
