"""Events a connection reports to its program, pulled with `Connection.next_event()` (h11 style)."""

from __future__ import annotations

from dataclasses import dataclass

from synack.tcp.state import State
from synack.wire.fastinit import fast_frozen_init


class Event:
    """Base class of every connection event."""

    __slots__ = ()


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class StateChanged(Event):
    """The connection moved between RFC 9293 states; `cause` names what did it."""

    old: State
    new: State
    cause: str


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class Connected(Event):
    """The handshake completed: the connection is ESTABLISHED (connect() / accept() return)."""


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class DataReceived(Event):
    """In-order bytes became readable with `Connection.receive()`; `length` is the new total."""

    length: int


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class EndOfStream(Event):
    """The peer's FIN arrived: after the readable bytes, `receive()` returns b""."""


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class SendSpaceAvailable(Event):
    """Acknowledged bytes left the send buffer; `space` bytes can be written now."""

    space: int


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class ConnectionFailed(Event):
    """The connection ended abnormally: refused, reset or timed out (`error` says which)."""

    error: OSError


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class ConnectionClosed(Event):
    """The TCB is gone (CLOSED, or TIME-WAIT handed to the host): nothing more will happen."""
