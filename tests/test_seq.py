"""Sequence arithmetic across the 2**32 wrap."""

from hypothesis import given
from hypothesis import strategies as st

from synack.wire.seq import (
    SEQ_MASK,
    seq_add,
    seq_between,
    seq_diff,
    seq_ge,
    seq_gt,
    seq_in_window,
    seq_le,
    seq_lt,
)

u32 = st.integers(0, SEQ_MASK)
delta = st.integers(-(2**31) + 1, 2**31 - 1)


def test_wrap_examples() -> None:
    top = 2**32 - 10
    assert seq_add(top, 20) == 10
    assert seq_lt(top, 10) and seq_gt(10, top)
    assert seq_diff(10, top) == 20 and seq_diff(top, 10) == -20
    assert seq_in_window(5, top, 100)
    assert not seq_in_window(top + 100 - 2**32, top, 100)
    assert not seq_in_window(top, top, 0)
    assert seq_between(top, 3, 7) and not seq_between(top, 8, 7)


@given(u32, delta)
def test_add_then_diff(a: int, d: int) -> None:
    b = seq_add(a, d)
    assert seq_diff(b, a) == d
    assert seq_lt(a, b) == (d > 0)
    assert seq_le(a, b) == (d >= 0)
    assert seq_ge(b, a) == (d >= 0)


@given(u32, st.integers(0, 2**30), st.integers(0, 2**30))
def test_in_window(start: int, size: int, off: int) -> None:
    assert seq_in_window(seq_add(start, off), start, size) == (off < size)


@given(u32, u32)
def test_comparisons_are_the_sign_of_the_distance(a: int, b: int) -> None:
    for x, y in ((a, b), (a, (a + 2**31) & SEQ_MASK), (a, (a - 2**31 + 1) & SEQ_MASK), (a, a)):
        d = seq_diff(x, y)
        assert (seq_lt(x, y), seq_le(x, y), seq_gt(x, y), seq_ge(x, y)) == (
            d < 0, d <= 0, d > 0, d >= 0
        )
