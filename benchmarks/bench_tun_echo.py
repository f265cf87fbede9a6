"""The echo server of bench_tun's connection-rate run, without a TUN device: a repeatable driver.

synack's Stack runs on a `Tun` whose descriptor is one end of a datagram socket pair (one read, one
packet, as on a TUN device with the virtio-net header); this process plays the Linux client at the
other end, answering every packet the server writes the way the kernel client of bench_tun does:

- SYN-ACK: ACK, then the 16-byte request;
- the echoed 16 bytes: ACK, FIN (the client closes), and the SYN of the next connection;
- the server's FIN: ACK.

The server reads what the client wrote in batches of the shapes a real run shows
(ACK + FIN + next SYN, then ACK of FIN + ACK + request). The loop, the Stack, the transport and the
asyncio.Protocol are the real ones, so `perf stat -e instructions:u` of a run with N connections
less one with none counts what one echo connection costs, without the machine's speed in it.

Usage: python benchmarks/bench_tun_echo.py [--connections 2000] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import struct
import sys
import time
from typing import Any

from synack.net import tun
from synack.wire.checksum import internet_checksum

CLIENT = bytes([192, 0, 2, 1])
SERVER = bytes([192, 0, 2, 2])
PORT = 5007
MESSAGE = b"0123456789abcdef"
FIRST_PORT = 33000
_VNET = bytes(tun.VNET_HDR.size)  # flags 0: a complete checksum (the server skips it anyway)
_TCP_TS = struct.Struct("!HHIIHHHHIII")
_SYN = struct.Struct("!HHIIHHHHHHIIIBBBB")
_U32 = struct.Struct("!I")
_SEG = struct.Struct("!HHII")  # ports, seq, ack of a server packet (after its IPv4 header)


def ipv4_header(length: int) -> bytes:
    """The client's IPv4 header (DF, TTL 64, ident 0) for a packet of `length` bytes."""
    raw = struct.pack("!BBHHHBBH4s4s", 0x45, 0, length, 0, 0x4000, 64, 6, 0, CLIENT, SERVER)
    return raw[:10] + internet_checksum(raw).to_bytes(2, "big") + raw[12:]


_HEAD = {n: ipv4_header(n) for n in (52, 52 + len(MESSAGE), 60)}


class LinuxClient:
    """The kernel client: Linux's options and windows, one connection at a time."""

    def __init__(self, sock: socket.socket, count: int, loop: asyncio.AbstractEventLoop) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.count = count
        self.started = 0
        self.finished = 0
        self.done: asyncio.Future[None] = loop.create_future()
        self.tsval = 1000
        self.tsecr: dict[int, int] = {}  # client port -> the server's latest TSval
        self.echoed = 0

    def packet(self, tcp: bytes) -> None:
        os.write(self.fd, _VNET + _HEAD[20 + len(tcp)] + tcp)

    def segment(self, port: int, seq: int, ack: int, flags: int, payload: bytes = b"") -> None:
        self.tsval += 1
        self.packet(_TCP_TS.pack(port, PORT, seq, ack, 0x8000 | flags, 63, 0, 0, 0x0101080A,
                                 self.tsval, self.tsecr[port]) + payload)

    def connect(self) -> None:
        if self.started == self.count:
            return
        port = FIRST_PORT + self.started
        self.started += 1
        iss = (port * 7919 * 65537) & 0xFFFFFFFF
        self.tsval += 1
        self.packet(_SYN.pack(port, PORT, iss, 0, 0xA002, 64240, 0, 0, 0x0204, 1460, 0x0402080A,
                              self.tsval, 0, 1, 3, 3, 10))

    def readable(self) -> None:
        """Everything the server wrote, answered packet by packet in the order it came."""
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            ip = data[len(_VNET):]
            _, cport, seq, ack = _SEG.unpack_from(ip, 20)
            flags = ip[33]
            # TSval: after nop, nop (24) or, on the SYN-ACK, after mss and sackOK (28)
            self.tsecr[cport] = _U32.unpack_from(ip, 48 if flags & 0x02 else 44)[0]
            payload = ip[(ip[32] >> 4) * 4 + 20:]
            if flags & 0x12 == 0x12:  # SYN-ACK: ACK, then the request
                self.segment(cport, ack, seq + 1, 0x10)
                self.segment(cport, ack, seq + 1, 0x18, MESSAGE)
            elif payload:  # the echo: ACK it (quick ACK), then FIN and the next connection
                if payload != MESSAGE:
                    raise RuntimeError(f"echo mismatch: {payload!r}")
                self.echoed += 1
                end = (seq + len(payload)) & 0xFFFFFFFF
                self.segment(cport, ack, end, 0x10)
                self.segment(cport, ack, end, 0x11)
                self.connect()
            elif flags & 0x01:  # the server's FIN: the last ACK
                self.segment(cport, ack, (seq + 1) & 0xFFFFFFFF, 0x10)
                self.finished += 1
                del self.tsecr[cport]
                if self.finished == self.count and not self.done.done():
                    self.done.set_result(None)


async def run(count: int, on_event: Any = None) -> tuple[LinuxClient, Any]:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_tun import Echo, synack_config
    from synack.host import Host
    from synack.net.aio import Stack

    loop = asyncio.get_running_loop()
    server_end, client_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    for sock in (server_end, client_end):
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    host = Host(["192.0.2.2"], config=synack_config(1500), secret=b"bench")
    device = tun.Tun.on_socket(server_end, vnet_hdr=True)
    stack = Stack(host, device, loop=loop, on_event=on_event)
    await stack.create_server(Echo, PORT, backlog=512)
    client = LinuxClient(client_end, count, loop)
    loop.add_reader(client.fd, client.readable)
    if count:
        client.connect()
        await client.done
        for _ in range(3):  # the server takes the last ACK
            await asyncio.sleep(0)
    loop.remove_reader(client.fd)
    stack.close()
    client_end.close()
    return client, host


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        client, host = profiler.runcall(asyncio.run, run(args.connections))
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    else:
        client, host = asyncio.run(run(args.connections))
    elapsed = time.perf_counter() - start
    left = sum(1 for _ in host.connections)
    if client.echoed != args.connections or left:
        print(f"bench_tun_echo: {client.echoed} echoes, {left} connections left", file=sys.stderr)
        return 1
    rate = args.connections / elapsed if args.connections else 0.0
    print(f"{args.connections} echo connections in {elapsed:.3f} s ({rate:.0f} conn/s, "
          f"host stats {host.stats.as_dict()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
