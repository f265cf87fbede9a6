"""The eleven TCP connection states (RFC 9293 §3.3.2), shared by the endpoint and the observer."""

from __future__ import annotations

from enum import Enum


class State(Enum):
    """A TCP endpoint's connection state; values are the names the RFC and Linux print."""

    CLOSED = "CLOSED"
    LISTEN = "LISTEN"
    SYN_SENT = "SYN_SENT"
    SYN_RECEIVED = "SYN_RECEIVED"
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT_1 = "FIN_WAIT_1"
    FIN_WAIT_2 = "FIN_WAIT_2"
    CLOSE_WAIT = "CLOSE_WAIT"
    CLOSING = "CLOSING"
    LAST_ACK = "LAST_ACK"
    TIME_WAIT = "TIME_WAIT"

    @property
    def synchronized(self) -> bool:
        """States after the handshake has synchronized both sequence spaces (RFC 9293 §3.5)."""
        return self not in _UNSYNCHRONIZED

    def __str__(self) -> str:
        return self.value

    # Members are singletons compared by identity: hash them by identity too, in C, rather than
    # by name in Python (Enum's own __hash__), since states key sets and tables on every segment.
    __hash__ = object.__hash__


_UNSYNCHRONIZED = frozenset({State.CLOSED, State.LISTEN, State.SYN_SENT, State.SYN_RECEIVED})
