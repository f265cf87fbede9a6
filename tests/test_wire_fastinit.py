"""The descriptor-based __init__ given to frozen slotted dataclasses built per packet."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from synack.tcp.events import DataReceived, StateChanged
from synack.tcp.state import State
from synack.wire.fastinit import fast_frozen_init
from synack.wire.tcp import TcpFlags, TcpSegment, Timestamps


@dataclasses.dataclass(frozen=True, slots=True)
class Plain:
    a: int
    b: str = "b"
    c: tuple[int, ...] = ()


Fast = fast_frozen_init(
    dataclasses.make_dataclass(
        "Fast", [("a", int), ("b", str, dataclasses.field(default="b")),
                 ("c", tuple, dataclasses.field(default=()))],
        frozen=True, slots=True,
    )
)


def test_same_fields_defaults_and_keywords_as_the_dataclass_init() -> None:
    for args, kwargs in [((1,), {}), ((1, "x"), {}), ((1,), {"c": (2,)}), ((), {"a": 3, "b": "y"})]:
        plain, fast = Plain(*args, **kwargs), Fast(*args, **kwargs)
        assert dataclasses.astuple(plain) == dataclasses.astuple(fast)
    with pytest.raises(TypeError):
        Fast()
    with pytest.raises(TypeError):
        Fast(1, "x", (), 4)
    with pytest.raises(TypeError):
        Fast(1, d=2)


def test_instances_stay_frozen_hashable_and_comparable() -> None:
    seg = TcpSegment(1, 2, 3, 4, TcpFlags.ACK, 5, options=(Timestamps(6, 7),), payload=b"x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        seg.seq = 9  # type: ignore[misc]
    assert seg == TcpSegment(1, 2, 3, 4, TcpFlags.ACK, 5, 0, (Timestamps(6, 7),), b"x")
    assert hash(seg) == hash(dataclasses.replace(seg))
    assert dataclasses.replace(seg, seq=9).seq == 9
    assert pickle.loads(pickle.dumps(seg)) == seg == copy.deepcopy(seg)
    assert repr(StateChanged(State.LISTEN, State.SYN_RECEIVED, "SYN received")) == (
        "StateChanged(old=<State.LISTEN: 'LISTEN'>, new=<State.SYN_RECEIVED: 'SYN_RECEIVED'>, "
        "cause='SYN received')"
    )
    assert DataReceived(5) == DataReceived(length=5) != DataReceived(6)


def test_only_frozen_slotted_dataclasses_with_plain_defaults() -> None:
    @dataclasses.dataclass(slots=True)
    class Mutable:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Factory:
        a: list[int] = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    for cls in (Mutable, Factory, NoSlots):
        with pytest.raises(TypeError):
            fast_frozen_init(cls)
