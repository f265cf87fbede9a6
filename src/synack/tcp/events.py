"""Events a connection reports to its program, pulled with `Connection.next_event()` (h11 style)."""

from __future__ import annotations

from dataclasses import dataclass

from synack.tcp.state import State


class Event:
    """Base class of every connection event."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class StateChanged(Event):
    """The connection moved between RFC 9293 states; `cause` names what did it."""

    old: State
    new: State
    cause: str


@dataclass(frozen=True, slots=True)
class Connected(Event):
    """The handshake completed: the connection is ESTABLISHED (connect() / accept() return)."""


@dataclass(frozen=True, slots=True)
class DataReceived(Event):
    """In-order bytes became readable with `Connection.receive()`; `length` is the new total."""

    length: int


@dataclass(frozen=True, slots=True)
class EndOfStream(Event):
    """The peer's FIN arrived: after the readable bytes, `receive()` returns b""."""


@dataclass(frozen=True, slots=True)
class SendSpaceAvailable(Event):
    """Acknowledged bytes left the send buffer; `space` bytes can be written now."""

    space: int


@dataclass(frozen=True, slots=True)
class ConnectionFailed(Event):
    """The connection ended abnormally: refused, reset or timed out (`error` says which)."""

    error: OSError


@dataclass(frozen=True, slots=True)
class ConnectionClosed(Event):
    """The TCB is gone (CLOSED, or TIME-WAIT handed to the host): nothing more will happen."""
