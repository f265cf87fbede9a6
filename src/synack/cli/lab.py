"""`synack lab`: kernel-vs-synack scenarios in a private network namespace, end to end.

Each scenario creates nothing outside the namespace the command makes for it: a TUN device whose
kernel side is 192.0.2.1 and whose far side is synack at 192.0.2.2. The kernel's end is ordinary
asyncio / socket code on the same event loop; its states are read with `ss -tan`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import click

from synack.cli.pipes import stop_when_reader_gone
from synack.cli.serve import (
    EXIT_INTERRUPTED,
    LinkOptions,
    describe,
    endpoint,
    link_options,
    open_device,
    open_trace,
    require_root,
    setup_errors,
)
from synack.net.tun import Tun, TunLink, private_netns

KERNEL_PORT = 8000
SYNACK_PORT = 9000


@dataclass
class Outcome:
    """What a scenario observed: named facts (states, errors, byte counts)."""

    facts: dict[str, Any] = field(default_factory=dict)

    def note(self, key: str, value: Any, out: TextIO | None) -> None:
        self.facts[key] = value
        if out is not None:
            print(f"== {key}: {value}", file=out, flush=True)


class Lab:
    """A traced Stack on a TUN device in the current namespace, plus kernel-side helpers."""

    def __init__(self, opts: LinkOptions, out: TextIO | None, device: Tun | None = None) -> None:
        from synack.net.aio import Stack, default_config

        self.opts = opts
        self.out = out
        self.trace = open_trace(opts, out, out is not None)
        self.drop: Callable[[bytes], bool] | None = None
        if device is None:
            try:
                device = open_device(opts)
            except BaseException:
                self.trace.close()
                raise
        self.stack = Stack.open(
            opts.link, device=device, config=default_config(opts.link.mtu, opts.version),
            tap=self.trace.tap, on_transition=self.trace.on_transition, outgoing_filter=self._keep,
        )
        self.outcome = Outcome()

    @property
    def kernel(self) -> str:
        return self.opts.link.kernel_address

    @property
    def synack(self) -> str:
        return self.opts.link.synack_address

    def _keep(self, packet: bytes) -> bool:
        return self.drop is None or not self.drop(packet)

    def note(self, key: str, value: Any) -> None:
        self.outcome.note(key, value, self.out)

    def say(self, text: str) -> None:
        if self.out is not None:
            print(f"== {text}", file=self.out, flush=True)

    def close(self) -> None:
        self.stack.close()
        self.trace.close()


def kernel_states(port: int | None = None) -> list[str]:
    """The kernel's TCP states (as `ss -tan` names them) of connections with `port` at either end
    (listening sockets left out)."""
    out = subprocess.run(["ss", "-tanH"], capture_output=True, text=True, check=True).stdout
    states = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 5 or parts[0] == "LISTEN":
            continue
        if port is None or parts[3].endswith(f":{port}") or parts[4].endswith(f":{port}"):
            states.append(parts[0])
    return states


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            return False
        await asyncio.sleep(0.005)
    return True


def abort_kernel_socket(sock: socket.socket) -> None:
    """close() with SO_LINGER 0: the kernel sends RST (RFC 9293 §3.10.5 ABORT)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


# ---- scenarios ----------------------------------------------------------------------------------


async def handshake(lab: Lab) -> None:
    """Three-way handshake to a kernel server, an echo, synack closes first (four-way)."""
    accepted: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
        asyncio.get_running_loop().create_future())

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set_result((reader, writer))

    server = await asyncio.start_server(on_client, lab.kernel, KERNEL_PORT)
    async with server:
        lab.say(f"synack connects to the kernel's {endpoint(lab.kernel, KERNEL_PORT)}")
        reader, writer = await lab.stack.open_connection(lab.kernel, KERNEL_PORT)
        k_reader, k_writer = await accepted
        lab.note("synack_state", writer.transport.connection.state.value)  # type: ignore[attr-defined]
        lab.note("kernel_states", kernel_states(KERNEL_PORT))
        writer.write(b"hello, kernel\n")
        k_writer.write(await k_reader.readline())
        lab.note("echoed", (await reader.readline()).decode().strip())
        conn = writer.transport.connection  # type: ignore[attr-defined]
        lab.say("synack closes first")
        writer.close()
        await k_reader.read()  # the kernel sees EOF
        await wait_for(lambda: kernel_states(KERNEL_PORT).count("CLOSE-WAIT") == 1)
        lab.note("kernel_after_synack_fin", sorted(kernel_states(KERNEL_PORT)))
        k_writer.close()
        await wait_for(lambda: conn.state.value == "TIME_WAIT")
        lab.note("synack_final", conn.state.value)
        await wait_for(lambda: "LAST-ACK" not in kernel_states(KERNEL_PORT))
        lab.note("kernel_final", kernel_states(KERNEL_PORT))


async def refused(lab: Lab) -> None:
    """A SYN to a closed port is refused with RST, both ways (RFC 9293 §3.10.7.1)."""
    lab.say(f"synack connects to the kernel's closed port {KERNEL_PORT + 1}")
    try:
        await lab.stack.open_connection(lab.kernel, KERNEL_PORT + 1)
        lab.note("synack_connect", "connected")
    except ConnectionRefusedError as exc:
        lab.note("synack_connect", type(exc).__name__)
    lab.say(f"the kernel connects to synack's closed port {SYNACK_PORT + 1}")
    try:
        _reader, writer = await asyncio.wait_for(
            asyncio.open_connection(lab.synack, SYNACK_PORT + 1), 10)
        writer.close()
        lab.note("kernel_connect", "connected")
    except ConnectionRefusedError as exc:
        lab.note("kernel_connect", type(exc).__name__)


async def reset(lab: Lab) -> None:
    """Each side aborts an established connection; the other sees ConnectionResetError."""
    loop = asyncio.get_running_loop()
    listener = socket.create_server((lab.kernel, KERNEL_PORT))
    listener.setblocking(False)
    with listener:
        # synack aborts: the kernel's recv fails with ECONNRESET.
        reader, writer = await lab.stack.open_connection(lab.kernel, KERNEL_PORT)
        ksock, _ = await loop.sock_accept(listener)
        with ksock:
            writer.write(b"data before the reset")
            await loop.sock_recv(ksock, 100)
            lab.say("synack aborts")
            writer.transport.abort()
            try:
                await asyncio.wait_for(loop.sock_recv(ksock, 100), 5)
                lab.note("kernel_recv", "no error")
            except ConnectionResetError as exc:
                lab.note("kernel_recv", type(exc).__name__)
        # The kernel aborts: synack's read fails with ConnectionResetError.
        reader, writer = await lab.stack.open_connection(lab.kernel, KERNEL_PORT)
        ksock, _ = await loop.sock_accept(listener)
        await loop.sock_sendall(ksock, b"data before the reset")
        await reader.readexactly(21)
        conn = writer.transport.connection  # type: ignore[attr-defined]
        lab.say("the kernel aborts (SO_LINGER 0)")
        abort_kernel_socket(ksock)
        try:
            await asyncio.wait_for(reader.read(), 5)
            lab.note("synack_read", "no error")
        except ConnectionResetError as exc:
            lab.note("synack_read", type(exc).__name__)
        lab.note("synack_state", conn.state.value)


async def simultaneous_close(lab: Lab) -> None:
    """Simultaneous close: both FINs cross, both go FIN-WAIT-1 -> CLOSING -> TIME-WAIT.

    RFC 9293 §3.6, figure 13.
    """
    loop = asyncio.get_running_loop()
    listener = socket.create_server((lab.kernel, KERNEL_PORT))
    listener.setblocking(False)
    with listener:
        _reader, writer = await lab.stack.open_connection(lab.kernel, KERNEL_PORT)
        ksock, _ = await loop.sock_accept(listener)
        conn = writer.transport.connection  # type: ignore[attr-defined]
        await asyncio.sleep(0.05)
        lab.say("both close at once")
        # In one callback: the kernel's FIN waits unread in the TUN queue while synack's FIN is
        # written by the flush that runs before the next read.
        ksock.shutdown(socket.SHUT_WR)
        writer.close()
        await wait_for(lambda: conn.state.value == "TIME_WAIT")
        await wait_for(lambda: "TIME-WAIT" in kernel_states(KERNEL_PORT))
        lab.note("synack_final", conn.state.value)
        lab.note("kernel_final", kernel_states(KERNEL_PORT))
        ksock.close()


async def time_wait(lab: Lab) -> None:
    """synack's last ACK is lost; the kernel's retransmitted FIN is re-ACKed from TIME-WAIT.

    synack closes first; the lab drops its ACK of the kernel's FIN, the kernel retransmits the FIN
    from LAST-ACK and synack acknowledges it again from TIME-WAIT (RFC 9293 §3.10.7.4, TIME-WAIT:
    "acknowledge it, and restart the 2 MSL timeout").
    """
    from synack.wire.ip import parse_tcp_packet
    from synack.wire.tcp import TcpFlags

    loop = asyncio.get_running_loop()
    listener = socket.create_server((lab.kernel, KERNEL_PORT))
    listener.setblocking(False)
    dropped: list[bytes] = []
    acks_after_drop: list[bytes] = []

    def drop(packet: bytes) -> bool:
        _, seg = parse_tcp_packet(packet)
        if seg.flags != TcpFlags.ACK or seg.payload or conn.state.value != "TIME_WAIT":
            return False
        if not dropped:
            dropped.append(packet)
            lab.say("(the lab drops synack's ACK of the kernel's FIN)")
            return True
        acks_after_drop.append(packet)
        return False

    with listener:
        _reader, writer = await lab.stack.open_connection(lab.kernel, KERNEL_PORT)
        ksock, _ = await loop.sock_accept(listener)
        conn = writer.transport.connection  # type: ignore[attr-defined]
        lab.drop = drop
        writer.close()
        while await loop.sock_recv(ksock, 100):
            pass
        ksock.close()
        await wait_for(lambda: bool(acks_after_drop), 10)
        lab.note("dropped_acks", len(dropped))
        lab.note("re_acks", len(acks_after_drop))
        await wait_for(lambda: "LAST-ACK" not in kernel_states(KERNEL_PORT))
        lab.note("synack_final", conn.state.value)
        lab.note("kernel_final", kernel_states(KERNEL_PORT))
        lab.drop = None


async def sack_recovery(lab: Lab) -> None:
    """Two of synack's segments are lost; Linux's SACK blocks get both resent in one round trip.

    RFC 6675: both holes are resent before any timeout, the second while the first is still
    unacknowledged (NewReno would wait for that ACK)."""
    from synack.wire.ip import parse_tcp_packet

    loop = asyncio.get_running_loop()
    listener = socket.create_server((lab.kernel, KERNEL_PORT))
    listener.setblocking(False)
    sent: dict[int, int] = {}  # data segment number -> transmissions
    lost = (3, 7)
    base: list[int] = []

    def drop(packet: bytes) -> bool:
        _, seg = parse_tcp_packet(packet)
        if not seg.payload:
            return False
        number = ((seg.seq - base[0]) & 0xFFFFFFFF) // len(seg.payload) + 1
        sent[number] = sent.get(number, 0) + 1
        if number == lost[1] and sent[number] == 2:  # the second hole resent: is the first
            una = ((conn.snd_una - base[0]) & 0xFFFFFFFF) // len(seg.payload) + 1  # filled yet?
            lab.note("first_unacknowledged_when_the_second_went", una)
        if number in lost and sent[number] == 1:
            lab.say(f"(the lab drops synack's data segment {number})")
            return True
        return False

    with listener:
        _reader, writer = await lab.stack.open_connection(lab.kernel, KERNEL_PORT)
        ksock, _ = await loop.sock_accept(listener)
        conn = writer.transport.connection  # type: ignore[attr-defined]
        base.append(conn.snd_nxt)
        lab.drop = drop
        size = 20 * conn.smss
        writer.write(bytes(size))
        writer.write_eof()
        received = 0
        while chunk := await loop.sock_recv(ksock, 65536):
            received += len(chunk)
        ksock.close()
        lab.drop = None
        lab.note("kernel_received", received == size)
        # Only the two lost segments went twice: no timeout (it would resend from the first
        # hole on, what the kernel already had too).
        lab.note("resent", sorted(n for n, times in sent.items() if times > 1))


async def http(lab: Lab) -> None:
    """curl fetches a page from an unmodified asyncio.Protocol HTTP server running on synack."""
    from synack.cli.serve import BODY

    class HttpProtocol(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            if b"\r\n\r\n" in self.buffer:
                assert isinstance(self.transport, asyncio.WriteTransport)
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: "
                    + str(len(BODY)).encode() + b"\r\nConnection: close\r\n\r\n" + BODY)
                self.transport.close()

    await lab.stack.create_server(HttpProtocol, 80)
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sS", "--max-time", "10", f"http://{lab.synack}/",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, _err = await proc.communicate()
    lab.note("curl_exit", proc.returncode)
    lab.note("curl_body_matches", out == BODY)
    await lab.stack.settle(3)


SCENARIOS: dict[str, Callable[[Lab], Awaitable[None]]] = {
    "handshake": handshake,
    "refused": refused,
    "reset": reset,
    "simultaneous-close": simultaneous_close,
    "time-wait": time_wait,
    "sack-recovery": sack_recovery,
    "http": http,
}


def run_scenario(name: str, opts: LinkOptions | None = None, out: TextIO | None = None) -> Outcome:
    """Run one scenario in a private network namespace of its own; returns what it observed."""
    opts = opts or LinkOptions(TunLink(), "synack%d", None, False)
    scenario = SCENARIOS[name]
    with private_netns():

        async def main() -> Outcome:
            lab = Lab(opts, out)
            try:
                await asyncio.wait_for(scenario(lab), 60)
            finally:
                with contextlib.suppress(Exception):
                    await lab.stack.settle(1)
                lab.close()
            return lab.outcome

        return asyncio.run(main())


@click.command(
    epilog=(
        "Exit status: 0 the scenario ran; 1 it failed (the reason is printed); 2 bad usage (an "
        "unknown SCENARIO or link options that cannot work included); 3 not root "
        "(CAP_NET_ADMIN and CAP_SYS_ADMIN) or no /dev/net/tun; 130 interrupted."
    )
)
@click.argument("scenario", required=False)
@click.option("--list", "list_", is_flag=True, help="List the scenarios.")
@link_options
def command(scenario: str | None, list_: bool, **link: Any) -> None:
    """Run SCENARIO between synack and the Linux kernel in a private network namespace.

    Creates a network namespace of its own (nothing can leave it), a TUN device with the kernel on
    --kernel-address and synack on --address, and plays the scenario end to end, printing every
    segment as `tcpdump -nn` does, synack's state changes as `#` lines and what each side ended
    in as `==` lines. Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and /dev/net/tun.

    Without SCENARIO (or with --list) it lists the scenarios and exits.
    """
    if list_ or scenario is None:
        with stop_when_reader_gone():
            for name, func in SCENARIOS.items():
                doc = (func.__doc__ or "").split("\n")[0]
                click.echo(f"{name:<20} {doc}")
        return
    if scenario not in SCENARIOS:
        raise click.UsageError(f"unknown scenario {scenario!r} (see synack lab --list)")
    opts = LinkOptions.from_kwargs(link)
    require_root("lab", netns=True)
    failures: tuple[type[BaseException], ...] = (
        *setup_errors(), TimeoutError, asyncio.IncompleteReadError)
    try:
        run_scenario(scenario, opts, sys.stdout)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    except failures as exc:
        raise click.ClickException(f"{scenario}: {describe(exc)}") from None
