"""A bulk transfer between two hosts over an impaired simulated link (the endpoint's stress test).

The client writes `size` bytes and closes; the server reads to EOF, checks the bytes, closes.
Used by the tests (byte-exact under loss, reordering, duplication and corruption) and handy on
its own: `run_transfer(10 * 2**20, seed=7, faults=Faults(loss=0.05))`.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from synack.host import Host
from synack.net.faults import Faults
from synack.net.sim import Network
from synack.scenarios.sockets import Endpoint
from synack.tcp.config import TcpConfig
from synack.tcp.state import State

CLIENT = "10.0.0.1"
SERVER = "10.0.0.2"
PORT = 5001


@dataclass(slots=True)
class TransferResult:
    sent_digest: str
    received_digest: str
    received: int
    client_state: State | None
    server_state: State | None
    virtual_seconds: float
    """Virtual time from the first SYN until the receiver saw the end of the stream."""
    packets: int
    errors: list[BaseException]
    bad_checksum: int

    @property
    def byte_exact(self) -> bool:
        return self.sent_digest == self.received_digest


def _state(conn: object) -> State | None:
    state = getattr(conn, "state", None)
    return state if isinstance(state, State) else None


def run_transfer(
    size: int,
    *,
    seed: int = 0,
    faults: Faults | None = None,
    delay: float = 0.005,
    bandwidth: float | None = 100e6,
    chunk: int = 256 * 1024,
    config: TcpConfig | None = None,
    time_limit: float = 3600.0,
) -> TransferResult:
    """Send `size` pseudo-random bytes client -> server; report what arrived and the end states."""
    payload = random.Random(seed).randbytes(size)
    net = Network(seed)
    client_host = Host([CLIENT], config=config or TcpConfig(), secret=b"client%d" % seed)
    server_host = Host([SERVER], config=config or TcpConfig(), secret=b"server%d" % seed)
    client_node = net.add_host("client", client_host, [CLIENT])
    server_node = net.add_host("server", server_host, [SERVER])
    net.link(client_node, server_node, delay=delay, bandwidth=bandwidth, faults=faults)

    def quiet(actor: str, text: str) -> None:
        return None

    client = Endpoint(net, client_node, "client", quiet, 0.0)
    server = Endpoint(net, server_node, "server", quiet, 0.0)
    digest = hashlib.sha256()
    received = [0]
    conns: dict[str, object] = {}
    finished: list[float] = []

    async def receiver(ep: Endpoint) -> None:
        listener = ep.socket()
        listener.listen(PORT)
        sock = await listener.accept()
        conns["server"] = sock.conn
        while data := await sock.recv(1 << 20):
            digest.update(data)
            received[0] += len(data)
        finished.append(ep.net.now)
        sock.close()

    async def sender(ep: Endpoint) -> None:
        sock = ep.socket()
        await sock.connect(SERVER, PORT)
        conns["client"] = sock.conn
        view = memoryview(payload)
        for start in range(0, size, chunk):
            await sock.send(bytes(view[start:start + chunk]))
        sock.close()

    server.spawn(receiver)
    client.spawn(sender)
    net.run(until=time_limit)
    return TransferResult(
        sent_digest=hashlib.sha256(payload).hexdigest(),
        received_digest=digest.hexdigest(),
        received=received[0],
        client_state=_state(conns.get("client")),
        server_state=_state(conns.get("server")),
        virtual_seconds=finished[0] if finished else float("inf"),
        packets=client_node.sent + server_node.sent,
        errors=client.errors + server.errors,
        bad_checksum=client_host.stats.bad_checksum + server_host.stats.bad_checksum
        + client_host.stats.malformed + server_host.stats.malformed,
    )
