"""Text forms tcpdump prints for timestamps and addresses."""

from __future__ import annotations

import functools
import struct


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
