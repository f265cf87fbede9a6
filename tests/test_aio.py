"""synack's asyncio interfaces (streams, Transport) against the Linux kernel over a TUN device.

Every test runs in a private network namespace of its own (192.0.2.1 kernel, 192.0.2.2 synack).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from synack.net import tun
from synack.net.aio import Stack, SynackTransport
from synack.tcp.state import State

REASON = tun.tun_unavailable_reason()
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(REASON is not None, reason=f"TUN unavailable: {REASON}"),
]

KERNEL = "192.0.2.1"
SYNACK = "192.0.2.2"


@pytest.fixture
def netns() -> Iterator[int]:
    with tun.private_netns() as fd:
        yield fd


def run(
    body: Callable[[Stack], Awaitable[Any]], *, mtu: int = 1500, timeout: float = 30,
    checksum_offload: bool = False,
) -> Any:
    """Run `body(stack)` on a fresh loop with a Stack on a new TUN device (in the test's netns)."""

    async def main() -> Any:
        stack = Stack.open(tun.TunLink(mtu=mtu), checksum_offload=checksum_offload)
        try:
            return await asyncio.wait_for(body(stack), timeout)
        finally:
            stack.close()

    return asyncio.run(main())


def kernel_states(port: int) -> list[str]:
    from synack.cli.lab import kernel_states as states

    return states(port)


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    from synack.cli.lab import wait_for

    assert await wait_for(predicate, timeout), "condition not reached"


def transport_of(writer: asyncio.StreamWriter) -> SynackTransport:
    transport = writer.transport
    assert isinstance(transport, SynackTransport)
    return transport


def test_stream_client_talks_to_kernel_server(netns: int) -> None:
    async def body(stack: Stack) -> None:
        async def upper(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            line = await reader.readline()
            writer.write(line.upper())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(upper, KERNEL, 8000)
        async with server:
            reader, writer = await stack.open_connection(KERNEL, 8000)
            assert writer.get_extra_info("peername") == (KERNEL, 8000)
            local = writer.get_extra_info("sockname")
            assert local[0] == SYNACK and 1024 <= local[1] <= 65535
            writer.write(b"over synack\n")
            assert await reader.readline() == b"OVER SYNACK\n"
            assert await reader.read() == b""  # the kernel closed first
            conn = transport_of(writer).connection
            assert conn.state is State.CLOSE_WAIT
            assert conn.nodelay is True  # TCP_NODELAY, as asyncio's own transports set it
            writer.close()
            await writer.wait_closed()
            await until(lambda: conn.state is State.CLOSED)
            assert kernel_states(8000).count("TIME-WAIT") == 1

    run(body)


def test_kernel_client_talks_to_stream_server(netns: int) -> None:
    async def body(stack: Stack) -> None:
        peers: list[Any] = []

        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peers.append(writer.get_extra_info("peername"))
            while data := await reader.read(1000):
                writer.write(data)
            writer.close()

        await stack.start_server(echo, 7)
        reader, writer = await asyncio.open_connection(SYNACK, 7)  # the kernel's TCP
        writer.write(b"kernel to synack")
        assert await reader.readexactly(16) == b"kernel to synack"
        writer.write_eof()
        assert await reader.read() == b""
        assert peers == [(KERNEL, writer.get_extra_info("sockname")[1])]
        writer.close()

    run(body)


def test_unmodified_protocol_and_create_connection(netns: int) -> None:
    """asyncio.Protocol subclasses written for the kernel run unchanged on synack."""

    class Collect(asyncio.Protocol):
        def __init__(self) -> None:
            self.data = b""
            self.eof = False
            self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(b"ping")

        def data_received(self, data: bytes) -> None:
            self.data += data

        def eof_received(self) -> bool | None:
            self.eof = True
            return None  # close our side too

        def connection_lost(self, exc: Exception | None) -> None:
            self.lost.set_result(exc)

    async def body(stack: Stack) -> None:
        async def pong(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            assert await reader.readexactly(4) == b"ping"
            writer.write(b"pong")
            writer.close()

        server = await asyncio.start_server(pong, KERNEL, 8001)
        async with server:
            transport, protocol = await stack.create_connection(Collect, KERNEL, 8001)
            assert isinstance(protocol, Collect)
            assert await asyncio.wait_for(protocol.lost, 5) is None
            assert protocol.data == b"pong" and protocol.eof
            assert transport.is_closing()

    run(body)


async def transfer(stack: Stack, size: int, synack_closes_first: bool, port: int) -> None:
    """`size` bytes each way, compared by SHA-256, then both ends' final states.

    The side that closes first sends its bytes and FIN, reads the other's bytes to EOF; the
    other reads to EOF first, then sends and closes. The first closer ends in TIME-WAIT, the other
    in CLOSED (RFC 9293 §3.6).
    """
    block = hashlib.sha256(b"synack").digest() * 2048  # 64 KiB
    expected = hashlib.sha256()
    for _ in range(size // len(block)):
        expected.update(block)
    digest = expected.hexdigest()
    count = size // len(block)

    async def send(writer: asyncio.StreamWriter) -> None:
        for _ in range(count):
            writer.write(block)
            await writer.drain()

    async def receive(reader: asyncio.StreamReader) -> str:
        h = hashlib.sha256()
        while data := await reader.read(1 << 20):
            h.update(data)
        return h.hexdigest()

    kernel_got: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def kernel_side(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if synack_closes_first:
            kernel_got.set_result(await receive(reader))
            await send(writer)
            writer.close()
        else:
            await send(writer)
            writer.write_eof()
            kernel_got.set_result(await receive(reader))
            writer.close()

    server = await asyncio.start_server(kernel_side, KERNEL, port)
    async with server:
        reader, writer = await stack.open_connection(KERNEL, port)
        conn = transport_of(writer).connection
        if synack_closes_first:
            await send(writer)
            writer.write_eof()
            synack_got = await receive(reader)
        else:
            synack_got = await receive(reader)
            assert conn.state is State.CLOSE_WAIT
            await send(writer)
            writer.close()
        assert await kernel_got == digest
        assert synack_got == digest
        if synack_closes_first:
            await until(lambda: conn.state is State.TIME_WAIT)
            await until(lambda: kernel_states(port) == [])  # LAST-ACK acknowledged: gone
        else:
            await until(lambda: conn.state is State.CLOSED)
            await until(lambda: kernel_states(port) == ["TIME-WAIT"])
        writer.close()


@pytest.mark.parametrize("synack_closes_first", [True, False], ids=["synack-first", "kernel-first"])
def test_bulk_both_ways_byte_exact(netns: int, synack_closes_first: bool) -> None:
    run(lambda stack: transfer(stack, 4 << 20, synack_closes_first, 8002))


def test_bulk_with_checksum_offload(netns: int) -> None:
    """With the virtio-net header the kernel completes synack's partial checksums and synack
    trusts the kernel's: the transfer is still byte-exact and nothing is dropped."""

    async def body(stack: Stack) -> None:
        assert stack.tun.vnet_hdr and stack.tun.trust_partial and stack.host.checksum_offload
        await transfer(stack, 4 << 20, True, 8004)
        assert stack.host.stats.bad_checksum == 0 and stack.tun.write_drops == 0

    run(body, checksum_offload=True)


@pytest.mark.parametrize("synack_closes_first", [True, False], ids=["synack-first", "kernel-first"])
def test_bulk_100_megabytes_each_way(netns: int, synack_closes_first: bool) -> None:
    """The acceptance transfer: 100 MB each way over a 64 KiB-MTU link."""
    run(lambda stack: transfer(stack, 100 << 20, synack_closes_first, 8003), mtu=65535,
        timeout=240)


def test_closed_server_refuses_new_connections(netns: int) -> None:
    async def body(stack: Stack) -> None:
        async def ignore(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        server = await stack.start_server(ignore, 8080)
        assert server.is_serving()
        _reader, writer = await asyncio.open_connection(SYNACK, 8080)
        writer.close()
        server.close()
        await server.wait_closed()
        assert not server.is_serving()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(SYNACK, 8080)
        # The port can be listened on again.
        again = await stack.start_server(ignore, 8080)
        again.close()

    run(body)


def test_only_connections_with_news_are_serviced(netns: int) -> None:
    """Traffic on one connection services that connection's transport only, however many
    quiet ones the stack holds (the work per packet does not grow with open connections)."""

    async def body(stack: Stack) -> None:
        serviced: list[Any] = []
        original = SynackTransport._service

        def counting(self: SynackTransport) -> None:
            serviced.append(self.connection)
            original(self)

        class Echo(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                assert isinstance(transport, asyncio.WriteTransport)
                self.transport = transport

            def data_received(self, data: bytes) -> None:
                self.transport.write(data)

        await stack.create_server(Echo, 7)
        quiet = [await asyncio.open_connection(SYNACK, 7) for _ in range(20)]
        reader, writer = await asyncio.open_connection(SYNACK, 7)
        await until(lambda: len(stack._transports) == 21)
        busy = next(c for c in stack._transports if c.remote[1] ==
                    writer.get_extra_info("sockname")[1])
        SynackTransport._service = counting  # type: ignore[method-assign]
        try:
            for i in range(10):
                writer.write(b"ping %d" % i)
                assert await reader.readexactly(6) == b"ping %d" % i
        finally:
            SynackTransport._service = original  # type: ignore[method-assign]
        assert serviced and set(serviced) == {busy}
        for _, w in [*quiet, (reader, writer)]:
            w.close()

    run(body)
