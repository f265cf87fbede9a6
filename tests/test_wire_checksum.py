"""The Internet checksum and the TCP pseudo-headers against a word-by-word reference."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

from hypothesis import given, settings
from hypothesis import strategies as st

from synack.wire.checksum import (
    checksum_ok,
    internet_checksum,
    ones_complement_sum,
    pseudo_header_sum,
)


def reference_sum(data: bytes, initial: int = 0) -> int:
    """RFC 1071 §4.1: add 16-bit words with end-around carry."""
    if len(data) % 2:
        data += b"\0"
    total = initial
    for (word,) in struct.iter_unpack("!H", data):
        total += word
        total = (total & 0xFFFF) + (total >> 16)
    return total


def test_rfc1071_example() -> None:
    # RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (one's complement sum).
    data = bytes.fromhex("0001f203f4f5f6f7")
    assert ones_complement_sum(data) == 0xDDF2
    assert internet_checksum(data) == 0x220D
    assert checksum_ok(data + bytes.fromhex("220d"))


def test_edge_sums() -> None:
    assert ones_complement_sum(b"") == 0
    assert internet_checksum(b"") == 0xFFFF
    assert internet_checksum(b"\0\0\0") == 0xFFFF
    assert ones_complement_sum(b"\xff\xff") == 0xFFFF
    assert internet_checksum(b"\xff\xff") == 0
    assert ones_complement_sum(b"\xff\xff\xff\xff") == 0xFFFF
    assert ones_complement_sum(b"\x80\x00\x80\x00") == 0x0001  # carry wraps around
    assert ones_complement_sum(b"\x12") == 0x1200  # odd length: padded on the right
    assert ones_complement_sum(b"", 0xFFFF) == 0xFFFF
    assert ones_complement_sum(memoryview(b"\x00\x01\x00\x02")) == 3


@settings(max_examples=200)
@given(st.binary(max_size=300), st.integers(0, 0xFFFF))
def test_matches_reference(data: bytes, initial: int) -> None:
    assert ones_complement_sum(data, initial) == reference_sum(data, initial)
    c = internet_checksum(data, initial)
    assert c == ~reference_sum(data, initial) & 0xFFFF
    if len(data) % 2 == 0 and (reference_sum(data, initial) or initial):
        assert checksum_ok(data + struct.pack("!H", c), initial)


@settings(max_examples=100)
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(0, 0xFFFF))
def test_pseudo_header_ipv4(src: int, dst: int, length: int) -> None:
    s, d = IPv4Address(src).packed, IPv4Address(dst).packed
    header = s + d + bytes((0, 6)) + struct.pack("!H", length)
    assert pseudo_header_sum(s, d, 6, length) == reference_sum(header)


@settings(max_examples=100)
@given(st.integers(0, 2**128 - 1), st.integers(0, 2**128 - 1), st.integers(0, 2**32 - 1))
def test_pseudo_header_ipv6(src: int, dst: int, length: int) -> None:
    s, d = IPv6Address(src).packed, IPv6Address(dst).packed
    header = s + d + struct.pack("!I", length) + bytes((0, 0, 0, 6))
    assert pseudo_header_sum(s, d, 6, length) == reference_sum(header)


def test_pseudo_header_rejects_mixed_families() -> None:
    import pytest

    with pytest.raises(ValueError):
        pseudo_header_sum(bytes(4), bytes(16), 6, 20)
