"""Full TCP connection lifecycles per second: synack on the simulated network vs the Linux kernel.

One lifecycle: connect, a 100-byte request, a 1 kB response, close (the client closes first).

- synack: a client host and a server host on a simulated link with zero delay; every segment is
  built into real IP bytes, checksummed, parsed and demultiplexed, all in this one process.
- kernel: the same lifecycle over loopback with Python sockets, a client process and a server
  process, measured in the same run.

Then the memory (tracemalloc) of 100,000 idle ESTABLISHED connections and of 100,000 TIME-WAIT
entries held by one host, in bytes each.

`--compiled` also times synack with its per-segment modules compiled by mypyc (in a temporary
copy of the package; the package itself stays pure Python): what interpretation costs.

Usage: python benchmarks/bench_lifecycle.py [--lifecycles 3000] [--idle 100000] [--compiled]
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import multiprocessing
import socket
import time
import tracemalloc
from functools import partial
from typing import Any

from synack.host import Host
from synack.net.sim import Network, Node
from synack.tcp.config import TcpConfig
from synack.tcp.state import State

REQUEST = b"q" * 100
RESPONSE = b"r" * 1000
PORT = 80
CLIENT = ipaddress.ip_address("10.0.0.1")
SERVER = ipaddress.ip_address("10.0.0.2")

_fork = multiprocessing.get_context("fork")


# ---- synack on the simulated network -------------------------------------------------------------


class LifecycleDriver:
    """Plays both programs, one connection at a time, reacting after every host activity."""

    def __init__(self, net: Network, client: Node, server: Node, count: int) -> None:
        self.net, self.client, self.server = net, client, server
        self.count = count
        self.done = 0
        self.cconn: Any = None
        self.sconn: Any = None
        self.sent_request = False
        self.sent_response = False
        self.client_got = 0
        self.server_got = 0
        self.errors = 0
        net.after_activity.append(self.activity)

    def start(self) -> None:
        self.sent_request = self.sent_response = False
        self.client_got = self.server_got = 0
        self.sconn = None
        host: Any = self.client.host
        self.cconn = self.net.interact(
            self.client, lambda: host.connect(SERVER, PORT, self.net.now)
        )

    def activity(self, node: Node) -> None:
        now = self.net.now
        if node is self.server:
            conn = self.sconn
            if conn is None:
                host: Any = node.host
                conn = self.sconn = host.accept(PORT)
                if conn is None:
                    return
            while conn.next_event() is not None:
                pass
            data = conn.receive()
            if data:
                self.server_got += len(data)
            if self.server_got >= len(REQUEST) and not self.sent_response:
                self.sent_response = True
                conn.send(RESPONSE, now)
                self.net.interact(node, lambda: None)
            elif self.sent_response and conn.state is State.CLOSE_WAIT:
                self.net.interact(node, lambda: conn.close(now))
        else:
            conn = self.cconn
            if conn is None:
                return
            while conn.next_event() is not None:
                pass
            state = conn.state
            if state is State.ESTABLISHED and not self.sent_request:
                self.sent_request = True
                self.net.interact(node, lambda: conn.send(REQUEST, now))
                return
            data = conn.receive()
            if data:
                self.client_got += len(data)
                if self.client_got >= len(RESPONSE):
                    self.net.interact(node, lambda: conn.close(now))
                    return
            if state in (State.TIME_WAIT, State.CLOSED) and self.cconn is conn:
                if state is State.CLOSED and conn.error is not None:
                    self.errors += 1
                self.done += 1
                self.cconn = None
                if self.done < self.count:
                    self.net.call_later(0.0, self.start)


def synack_lifecycles(count: int) -> tuple[float, float]:
    """Lifecycles per second on the simulated network (zero delay): per wall-clock second and per
    CPU second of this process."""
    net = Network(0)
    client = net.add_host("client", Host([CLIENT], config=TcpConfig()), [CLIENT])
    server_host = Host([SERVER], config=TcpConfig())
    server = net.add_host("server", server_host, [SERVER])
    net.link(client, server)
    net.interact(server, lambda: server_host.listen(PORT, backlog=1024))
    driver = LifecycleDriver(net, client, server, count)
    t0, c0 = time.perf_counter(), time.process_time()
    driver.start()
    net.run(stop=lambda: driver.done >= count)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    if driver.done != count or driver.errors:
        raise RuntimeError(f"synack: {driver.done}/{count} lifecycles, {driver.errors} errors")
    return count / elapsed, count / cpu


# ---- the Linux kernel over loopback -------------------------------------------------------------


def _kernel_server(port_pipe: Any, count: int) -> None:
    with socket.create_server(("127.0.0.1", 0), backlog=1024) as srv:
        port_pipe.send(srv.getsockname()[1])
        for _ in range(count):
            conn, _ = srv.accept()
            with conn:
                got = 0
                while got < len(REQUEST):
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    got += len(chunk)
                conn.sendall(RESPONSE)
                while conn.recv(4096):
                    pass


def _kernel_client(port: int, count: int, result: Any) -> None:
    t0 = time.perf_counter()
    for _ in range(count):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(REQUEST)
            got = 0
            while got < len(RESPONSE):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                got += len(chunk)
    result.send(time.perf_counter() - t0)


def kernel_lifecycles(count: int) -> float:
    """Lifecycles per second through the kernel's TCP over loopback (client, server processes)."""
    port_rx, port_tx = _fork.Pipe(duplex=False)
    res_rx, res_tx = _fork.Pipe(duplex=False)
    server = _fork.Process(target=_kernel_server, args=(port_tx, count))
    server.start()
    port = port_rx.recv()
    client = _fork.Process(target=_kernel_client, args=(port, count, res_tx))
    client.start()
    elapsed = res_rx.recv()
    client.join()
    server.join()
    return float(count / elapsed)


# ---- memory ------------------------------------------------------------------------------------


LISTEN_PORTS = (80, 81)  # two listeners, so 100,000 connections fit in one client's port space


def _pair() -> tuple[Network, Node, Node, Host, Host]:
    net = Network(0)
    client_host = Host([CLIENT], config=TcpConfig())
    server_host = Host([SERVER], config=TcpConfig())
    client = net.add_host("client", client_host, [CLIENT])
    server = net.add_host("server", server_host, [SERVER])
    net.link(client, server)
    for port in LISTEN_PORTS:
        net.interact(server, partial(server_host.listen, port, backlog=1 << 20))
    return net, client, server, client_host, server_host


def memory_per_entry(count: int, *, time_wait: bool) -> float:
    """Bytes one host holds per idle ESTABLISHED connection (or per TIME-WAIT entry, that host
    closing first), measured with tracemalloc after the peer host is discarded."""
    gc.collect()
    tracemalloc.start()
    kept = _populate(count, time_wait=time_wait)
    gc.collect()
    current, _ = tracemalloc.get_traced_memory()
    kept.clear()
    gc.collect()
    baseline, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return (current - baseline) / count


def _populate(count: int, *, time_wait: bool) -> list[Any]:
    """A server host with `count` idle connections (or TIME-WAIT entries); returns what keeps it
    alive (the host and the accepted connections), the peer and the network already dropped."""
    net, client, server, client_host, server_host = _pair()
    accepted: list[Any] = []
    mine: list[Any] = []

    def drain_accepts() -> None:
        for port in LISTEN_PORTS:
            while (conn := server_host.accept(port)) is not None:
                accepted.append(conn)

    for i in range(count):
        port, local = LISTEN_PORTS[i % 2], 1024 + i // 2
        mine.append(net.interact(
            client, partial(client_host.connect, SERVER, port, net.now, local_port=local)
        ))
        if i % 1000 == 999:
            net.run(until=net.now + 0.001)
            drain_accepts()
    net.run(until=net.now + 1.0)
    drain_accepts()
    if len(accepted) != count:
        raise RuntimeError(f"only {len(accepted)} of {count} connections were accepted")
    if time_wait:
        for conn in accepted:
            net.interact(server, partial(conn.close, net.now))
        net.run(until=net.now + 1.0)
        for conn in mine:
            net.interact(client, partial(conn.close, net.now))
        net.run(until=net.now + 1.0)
        accepted.clear()
    net.after_activity.clear()
    return [server_host, accepted]


# The modules of the per-segment path that mypyc compiles (they type-check under mypy --strict;
# the wire codec's records keep their interpreted constructors).
COMPILED_MODULES = [
    "synack/tcp/connection.py", "synack/host.py", "synack/net/sim.py", "synack/wire/seq.py",
    "synack/wire/checksum.py", "synack/tcp/buffers.py", "synack/tcp/congestion.py",
    "synack/tcp/timers/rto.py",
]


def compiled_lifecycles(count: int, rounds: int = 3) -> tuple[float, float]:
    """Lifecycles per CPU second of the package as it is and with COMPILED_MODULES compiled by
    mypyc (a temporary copy), each in child processes run in alternation, best of `rounds`: the
    machine's speed drifts, and alternating keeps the two comparable."""
    import os
    import shutil
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    import synack

    here = str(Path(__file__).resolve().parent)
    code = (f"import sys; sys.path.insert(0, {here!r}); "
            f"import bench_lifecycle as b; print(b.synack_lifecycles({count})[1])")

    def child(pythonpath: str) -> float:
        env = {**os.environ, "PYTHONPATH": pythonpath}
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                             text=True, cwd=pythonpath, env=env)
        return float(out.stdout.split()[-1])

    with tempfile.TemporaryDirectory(prefix="synack-mypyc-") as tmp:
        root = Path(tmp)
        package = Path(synack.__file__).resolve().parent
        shutil.copytree(package, root / "synack", ignore=shutil.ignore_patterns("__pycache__"))
        print(f"compiling {len(COMPILED_MODULES)} modules with mypyc ...", flush=True)
        subprocess.run(["mypyc", *COMPILED_MODULES], cwd=root, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        interpreted = compiled = 0.0
        for _ in range(rounds):
            interpreted = max(interpreted, child(str(package.parent)))
            compiled = max(compiled, child(str(root)))
        return interpreted, compiled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lifecycles", type=int, default=3000,
                        help="lifecycles to time on each side (default 3000)")
    parser.add_argument("--idle", type=int, default=100_000,
                        help="connections and TIME-WAIT entries for the memory figures "
                             "(default 100000; 0 skips them)")
    parser.add_argument("--compiled", action="store_true",
                        help="also time synack with its per-segment modules compiled by mypyc")
    args = parser.parse_args()

    kernel = kernel_lifecycles(args.lifecycles)
    synack, synack_cpu = synack_lifecycles(args.lifecycles)
    print(f"lifecycles/s  synack (simulated network): {synack:10.0f}"
          f"   ({synack_cpu:.0f} per CPU second)")
    print(f"lifecycles/s  Linux kernel (loopback):    {kernel:10.0f}")
    print(f"ratio synack/kernel: {synack / kernel:.2f}x")
    if args.compiled:
        interpreted, compiled = compiled_lifecycles(args.lifecycles)
        print(f"per CPU second, best of 3 alternating: interpreted {interpreted:.0f}, compiled by "
              f"mypyc {compiled:.0f} ({compiled / interpreted:.2f}x; "
              f"{compiled / kernel:.2f}x the kernel figure above)")
    if args.idle <= 0:
        return
    est = memory_per_entry(args.idle, time_wait=False)
    print(f"memory: {est:8.0f} B per idle ESTABLISHED connection ({args.idle} in one host)")
    tw = memory_per_entry(args.idle, time_wait=True)
    print(f"memory: {tw:8.0f} B per TIME-WAIT entry ({args.idle} in one host)")


if __name__ == "__main__":
    main()
