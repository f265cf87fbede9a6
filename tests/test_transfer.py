"""Bulk transfers between two synack hosts over an impaired simulated link.

The acceptance run: 10 MB for each of 50 seeds over a link with 5% loss, 5% reordering,
1% duplication and 0.5% corruption (one to two CPU seconds per seed).
"""

from __future__ import annotations

import pytest

from synack.net.faults import Faults
from synack.scenarios.transfer import run_transfer
from synack.tcp.state import State

MB = 1 << 20
SEEDS = range(1, 51)
DONE = {State.CLOSED, State.TIME_WAIT}


def impaired() -> Faults:
    return Faults(loss=0.05, reorder=0.05, duplicate=0.01, corrupt=0.005)


def check(size: int, seed: int) -> None:
    result = run_transfer(size, seed=seed, faults=impaired())
    assert result.errors == []
    assert result.received == size
    assert result.byte_exact
    assert result.client_state in DONE
    assert result.server_state in DONE


@pytest.mark.parametrize("seed", SEEDS)
def test_ten_megabytes_over_a_bad_link_is_byte_exact(seed: int) -> None:
    check(10 * MB, seed)


def test_corrupted_segments_are_dropped_by_the_checksum() -> None:
    result = run_transfer(MB, seed=3, faults=Faults(corrupt=0.05))
    assert result.byte_exact
    assert result.bad_checksum > 0


def test_clean_link_is_fast_in_virtual_time() -> None:
    # 1 MB at 100 Mbit/s with a 10 ms RTT: slow start needs a handful of round trips.
    result = run_transfer(MB, seed=0, faults=None)
    assert result.byte_exact
    assert result.virtual_seconds < 0.5


def test_same_seed_same_outcome() -> None:
    a = run_transfer(256 * 1024, seed=9, faults=impaired())
    b = run_transfer(256 * 1024, seed=9, faults=impaired())
    assert (a.packets, a.virtual_seconds) == (b.packets, b.virtual_seconds)
