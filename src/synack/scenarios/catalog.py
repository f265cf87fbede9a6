"""The seed scenarios: each builds a `Lab`, starts the socket programs the seed articles describe,
runs the network until it is quiet, and returns the lab with its transcript and capture."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from synack.net.faults import Faults, Rule, match
from synack.scenarios.http import BODY, HEADERS, REQUEST
from synack.scenarios.lab import CLIENT_ADDR, SERVER_ADDR, Lab
from synack.scenarios.sockets import Endpoint

SERVER = SERVER_ADDR
CLIENT = CLIENT_ADDR
CLIENT_PORT = 39002  # the seed capture's ephemeral port
APP_THINK = 0.000130  # nginx's time between reading the request and writing the response


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    summary: str
    run: Callable[[int], Lab]


SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str, summary: str) -> Callable[[Callable[[int], Lab]], Callable[[int], Lab]]:
    def register(fn: Callable[[int], Lab]) -> Callable[[int], Lab]:
        SCENARIOS[name] = Scenario(name, summary, fn)
        return fn

    return register


# -- building blocks ---------------------------------------------------------------------------


async def http_server(ep: Endpoint, *, close: bool = True) -> None:
    """nginx: accept, read the request, write header and body, read to EOF, close.

    nginx turns Nagle off (its `tcp_nodelay on` default): the seed's capture shows the header
    and body segments back to back, where Linux's Nagle would hold the body for an ACK."""
    listener = ep.socket()
    listener.listen(80)
    conn = await listener.accept()
    conn.set_nodelay()
    await conn.recv()
    await ep.sleep(APP_THINK)
    await conn.send(HEADERS)
    await conn.send(BODY)
    await conn.recv()  # EOF: the client closed
    if close:
        conn.close()


async def http_client(ep: Endpoint) -> None:
    """curl: connect, send the GET, read the whole response, close."""
    sock = ep.socket()
    await sock.connect(SERVER, 80, local_port=CLIENT_PORT)
    await sock.send(REQUEST)
    await sock.recv_exactly(len(HEADERS) + len(BODY))
    await ep.sleep(0.000150)
    sock.close()


async def upload_client(ep: Endpoint, total: int) -> None:
    """connect, send `total` zero bytes, close."""
    sock = ep.socket()
    await sock.connect(SERVER, 80, local_port=CLIENT_PORT)
    await sock.send(bytes(total))
    sock.close()


# -- the scenarios -----------------------------------------------------------------------------


@scenario("default", "the seed's Linux capture: HTTP GET, response, client closes, 3-segment close")
def default(seed: int) -> Lab:
    lab = Lab(seed)
    lab.spawn(lab.server, http_server)
    lab.spawn(lab.client, http_client)
    lab.run()
    return lab


@scenario("handshake", "the three-way handshake alone: SYN, SYN-ACK, ACK")
def handshake(seed: int) -> Lab:
    lab = Lab(seed)

    async def server(ep: Endpoint) -> None:
        listener = ep.socket()
        listener.listen(80)
        await listener.accept()

    async def client(ep: Endpoint) -> None:
        await ep.socket().connect(SERVER, 80, local_port=CLIENT_PORT)

    lab.spawn(lab.server, server)
    lab.spawn(lab.client, client)
    lab.run(until=1.0)
    return lab


@scenario("refused", "SYN to a port nobody listens on: [R.] seq 0, ack ISN+1, win 0")
def refused(seed: int) -> Lab:
    lab = Lab(seed)

    async def client(ep: Endpoint) -> None:
        with contextlib.suppress(ConnectionRefusedError):
            await ep.socket().connect(SERVER, 81, local_port=33214)

    lab.spawn(lab.client, client)
    lab.run()
    return lab


@scenario("reset", "the server aborts an established connection; the client's next data gets [R]")
def reset(seed: int) -> Lab:
    faults_back = Faults()
    faults_back.add_rule(Rule(match(flags="R."), label="server's [R.]"))
    lab = Lab(seed, faults_back=faults_back)

    async def server(ep: Endpoint) -> None:
        listener = ep.socket()
        listener.listen(80)
        conn = await listener.accept()
        await ep.sleep(1.0)
        conn.abort()

    async def client(ep: Endpoint) -> None:
        sock = ep.socket()
        await sock.connect(SERVER, 80, local_port=59904)
        await ep.sleep(6.8)
        await sock.send(b"\r\n")
        with contextlib.suppress(ConnectionResetError):
            await sock.recv()

    lab.spawn(lab.server, server)
    lab.spawn(lab.client, client)
    lab.run()
    return lab


@scenario("lost-final-ack", "the handshake's last ACK is lost; the first data segment completes it")
def lost_final_ack(seed: int) -> Lab:
    faults = Faults()
    faults.add_rule(Rule(match(flags=".", payload=False), label="handshake's final ACK"))
    lab = Lab(seed, faults=faults)
    lab.spawn(lab.server, http_server)

    async def client(ep: Endpoint) -> None:
        sock = ep.socket()
        await sock.connect(SERVER, 80, local_port=CLIENT_PORT)
        await ep.sleep(0.010)
        await sock.send(REQUEST)
        await sock.recv_exactly(len(HEADERS) + len(BODY))
        sock.close()

    lab.spawn(lab.client, client)
    lab.run()
    return lab


@scenario("data-on-ack", "non-blocking connect + send: the request rides on the handshake's ACK")
def data_on_ack(seed: int) -> Lab:
    lab = Lab(seed)
    lab.spawn(lab.server, http_server)

    async def client(ep: Endpoint) -> None:
        sock = ep.socket()
        sock.start_connect(SERVER, 80, local_port=CLIENT_PORT)
        await sock.send(REQUEST)
        await sock.connected()
        await sock.recv_exactly(len(HEADERS) + len(BODY))
        sock.close()

    lab.spawn(lab.client, client)
    lab.run()
    return lab


@scenario("four-way-close", "client closes first; the server still sends in CLOSE_WAIT, then FINs")
def four_way_close(seed: int) -> Lab:
    lab = Lab(seed)

    async def server(ep: Endpoint) -> None:
        listener = ep.socket()
        listener.listen(80)
        conn = await listener.accept()
        await conn.recv()  # EOF
        await ep.sleep(0.050)
        await conn.send(b"last words from CLOSE_WAIT\n")
        await ep.sleep(0.050)
        conn.close()

    async def client(ep: Endpoint) -> None:
        sock = ep.socket()
        await sock.connect(SERVER, 80, local_port=CLIENT_PORT)
        sock.shutdown()
        await sock.recv_until_eof()
        sock.close()

    lab.spawn(lab.server, server)
    lab.spawn(lab.client, client)
    lab.run()
    return lab


@scenario("server-closes-first", "the server closes after its response: it is the one in TIME_WAIT")
def server_closes_first(seed: int) -> Lab:
    lab = Lab(seed)

    async def server(ep: Endpoint) -> None:
        listener = ep.socket()
        listener.listen(80)
        conn = await listener.accept()
        await conn.recv()
        await conn.send(HEADERS + BODY)
        conn.close()

    async def client(ep: Endpoint) -> None:
        sock = ep.socket()
        await sock.connect(SERVER, 80, local_port=CLIENT_PORT)
        await sock.send(REQUEST)
        await sock.recv_until_eof()
        sock.close()

    lab.spawn(lab.server, server)
    lab.spawn(lab.client, client)
    lab.run()
    return lab


@scenario("simultaneous-open", "both ends connect() at once: crossing SYNs, SYN_RECEIVED on both")
def simultaneous_open(seed: int) -> Lab:
    lab = Lab(seed)

    async def peer(ep: Endpoint, addr: str, lport: int, rport: int) -> None:
        sock = ep.socket()
        await sock.connect(addr, rport, local_port=lport)

    lab.spawn(lab.client, lambda ep: peer(ep, SERVER, 5000, 6000))
    lab.spawn(lab.server, lambda ep: peer(ep, CLIENT, 6000, 5000))
    lab.run(until=1.0)
    return lab


@scenario("simultaneous-close", "both ends close() at once: crossing FINs, CLOSING, two TIME_WAITs")
def simultaneous_close(seed: int) -> Lab:
    lab = Lab(seed)

    async def server(ep: Endpoint) -> None:
        listener = ep.socket()
        listener.listen(80)
        conn = await listener.accept()
        await ep.sleep(0.010)
        conn.close()

    async def client(ep: Endpoint) -> None:
        sock = ep.socket()
        await sock.connect(SERVER, 80, local_port=CLIENT_PORT)
        # The server's accept() returns one one-way delay after our connect() does.
        await ep.sleep(0.010 + 0.000110 + 0.000020 + 0.000020)
        sock.close()

    lab.spawn(lab.server, server)
    lab.spawn(lab.client, client)
    lab.run()
    return lab


@scenario("half-close", "client shutdown(SHUT_WR) after its request, then still reads the reply")
def half_close(seed: int) -> Lab:
    lab = Lab(seed)

    async def server(ep: Endpoint) -> None:
        listener = ep.socket()
        listener.listen(80)
        conn = await listener.accept()
        request = await conn.recv_until_eof()
        await ep.sleep(APP_THINK)
        await conn.send(HEADERS + BODY if request else b"")
        conn.close()

    async def client(ep: Endpoint) -> None:
        sock = ep.socket()
        await sock.connect(SERVER, 80, local_port=CLIENT_PORT)
        await sock.send(REQUEST)
        sock.shutdown()
        await sock.recv_until_eof()
        sock.close()

    lab.spawn(lab.server, server)
    lab.spawn(lab.client, client)
    lab.run()
    return lab


@scenario("syn-timeout", "SYNs into a black hole: 6 retransmissions, backoff, then TimeoutError")
def syn_timeout(seed: int) -> Lab:
    faults = Faults()
    faults.add_rule(Rule(match(flags="S"), count=1_000_000, label="SYN"))
    lab = Lab(seed, faults=faults)

    async def client(ep: Endpoint) -> None:
        with contextlib.suppress(TimeoutError):
            await ep.socket().connect(SERVER, 80, local_port=CLIENT_PORT)

    lab.spawn(lab.client, client)
    lab.run()
    return lab


@scenario("synack-timeout",
          "the client's ACKs never arrive: SYN-ACK retransmitted until the server gives up")
def synack_timeout(seed: int) -> Lab:
    faults = Faults()
    faults.add_rule(Rule(match(flags="."), count=1_000_000, label="client's ACK"))
    lab = Lab(seed, faults=faults)

    async def server(ep: Endpoint) -> None:
        listener = ep.socket()
        listener.listen(80)
        await listener.accept()

    async def client(ep: Endpoint) -> None:
        await ep.socket().connect(SERVER, 80, local_port=CLIENT_PORT)

    lab.spawn(lab.server, server)
    lab.spawn(lab.client, client)
    lab.run(until=120.0)
    return lab


@scenario("time-wait",
          "the last ACK is lost: TIME_WAIT answers the retransmitted FIN, restarts 2*MSL")
def time_wait(seed: int) -> Lab:
    faults = Faults()
    faults.add_rule(Rule(
        match(flags=".", payload=False, src_port=CLIENT_PORT, skip=3), label="client's last ACK"
    ))
    lab = Lab(seed, faults=faults)
    lab.spawn(lab.server, http_server)
    lab.spawn(lab.client, http_client)
    lab.run()
    return lab


@scenario("close-wait-leak", "the server never calls close(): CLOSE_WAIT stays, the client's "
          "FIN_WAIT_2 times out")
def close_wait_leak(seed: int) -> Lab:
    lab = Lab(seed)
    lab.spawn(lab.server, lambda ep: http_server(ep, close=False))
    lab.spawn(lab.client, http_client)
    lab.run(until=300.0)
    return lab


@scenario("zero-window", "a reader that stops reading: the window fills, zero-window probes, "
          "a window update")
def zero_window(seed: int) -> Lab:
    # Default settings: the sender fills the receive window until less than a segment is left,
    # sends that remainder when its persist (SWS override) timer fires, and the window is 0.
    lab = Lab(seed)
    total = 72 * 1024

    async def server(ep: Endpoint) -> None:
        listener = ep.socket()
        listener.listen(80)
        conn = await listener.accept()
        await ep.sleep(1.5)  # busy: the receive buffer fills up
        got = 0
        while got < total:
            chunk = await conn.recv()
            if not chunk:
                break
            got += len(chunk)
        await conn.recv()  # EOF
        conn.close()

    lab.spawn(lab.server, server)
    lab.spawn(lab.client, lambda ep: upload_client(ep, total))
    lab.run()
    return lab


@scenario("nagle", "a request written in two parts: Nagle holds the second until the delayed "
          "ACK (40 ms); TCP_NODELAY sends both at once")
def nagle(seed: int) -> Lab:
    # RFC 9293 §3.7.4 and the delayed ACK of §3.8.6.3 together: the server (interactive after
    # the first exchange) waits for the whole request before answering, so it delays the ACK of
    # the first part, while the client's Nagle waits for that ACK before sending the second.
    head, body = b"PUT /x HTTP/1.1\r\nContent-Length: 2\r\n\r\n", b"ok"
    answer = b"HTTP/1.1 204\r\n\r\n"
    lab = Lab(seed)

    async def server(ep: Endpoint) -> None:
        listener = ep.socket()
        listener.listen(80)
        conn = await listener.accept()
        for _ in range(3):
            await conn.recv_exactly(len(head) + len(body))
            await conn.send(answer)
        await conn.recv()  # EOF
        conn.close()

    async def client(ep: Endpoint) -> None:
        sock = ep.socket()
        await sock.connect(SERVER, 80, local_port=CLIENT_PORT)
        await sock.send(head + body)  # one write: no wait
        await sock.recv_exactly(len(answer))
        await sock.send(head)  # write, write, read: the second write waits
        await sock.send(body)
        await sock.recv_exactly(len(answer))
        sock.set_nodelay()
        await sock.send(head)  # the same with Nagle off: both parts at once
        await sock.send(body)
        await sock.recv_exactly(len(answer))
        sock.close()

    lab.spawn(lab.server, server)
    lab.spawn(lab.client, client)
    lab.run()
    return lab


@scenario("dsack", "the client's ACKs of the response are lost: the server's RTO resends, the "
          "client reports the duplicate (D-SACK)")
def dsack(seed: int) -> Lab:
    # RFC 2883: the retransmission repeats bytes the client already has; its ACK carries them
    # as the first SACK block, which tells the server its retransmission was spurious.
    faults = Faults()
    faults.add_rule(Rule(match(flags=".", payload=False, src_port=CLIENT_PORT, skip=1), count=2,
                         label="client's ACKs of the response"))
    lab = Lab(seed, faults=faults)

    async def client(ep: Endpoint) -> None:
        sock = ep.socket()
        await sock.connect(SERVER, 80, local_port=CLIENT_PORT)
        await sock.send(REQUEST)
        await sock.recv_exactly(len(HEADERS) + len(BODY))
        await ep.sleep(1.0)  # reads, then stays quiet: only its lost ACKs answered the response
        sock.close()

    lab.spawn(lab.server, http_server)
    lab.spawn(lab.client, client)
    lab.run()
    return lab


@scenario("sack-recovery", "two segments of one window are lost: SACK blocks show the holes, "
          "both are resent in one round trip (RFC 6675)")
def sack_recovery(seed: int) -> Lab:
    faults = Faults()
    # The second rule counts the data segments the first lets through: the 7th is its 6th.
    for skip, label in ((2, "3rd data segment"), (5, "7th data segment")):
        faults.add_rule(Rule(match(flags=".", payload=True, src_port=CLIENT_PORT, skip=skip),
                             label=label))
    lab = Lab(seed, faults=faults)
    total = 20 * 1448

    async def server(ep: Endpoint) -> None:
        listener = ep.socket()
        listener.listen(80)
        conn = await listener.accept()
        while await conn.recv():
            pass
        conn.close()

    lab.spawn(lab.server, server)
    lab.spawn(lab.client, lambda ep: upload_client(ep, total))
    lab.run()
    return lab


@scenario("keepalive", "an idle connection with SO_KEEPALIVE: probes a live peer answers, then "
          "a peer gone silent: RST and TimeoutError")
def keepalive(seed: int) -> Lab:
    # RFC 9293 §3.8.4: <SEQ=SND.UNA-1><CTL=ACK> with no data; a live peer's TCP answers with an
    # ACK whatever its program does. After the first answer the server's host falls silent.
    faults_back = Faults()
    faults_back.add_rule(Rule(match(src_port=80, skip=2), count=1000,
                              label="server's packets after the first answer"))
    lab = Lab(seed, faults_back=faults_back)

    async def server(ep: Endpoint) -> None:
        listener = ep.socket()
        listener.listen(80)
        conn = await listener.accept()
        with contextlib.suppress(ConnectionResetError):
            await conn.recv()  # nothing comes; the client's RST ends it

    async def client(ep: Endpoint) -> None:
        sock = ep.socket()
        await sock.connect(SERVER, 80, local_port=CLIENT_PORT)
        sock.set_keepalive(idle=10.0, interval=5.0, probes=3)
        with contextlib.suppress(TimeoutError):
            await sock.recv()  # idle: only the keep-alives cross

    lab.spawn(lab.server, server)
    lab.spawn(lab.client, client)
    lab.run()
    return lab


@scenario("lost-data", "a response segment is lost and retransmitted from the send buffer")
def lost_data(seed: int) -> Lab:
    faults_back = Faults()
    faults_back.add_rule(Rule(match(flags="P.", payload=True), label="first response segment"))
    lab = Lab(seed, faults_back=faults_back)
    lab.spawn(lab.server, http_server)
    lab.spawn(lab.client, http_client)
    lab.run()
    return lab


@scenario("old-duplicate", "a delayed segment of an earlier connection on the same ports is "
          "rejected (TIME_WAIT, then the new ISNs)")
def old_duplicate(seed: int) -> Lab:
    faults_back = Faults()
    faults_back.add_rule(Rule(
        match(flags="P.", payload=True), delay=1.0, duplicate=True, more_copies=(255.0,),
        label="response segment",
    ))
    lab = Lab(seed, faults_back=faults_back)

    async def server(ep: Endpoint) -> None:
        listener = ep.socket()
        listener.listen(80)
        for _ in range(2):
            conn = await listener.accept()
            await conn.recv()
            await conn.send(HEADERS + BODY)
            await conn.recv()
            conn.close()

    async def client(ep: Endpoint) -> None:
        for incarnation in range(2):
            sock = ep.socket()
            await sock.connect(SERVER, 80, local_port=CLIENT_PORT)
            await sock.send(REQUEST)
            await sock.recv_exactly(len(HEADERS) + len(BODY))
            if incarnation:
                await ep.sleep(10.0)  # the old copy arrives while this connection is open
            sock.close()
            if not incarnation:
                await ep.sleep(250.0)  # past TIME_WAIT (2 * MSL = 240 s): the ports are free

    lab.spawn(lab.server, server)
    lab.spawn(lab.client, client)
    lab.run()
    return lab
