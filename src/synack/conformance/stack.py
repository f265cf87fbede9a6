"""The endpoint under test: one synack `Host` and the few queries the runner makes of it.

Everything the runner asks of the TCP core goes through this module, so the rest of the runner
knows only the public `Host` / `Connection` interface.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from synack.conformance.errors import Unsupported
from synack.host import Host
from synack.tcp.config import TcpConfig
from synack.tcp.connection import Connection
from synack.tcp.state import State

IPAddress = IPv4Address | IPv6Address


class Stack:
    def __init__(self, local: IPAddress, config: TcpConfig) -> None:
        self.local = local
        self.config = config
        self.host = Host([local], config=config, secret=b"synack-conformance")

    # --- user calls ---------------------------------------------------------------------

    def listen(self, port: int, backlog: int, config: TcpConfig | None = None) -> None:
        self.host.listen(port, backlog, config=config)

    def unlisten(self, port: int, now: float) -> None:
        self.host.unlisten(port, now)

    def connect(
        self, remote: IPAddress, port: int, now: float, local_port: int | None,
        config: TcpConfig | None = None,
    ) -> Connection:
        return self.host.connect(remote, port, now, local_port=local_port, config=config)

    def accept(self, port: int) -> Connection | None:
        return self.host.accept(port)

    # --- packets and time ---------------------------------------------------------------

    def inject(self, packet: bytes, now: float) -> None:
        self.host.receive_packet(packet, now)

    def output(self) -> list[bytes]:
        return self.host.packets_to_send()

    def next_deadline(self) -> float | None:
        return self.host.next_deadline()

    def handle_timer(self, now: float) -> None:
        self.host.handle_timer(now)

    # --- state queries (sockstat, tcpdrop) ------------------------------------------------

    def connections(self) -> list[Connection]:
        """Every TCB except TIME-WAIT records (listen queues and orphaned connections included)."""
        return list(self.host.connections)

    def state_of(self, conn: Connection) -> State:
        """The state of a connection as the host sees it (CLOSED once its TCB is gone)."""
        state = self.host.lookup(conn.local, conn.remote)
        return state if state is not None else State.CLOSED

    def time_wait_count(self) -> int:
        return self.host.time_wait_count

    def drop_time_wait(self, now: float) -> int:
        """Delete every TIME-WAIT TCB (FreeBSD `tcpdrop -s TIME_WAIT`); returns how many."""
        drop = getattr(self.host, "drop_time_wait", None)
        if drop is None:
            raise Unsupported("tcpdrop: the host offers no way to delete TIME-WAIT TCBs")
        return int(drop(now))
