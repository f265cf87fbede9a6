"""synack's blocking socket object against the Linux kernel, in a private network namespace."""

from __future__ import annotations

import socket as kernel_socket
import threading
from collections.abc import Iterator

import pytest

from synack.net import socket as synack_socket
from synack.net import tun
from synack.tcp.state import State

REASON = tun.tun_unavailable_reason()
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(REASON is not None, reason=f"TUN unavailable: {REASON}"),
]

KERNEL = "192.0.2.1"
SYNACK = "192.0.2.2"


@pytest.fixture
def network() -> Iterator[synack_socket.Network]:
    with tun.private_netns(), synack_socket.Network() as net:
        yield net


def test_client_socket_against_kernel_server(network: synack_socket.Network) -> None:
    listener = kernel_socket.create_server((KERNEL, 8000))
    received: list[bytes] = []

    def kernel_side() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
            received.append(data)
            conn.sendall(b"thanks")

    thread = threading.Thread(target=kernel_side)
    thread.start()
    with listener, synack_socket.create_connection((KERNEL, 8000), timeout=10,
                                                   network=network) as sock:
        assert sock.getpeername() == (KERNEL, 8000)
        assert sock.getsockname()[0] == SYNACK
        payload = bytes(range(256)) * 1000
        sock.sendall(payload)
        sock.shutdown(synack_socket.SHUT_WR)
        reply = b""
        while chunk := sock.recv(100):
            reply += chunk
        thread.join(10)
        assert received == [payload]
        assert reply == b"thanks"
        assert sock.connection.state is State.TIME_WAIT  # our FIN went first


def test_listening_socket_accepts_kernel_client(network: synack_socket.Network) -> None:
    server = synack_socket.socket(network=network)
    server.bind(("", 7000))
    server.listen()

    def kernel_client() -> None:
        with kernel_socket.create_connection((SYNACK, 7000), timeout=10) as sock:
            sock.sendall(b"hello synack")
            sock.recv(100)

    thread = threading.Thread(target=kernel_client)
    thread.start()
    server.settimeout(10)
    conn, addr = server.accept()
    with conn:
        assert addr[0] == KERNEL
        assert conn.recv(100) == b"hello synack"
        conn.send(b"bye")
        thread.join(10)
        assert conn.recv(100) == b""  # the kernel closed
        assert conn.connection.state is State.CLOSE_WAIT
    server.close()


def test_connect_refused_and_recv_timeout(network: synack_socket.Network) -> None:
    sock = synack_socket.socket(network=network)
    with pytest.raises(ConnectionRefusedError):
        sock.connect((KERNEL, 9))
    listener = kernel_socket.create_server((KERNEL, 8001))
    with listener, synack_socket.create_connection((KERNEL, 8001), network=network) as client:
        client.settimeout(0.2)
        with pytest.raises(TimeoutError):
            client.recv(10)
        client.setblocking(False)
        with pytest.raises(BlockingIOError):
            client.recv(10)


def test_reset_by_kernel_surfaces_as_connection_reset(network: synack_socket.Network) -> None:
    import struct

    listener = kernel_socket.create_server((KERNEL, 8002))
    with listener, synack_socket.create_connection((KERNEL, 8002), network=network) as client:
        conn, _ = listener.accept()
        conn.setsockopt(kernel_socket.SOL_SOCKET, kernel_socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
        client.settimeout(5)
        with pytest.raises(ConnectionResetError):
            client.recv(10)


def test_tcp_nodelay_is_off_by_default_and_accepted_sockets_inherit_it(
    network: synack_socket.Network,
) -> None:
    """Like a kernel socket: Nagle on until TCP_NODELAY is set (RFC 9293 §3.7.4); an accepted
    socket takes its listener's setting, as on Linux."""
    tcp, nodelay = synack_socket.IPPROTO_TCP, synack_socket.TCP_NODELAY
    assert (tcp, nodelay) == (kernel_socket.IPPROTO_TCP, kernel_socket.TCP_NODELAY)
    server = synack_socket.socket(network=network)
    server.bind(("", 7001))
    server.setsockopt(tcp, nodelay, 1)
    server.listen()
    listener = kernel_socket.create_server((KERNEL, 8002))
    kernel_conns: list[kernel_socket.socket] = []
    with listener:
        client = synack_socket.create_connection((KERNEL, 8002), timeout=10, network=network)
        kernel_conns.append(listener.accept()[0])
    assert client.getsockopt(tcp, nodelay) == 0 and client.connection.nodelay is False
    client.setsockopt(tcp, nodelay, 1)
    assert client.getsockopt(tcp, nodelay) == 1 and client.connection.nodelay is True
    with kernel_socket.create_connection((SYNACK, 7001), timeout=10):
        server.settimeout(10)
        conn, _ = server.accept()
        assert conn.getsockopt(tcp, nodelay) == 1 and conn.connection.nodelay is True
        conn.setsockopt(tcp, nodelay, b"\0\0\0\0")
        assert conn.connection.nodelay is False
        conn.close()
    client.close()
    kernel_conns[0].close()
    server.close()


def test_keepalive_options_reach_the_connection_and_only_it(
    network: synack_socket.Network,
) -> None:
    listener = kernel_socket.create_server((KERNEL, 8003))
    with listener:
        client = synack_socket.socket(network=network)
        client.setsockopt(synack_socket.SOL_SOCKET, synack_socket.SO_KEEPALIVE, 1)
        client.setsockopt(synack_socket.IPPROTO_TCP, synack_socket.TCP_KEEPIDLE, 30)
        client.connect((KERNEL, 8003))
        peer, _ = listener.accept()
    conn = client.connection
    assert conn.keepalive is True and conn.config.keepalive_idle == 30.0
    assert network.stack.host.config.keepalive_idle == 7200.0  # the host's settings untouched
    client.setsockopt(synack_socket.IPPROTO_TCP, synack_socket.TCP_KEEPCNT, 4)
    assert client.getsockopt(synack_socket.IPPROTO_TCP, synack_socket.TCP_KEEPCNT) == 4
    assert client.getsockopt(synack_socket.SOL_SOCKET, synack_socket.SO_KEEPALIVE) == 1
    assert (synack_socket.SO_KEEPALIVE, synack_socket.TCP_KEEPIDLE) == (
        kernel_socket.SO_KEEPALIVE, kernel_socket.TCP_KEEPIDLE)
    client.close()
    peer.close()
