"""Real-wire benchmark: synack on a TUN device against the Linux kernel, next to kernel <-> kernel.

Everything runs inside private network namespaces this script creates (nothing can leave them):

- bulk throughput synack -> kernel and kernel -> synack over TUN, next to kernel -> kernel over a
  veth pair (the peer end in a second namespace so packets really cross the pair);
- connections per second (connect, 16-byte echo, close, one at a time) from a kernel Python client
  to a synack echo server over TUN, next to the same client against a kernel echo server over veth:
  a blocking one-connection-at-a-time server (the reference of the ratio), and synack's own echo
  program (an asyncio.Protocol) on kernel sockets, which separates synack's cost from asyncio's.

Each server runs in its own process so client and server do not share an interpreter; the CPU time
each server process spends per connection (user and system, from /proc) is printed under its rate,
which shows what bounds a server that is never idle. synack runs on a 64 KiB-MTU TUN link (one
write per 64 KiB segment); the kernel's veth pair uses its offloads (GSO/GRO). synack's TUN device
carries the virtio-net header so that the kernel computes and checks TCP checksums
(`--no-checksum-offload`: synack does both itself). `--profile` prints where synack's process
spends its time, by layer.
`benchmarks/bench_tun_echo.py` runs the same synack echo server without a device, against a
scripted Linux client, for repeatable counts (e.g. `perf stat -e instructions:u`).
`--idle N` holds N quiet connections open to each echo server while its connection rate is timed
(the work per packet must not grow with the connections a server holds); the kernel's echo server
is then the same asyncio.Protocol on kernel sockets, since one connection at a time cannot hold
them.
Usage (root): python benchmarks/bench_tun.py [--megabytes 200] [--connections 2000] [--idle 0]
[--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from synack.net import tun

VETH_CLIENT = "198.51.100.1"
VETH_SERVER = "198.51.100.2"
PORT_BULK = 5001
PORT_ECHO = 5007
CHUNK = 256 * 1024

_fork = multiprocessing.get_context("fork")


# ---- kernel servers (run in a forked child) -----------------------------------------------------


class Echo(asyncio.Protocol):
    """The echo program of the connection-rate runs, on kernel sockets and on synack alike."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)



def kernel_sink(address: str, port: int, ready: Any) -> None:
    """Accept one connection, read to EOF, reply with the byte count (8 bytes)."""
    with socket.create_server((address, port)) as srv:
        ready.send(True)
        conn, _ = srv.accept()
        with conn:
            buf = bytearray(CHUNK)
            view = memoryview(buf)
            total = 0
            while n := conn.recv_into(view):
                total += n
            conn.sendall(total.to_bytes(8, "big"))


def kernel_source(address: str, port: int, nbytes: int, ready: Any) -> None:
    """Accept one connection and send `nbytes` to it, then close."""
    with socket.create_server((address, port)) as srv:
        ready.send(True)
        conn, _ = srv.accept()
        with conn:
            send_bytes(conn, nbytes)


def kernel_echo(address: str, port: int, ready: Any) -> None:
    """Echo server: one connection at a time, until killed."""
    with socket.create_server((address, port), backlog=512) as srv:
        ready.send(True)
        while True:
            conn, _ = srv.accept()
            with conn:
                while data := conn.recv(4096):
                    conn.sendall(data)


def kernel_echo_many(address: str, port: int, ready: Any) -> None:
    """Echo server holding any number of connections: the same asyncio.Protocol as synack's echo
    server, on kernel sockets (used with --idle)."""
    async def serve() -> None:
        loop = asyncio.get_running_loop()
        await loop.create_server(Echo, address, port, backlog=512)
        ready.send(True)
        await asyncio.Event().wait()

    asyncio.run(serve())


# ---- kernel clients -----------------------------------------------------------------------------


def send_bytes(sock: socket.socket, nbytes: int) -> None:
    block = memoryview(bytes(CHUNK))
    left = nbytes
    while left > 0:
        n = min(left, CHUNK)
        sock.sendall(block[:n])
        left -= n


def client_send(address: str, port: int, nbytes: int) -> float:
    """Send nbytes to a sink; seconds from connect until the sink confirms the count."""
    start = time.perf_counter()
    with socket.create_connection((address, port)) as sock:
        send_bytes(sock, nbytes)
        sock.shutdown(socket.SHUT_WR)
        reply = recv_exact(sock, 8)
    elapsed = time.perf_counter() - start
    if int.from_bytes(reply, "big") != nbytes:
        raise RuntimeError(f"sink counted {int.from_bytes(reply, 'big')} bytes, sent {nbytes}")
    return elapsed


def client_receive(address: str, port: int, nbytes: int) -> float:
    start = time.perf_counter()
    total = 0
    with socket.create_connection((address, port)) as sock:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while n := sock.recv_into(view):
            total += n
    elapsed = time.perf_counter() - start
    if total != nbytes:
        raise RuntimeError(f"received {total} bytes, expected {nbytes}")
    return elapsed


def recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        more = sock.recv(n - len(data))
        if not more:
            raise ConnectionError("peer closed early")
        data += more
    return data


def connection_rate(address: str, port: int, count: int, idle: int = 0) -> float:
    """Connections per second: connect, 16-byte echo, close; one at a time, while `idle` other
    connections (each echoed once) stay open and quiet."""
    message = b"0123456789abcdef"
    held = []
    try:
        for _ in range(idle):
            sock = socket.create_connection((address, port))
            held.append(sock)
            sock.sendall(message)
            if recv_exact(sock, 16) != message:
                raise RuntimeError("echo mismatch")
        start = time.perf_counter()
        for _ in range(count):
            with socket.create_connection((address, port)) as sock:
                sock.sendall(message)
                if recv_exact(sock, 16) != message:
                    raise RuntimeError("echo mismatch")
        return count / (time.perf_counter() - start)
    finally:
        for sock in held:
            sock.close()


# ---- namespaces ---------------------------------------------------------------------------------


@contextlib.contextmanager
def veth_pair() -> Iterator[int]:
    """In the current namespace: veth0 (client side) whose peer sits in a nested namespace."""
    with tun.nested_netns() as peer_ns:
        tun.create_veth("veth0", "veth1", peer_netns_fd=peer_ns)
        tun.configure_link(tun.LinkConfig("veth0", VETH_CLIENT, 24))
        with tun.netns_entered(peer_ns):
            tun.configure_link(tun.LinkConfig("veth1", VETH_SERVER, 24))
        yield peer_ns


@contextlib.contextmanager
def child(target: Callable[..., None], *args: Any, netns: int | None = None) -> Iterator[Any]:
    """Fork `target(*args, ready)` (inside `netns` if given); wait until it says it is ready."""
    parent_end, child_end = _fork.Pipe()
    ctx = tun.netns_entered(netns) if netns is not None else contextlib.nullcontext()
    with ctx:
        proc = _fork.Process(target=target, args=(*args, child_end), daemon=True)
        proc.start()
    try:
        if not parent_end.poll(20):
            raise RuntimeError(f"{target.__name__} did not start")
        parent_end.recv()
        yield proc
    finally:
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()
            proc.join()


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU seconds a process has used so far (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def timed_rate(pid: int, address: str, port: int, conns: int, idle: int = 0) -> float:
    """`connection_rate`, then the CPU the server process `pid` spent per connection."""
    user0, sys0 = cpu_seconds(pid)
    rate = connection_rate(address, port, conns, idle)
    user1, sys1 = cpu_seconds(pid)
    user, system = 1e6 * (user1 - user0) / (idle + conns), 1e6 * (sys1 - sys0) / (idle + conns)
    print(f"{'  server CPU per connection':<48} {user + system:>10.0f} us  (user {user:.0f}, "
          f"system {system:.0f})", flush=True)
    return rate


def mb_per_s(nbytes: int, seconds: float) -> float:
    return nbytes / seconds / 1e6


def report(label: str, value: float, unit: str, baseline: float | None = None) -> None:
    ratio = f"   ({value / baseline:.3f} x kernel)" if baseline else ""
    extra = f" = {value * 8 / 1000:.2f} Gbit/s" if unit == "MB/s" else ""
    print(f"{label:<48} {value:>10.1f} {unit}{extra}{ratio}", flush=True)


def kernel_baselines(nbytes: int, conns: int, idle: int = 0) -> tuple[float, float]:
    with veth_pair() as peer:
        with child(kernel_sink, VETH_SERVER, PORT_BULK, netns=peer):
            bulk = mb_per_s(nbytes, client_send(VETH_SERVER, PORT_BULK, nbytes))
        report("bulk kernel -> kernel (veth)", bulk, "MB/s")
        rate = 0.0
        if not IDLE:  # one connection at a time: the fastest kernel server a script can be
            with child(kernel_echo, VETH_SERVER, PORT_ECHO, netns=peer) as proc:
                rate = timed_rate(proc.pid, VETH_SERVER, PORT_ECHO, conns)
                proc.kill()
            report("conn/s kernel client -> kernel server (veth)", rate, "conn/s")
        with child(kernel_echo_many, VETH_SERVER, PORT_ECHO, netns=peer) as proc:
            same = timed_rate(proc.pid, VETH_SERVER, PORT_ECHO, conns, IDLE)
            proc.kill()
        report(f"conn/s ... kernel asyncio.Protocol server{IDLE_LABEL}", same, "conn/s")
    global SAME_PROGRAM_RATE
    SAME_PROGRAM_RATE = same
    return bulk, rate or same


# ---- synack over TUN ----------------------------------------------------------------------------

TUN_KERNEL = "192.0.2.1"
TUN_SYNACK = "192.0.2.2"
OFFLOAD = True  # TUN with the virtio-net header: the kernel computes and checks TCP checksums
IDLE = 0  # connections held open (idle) to the echo server while the connection rate is timed
IDLE_LABEL = ""
SAME_PROGRAM_RATE = 0.0  # the kernel with synack's echo program (asyncio.Protocol) as server


def synack_config(mtu: int) -> Any:
    from synack.tcp.config import TcpConfig

    return TcpConfig(mss=mtu - 40, rcv_buf=4 << 20, snd_buf=4 << 20)


async def synack_send(stack: Any, nbytes: int) -> float:
    """synack sends nbytes to the kernel sink; seconds until the sink confirms the count."""
    start = time.perf_counter()
    reader, writer = await stack.open_connection(TUN_KERNEL, PORT_BULK)
    block = bytes(CHUNK)
    left = nbytes
    while left > 0:
        writer.write(block[: min(left, CHUNK)])
        left -= CHUNK
        await writer.drain()
    writer.write_eof()
    reply = await reader.readexactly(8)
    elapsed = time.perf_counter() - start
    writer.close()
    if int.from_bytes(reply, "big") != nbytes:
        raise RuntimeError(f"sink counted {int.from_bytes(reply, 'big')} bytes, sent {nbytes}")
    return elapsed


async def synack_receive(stack: Any, nbytes: int) -> float:
    start = time.perf_counter()
    reader, writer = await stack.open_connection(TUN_KERNEL, PORT_BULK)
    total = 0
    while data := await reader.read(1 << 20):
        total += len(data)
    elapsed = time.perf_counter() - start
    writer.close()
    if total != nbytes:
        raise RuntimeError(f"received {total} bytes, expected {nbytes}")
    return elapsed


def synack_echo_server(mtu: int, profile: bool, ready: Any) -> None:
    """A synack echo server (an asyncio.Protocol, the lightest of synack's program interfaces) on
    its own TUN device, in this (forked) process, until killed."""
    from synack.net.aio import Stack

    async def serve() -> None:
        stack = Stack.open(tun.TunLink(mtu=mtu), name="synackecho", config=synack_config(mtu),
                           checksum_offload=OFFLOAD)
        await stack.create_server(Echo, PORT_ECHO, backlog=512)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        ready.send(True)
        await stop.wait()

    if not profile:
        asyncio.run(serve())
        return
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(asyncio.run, serve())
    print_layers(pstats.Stats(profiler), "connections")


LAYERS = (
    ("checksum", "synack/wire/checksum.py"),
    ("wire codec", "synack/wire/"),
    ("tcp core", "synack/tcp/"),
    ("host demux", "synack/host.py"),
    ("tun driver", "synack/net/"),
    ("asyncio", "asyncio/"),
)


def print_layers(stats: Any, what: str = "bulk, both directions") -> None:
    """Own time of a profiled run, summed by layer; C functions (syscalls) by name."""
    totals: dict[str, float] = {}
    for (filename, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        own = row[2]
        if filename == "~":  # C functions: name them (int.from_bytes is the checksum's)
            label = name.strip("<>").replace("built-in method ", "").replace("method ", "")
            layer = f"C: {label.split(' of ')[0]}"
        else:
            layer = next((label for label, part in LAYERS if part in filename), "other python")
        totals[layer] = totals.get(layer, 0.0) + own
    total = sum(totals.values())
    print(f"  where the synack process spent its time ({what}, {total:.2f} s):", flush=True)
    rest = 0.0
    for layer, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        if seconds < total / 100:
            rest += seconds
            continue
        print(f"    {layer:<32} {seconds:7.2f} s  {100 * seconds / total:5.1f} %")
    print(f"    {'(each under 1 %)':<32} {rest:7.2f} s  {100 * rest / total:5.1f} %")


def synack_runs(
    nbytes: int, conns: int, mtu: int, bulk: float, rate: float, profile: bool = False
) -> None:
    from synack.net.aio import Stack

    async def bulk_runs() -> tuple[float, float]:
        stack = Stack.open(tun.TunLink(mtu=mtu), name="synackbulk", config=synack_config(mtu),
                           checksum_offload=OFFLOAD)
        try:
            with child(kernel_sink, TUN_KERNEL, PORT_BULK):
                up = await synack_send(stack, nbytes)
            with child(kernel_source, TUN_KERNEL, PORT_BULK, nbytes):
                down = await synack_receive(stack, nbytes)
        finally:
            stack.close()
        return up, down

    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        up, down = profiler.runcall(asyncio.run, bulk_runs())
        print_layers(pstats.Stats(profiler))
    else:
        up, down = asyncio.run(bulk_runs())
    report(f"bulk synack -> kernel (tun, mtu {mtu})", mb_per_s(nbytes, up), "MB/s", bulk)
    report(f"bulk kernel -> synack (tun, mtu {mtu})", mb_per_s(nbytes, down), "MB/s", bulk)
    with child(synack_echo_server, 1500, profile) as proc:
        synack_rate = timed_rate(proc.pid, TUN_SYNACK, PORT_ECHO, conns, IDLE)
        proc.terminate()  # SIGTERM: the server stops (and prints its profile)
    report(f"conn/s kernel client -> synack server (tun){IDLE_LABEL}", synack_rate, "conn/s",
           rate)
    if not IDLE:
        print(f"{'  ... vs the same asyncio.Protocol on kernel sockets':<48} "
              f"{synack_rate / SAME_PROGRAM_RATE:>10.3f} x", flush=True)
    up_mb, down_mb = mb_per_s(nbytes, up), mb_per_s(nbytes, down)
    bulk_aim = "met" if min(up_mb, down_mb) >= 125 else "not met"
    rate_aim = "met" if synack_rate >= rate / 2 else "not met"
    print(f"# aims: >= 1 Gbit/s each way: {bulk_aim}; >= half the kernel's connection rate: "
          f"{rate_aim}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=200, help="bulk transfer size (MB)")
    parser.add_argument("--connections", type=int, default=2000, help="connections to time")
    parser.add_argument("--mtu", type=int, default=65535, help="TUN MTU")
    parser.add_argument("--idle", type=int, default=0,
                        help="idle connections held open to the echo server during the "
                             "connection-rate runs (kernel and synack alike)")
    parser.add_argument("--kernel-only", action="store_true", help="only the kernel baselines")
    parser.add_argument("--no-checksum-offload", action="store_true",
                        help="synack computes and verifies every TCP checksum itself")
    parser.add_argument("--profile", action="store_true",
                        help="profile synack's side of each run and print the time per layer")
    args = parser.parse_args(argv)
    global OFFLOAD, IDLE, IDLE_LABEL
    OFFLOAD = not args.no_checksum_offload
    IDLE = args.idle
    IDLE_LABEL = f", {IDLE} idle" if IDLE else ""
    reason = tun.tun_unavailable_reason()
    if reason is not None:
        print(f"bench_tun: {reason}", file=sys.stderr)
        return 2
    nbytes = args.megabytes * 1_000_000
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"# {os.cpu_count()} CPUs, load average {load}; {args.megabytes} MB per bulk run, "
          f"{args.connections} connections; checksum offload {'on' if OFFLOAD else 'off'}",
          flush=True)
    with tun.private_netns():
        bulk, rate = kernel_baselines(nbytes, args.connections)
        if not args.kernel_only:
            synack_runs(nbytes, args.connections, args.mtu, bulk, rate, args.profile)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
