"""Packets per second: synack's streaming reader + TCP decode next to tcpdump and dpkt.

    python benchmarks/bench_parse.py [CAPTURE] [--packets N] [--seed S] [--full-sample N]

Without CAPTURE, a synthetic capture of N packets (default 1,000,000; see synth.py) is generated in
a temporary directory first. Each contender reads the whole file in this process (tcpdump as a
child process) and the same work is done per packet: decode link, IP and TCP headers, read the
ports, sequence and acknowledgment numbers, flags and payload length.

- synack: `open_capture(...).iter_records()` + `synack.wire.fastpath.decode_tcp`
- synack (CapturedPacket objects): iterating the reader itself + `decode_tcp`
- synack full codec: `strip_link` + `parse_tcp_packet` (dataclasses, options), on a sample
- dpkt: `dpkt.pcap.Reader` + `dpkt.ethernet.Ethernet` + attribute access on `.data.data`
- tcpdump: `TZ=UTC tcpdump -nn -r FILE > /dev/null`, and again with `-S`

Rates are shown per wall-clock second and per CPU second (user + system, tcpdump's counted as a
child process); on a shared machine the CPU figures are the steadier ones.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from synack.capture.reader import open_capture
from synack.wire.fastpath import decode_tcp
from synack.wire.ip import parse_tcp_packet
from synack.wire.link import ETHERTYPE_IPV4, ETHERTYPE_IPV6, strip_link

Result = tuple[int, int, int]  # packets read, TCP packets, payload bytes


def run_synack(path: Path) -> Result:
    packets = tcp = payload = 0
    with open_capture(path) as reader:
        decode = decode_tcp
        for _ts, link_type, data, _orig, _iface in reader.iter_records():
            packets += 1
            r = decode(link_type, data)
            if r is not None:
                _sport, _dport, _seq, _ack, _flags = r[3], r[4], r[5], r[6], r[7]
                tcp += 1
                payload += r[10]
    return packets, tcp, payload


def run_synack_objects(path: Path) -> Result:
    packets = tcp = payload = 0
    with open_capture(path) as reader:
        decode = decode_tcp
        for p in reader:
            packets += 1
            r = decode(p.link_type, p.data)
            if r is not None:
                _sport, _dport, _seq, _ack, _flags = r[3], r[4], r[5], r[6], r[7]
                tcp += 1
                payload += r[10]
    return packets, tcp, payload


def run_synack_full(path: Path, limit: int) -> Result:
    packets = tcp = payload = 0
    with open_capture(path) as reader:
        for _ts, link_type, data, _orig, _iface in reader.iter_records():
            packets += 1
            lf = strip_link(link_type, data)
            if lf.ethertype == ETHERTYPE_IPV4 or lf.ethertype == ETHERTYPE_IPV6:
                _ip, seg = parse_tcp_packet(data[lf.network_offset :])
                _sport, _dport, _seq, _ack, _flags = (
                    seg.src_port, seg.dst_port, seg.seq, seg.ack, seg.flags
                )
                tcp += 1
                payload += len(seg.payload)
            if packets == limit:
                break
    return packets, tcp, payload


def run_dpkt(path: Path) -> Result:
    import dpkt

    packets = tcp = payload = 0
    tcp_type = dpkt.tcp.TCP
    with open(path, "rb") as f:
        for _ts, buf in dpkt.pcap.Reader(f):
            packets += 1
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            seg = getattr(ip, "data", None)
            if isinstance(seg, tcp_type):
                _sport, _dport, _seq, _ack, _flags = (
                    seg.sport, seg.dport, seg.seq, seg.ack, seg.flags
                )
                tcp += 1
                payload += len(seg.data)
    return packets, tcp, payload


def run_tcpdump(path: Path, *extra: str) -> Result | None:
    exe = shutil.which("tcpdump")
    if exe is None:
        return None
    subprocess.run(
        [exe, "-nn", *extra, "-r", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        check=True, env={**os.environ, "TZ": "UTC"},  # as `synack trace` lines are compared
    )
    return (-1, -1, -1)


def _cpu() -> float:
    """CPU seconds of this process and its finished children (tcpdump): fair on a busy machine."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn: Callable[[], Result | None]) -> tuple[Result | None, float, float]:
    """The result, wall-clock seconds and CPU seconds of one run."""
    gc.collect()
    cpu, start = _cpu(), time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start, _cpu() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", nargs="?", help="pcap/pcapng to read (default: generate one)")
    parser.add_argument("--packets", type=int, default=1_000_000, help="packets to generate")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--full-sample", type=int, default=200_000,
                        help="packets decoded with the full codec (0 to skip)")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # progress when piped

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from synth import capture_or_generated

    with capture_or_generated(args.capture, args.packets, args.seed) as path:
        print(f"capture     {path}")
        rows: list[tuple[str, int, float, float, Result | None]] = []
        synack = timed(lambda: run_synack(path))
        assert synack[0] is not None
        n, n_tcp, n_bytes = synack[0]
        rows.append(("synack reader + fastpath", n, synack[1], synack[2], synack[0]))
        r, wall, cpu = timed(lambda: run_synack_objects(path))
        rows.append(("synack CapturedPacket + fastpath", n, wall, cpu, r))
        if args.full_sample:
            r, wall, cpu = timed(lambda: run_synack_full(path, args.full_sample))
            assert r is not None
            rows.append((f"synack full codec ({r[0]:,} pkts)", r[0], wall, cpu, r))
        dpkt = timed(lambda: run_dpkt(path))
        rows.append(("dpkt Reader + Ethernet + TCP", n, dpkt[1], dpkt[2], dpkt[0]))
        tcpdump = timed(lambda: run_tcpdump(path))
        if tcpdump[0] is not None:
            rows.append(("TZ=UTC tcpdump -nn -r FILE >/dev/null", n, tcpdump[1], tcpdump[2], None))
            # -S prints absolute sequence numbers: no per-connection table (tcpdump's relative
            # numbering slows down as connections accumulate).
            r, wall, cpu = timed(lambda: run_tcpdump(path, "-S"))
            rows.append(("  the same with -S", n, wall, cpu, None))

        print(f"packets     {n:>10,}  TCP {n_tcp:,}  payload bytes {n_bytes:,}")
        print(f"{'':36} {'wall clock':>18} {'per CPU second':>22}")
        for name, count, wall, cpu, res in rows:
            check = ""
            if res is not None and res[0] == n and res[1:] != (n_tcp, n_bytes):
                check = "  (MISMATCH in TCP count or payload bytes)"
            print(f"{name:<36} {count / wall:>10,.0f} packets/s {count / cpu:>12,.0f} packets/s"
                  f"{check}")
        print(f"ratio synack/dpkt                    {dpkt[1] / synack[1]:>10.2f}x"
              f"           {dpkt[2] / synack[2]:>10.2f}x")
        if tcpdump[0] is not None:
            print(f"ratio synack/tcpdump                 {tcpdump[1] / synack[1]:>10.2f}x"
                  f"           {tcpdump[2] / synack[2]:>10.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
