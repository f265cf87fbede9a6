"""Wraparound-safe 32-bit sequence number arithmetic (RFC 9293 §3.4, RFC 1982 style).

Every comparison of TCP sequence or acknowledgment numbers in synack goes through these helpers:
a plain `<` on sequence numbers is wrong as soon as the space wraps at 2**32.
"""

from __future__ import annotations

SEQ_MOD = 1 << 32
SEQ_MASK = SEQ_MOD - 1
_HALF = 1 << 31


def seq_add(a: int, n: int) -> int:
    """a + n modulo 2**32 (n may be negative)."""
    return (a + n) & SEQ_MASK


def seq_diff(a: int, b: int) -> int:
    """The signed distance a - b, in [-2**31, 2**31)."""
    return ((a - b + _HALF) & SEQ_MASK) - _HALF


def seq_lt(a: int, b: int) -> bool:
    """a < b in sequence space."""
    return ((a - b + _HALF) & SEQ_MASK) < _HALF  # seq_diff(a, b) < 0, inlined


def seq_le(a: int, b: int) -> bool:
    """a <= b in sequence space."""
    return ((a - b + _HALF) & SEQ_MASK) <= _HALF  # seq_diff(a, b) <= 0, inlined


def seq_gt(a: int, b: int) -> bool:
    """a > b in sequence space."""
    return ((a - b + _HALF) & SEQ_MASK) > _HALF  # seq_diff(a, b) > 0, inlined


def seq_ge(a: int, b: int) -> bool:
    """a >= b in sequence space."""
    return ((a - b + _HALF) & SEQ_MASK) >= _HALF  # seq_diff(a, b) >= 0, inlined


def seq_in_window(x: int, start: int, size: int) -> bool:
    """start <= x < start + size in sequence space (false for an empty window)."""
    return 0 <= ((x - start) & SEQ_MASK) < size


def seq_between(low: int, x: int, high: int) -> bool:
    """low <= x <= high in sequence space, for low <= high within half the space."""
    return ((x - low) & SEQ_MASK) <= ((high - low) & SEQ_MASK)


def seq_max(a: int, b: int) -> int:
    """The later of two sequence numbers."""
    return a if seq_ge(a, b) else b


def seq_min(a: int, b: int) -> int:
    """The earlier of two sequence numbers."""
    return a if seq_le(a, b) else b
