"""Benchmark `synack analyze` against tshark, tcpdump and a dpkt loop on one synthetic capture.

    python benchmarks/bench_analyze.py [--packets 1000000] [--capture FILE] [--ipv6-share 0.3]
                                       [--compiled] [--skip TOOL]

Generates (or reuses) a capture of many short TCP connections (IPv4 and IPv6) with
benchmarks/synth.py, then runs, one after the other and each as its own process:

- `synack analyze CAPTURE --json` (connection records to /dev/null),
- with --compiled, the same with the analysis modules compiled by mypyc (a temporary copy),
- `tshark -2 -r CAPTURE -T fields -e tcp.analysis.*` (the same analysis flags and initial RTT),
- `tcpdump -nn -r CAPTURE` (one text line per packet),
- a dpkt loop decoding Ethernet/IP/TCP headers (no connection tracking),

and prints packets/s (wall clock), packets per CPU second and peak resident memory of each, with
ratios by CPU time (steadier than wall time on a busy machine).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

TSHARK_FIELDS = [
    "retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order",
    "lost_segment", "duplicate_ack", "zero_window", "zero_window_probe", "window_update",
    "keep_alive", "initial_rtt",
]

DPKT_LOOP = r"""
import socket, sys
import dpkt
n = tcp_n = 0
with open(sys.argv[1], "rb") as f:
    for ts, buf in dpkt.pcap.Reader(f):
        n += 1
        eth = dpkt.ethernet.Ethernet(buf)
        ip = eth.data
        if isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)) and isinstance(ip.data, dpkt.tcp.TCP):
            tcp = ip.data
            tcp_n += 1
            _ = (ip.src, ip.dst, tcp.sport, tcp.dport, tcp.seq, tcp.ack, tcp.flags, tcp.win,
                 len(tcp.data))
print(n, tcp_n, file=sys.stderr)
"""


def measure(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float, int]:
    """Run `argv` with stdout to /dev/null: (wall s, CPU s, peak RSS MB, exit status)."""
    start = time.perf_counter()
    with open(os.devnull, "wb") as null:
        proc = subprocess.Popen(argv, stdout=null, stderr=subprocess.DEVNULL, env=env)
        _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


# The modules of the per-packet path; they type-check under mypy --strict, which mypyc needs.
COMPILED_MODULES = [
    "synack/analyze/flags.py", "synack/analyze/rfc.py", "synack/analyze/zeek.py",
    "synack/analyze/tracker.py", "synack/analyze/summary.py", "synack/analyze/engine.py",
]


def compiled_env() -> dict[str, str]:
    """Copy the package to a temporary directory, compile the analysis modules there with
    mypyc, and return an environment that imports that copy (the source tree is untouched)."""
    import synack

    root = Path(tempfile.mkdtemp(prefix="synack-mypyc-"))
    shutil.copytree(Path(synack.__file__).resolve().parent, root / "synack",
                    ignore=shutil.ignore_patterns("__pycache__"))
    print(f"compiling {len(COMPILED_MODULES)} modules with mypyc in {root} ...", flush=True)
    subprocess.run(["mypyc", *COMPILED_MODULES], cwd=root, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return {**os.environ, "PYTHONPATH": str(root)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--ipv6-share", type=float, default=0.3)
    parser.add_argument("--capture", type=Path, help="reuse (or create) this capture file")
    parser.add_argument("--compiled", action="store_true",
                        help="also run synack analyze with its modules compiled by mypyc")
    parser.add_argument("--skip", action="append", default=[],
                        help="skip a tool (synack, tshark, tcpdump, dpkt)")
    args = parser.parse_args(argv)

    capture = args.capture or Path(f"/tmp/synack-bench-{args.packets}.pcap")
    if not capture.exists():
        sys.path.insert(0, str(HERE))
        from synth import generate

        print(f"generating {args.packets} packets into {capture} ...", flush=True)
        generate(capture, packets=args.packets, ipv6_share=args.ipv6_share, seed=1)
    size = capture.stat().st_size
    print(f"capture: {capture} ({size / 1e6:.1f} MB, {args.packets} packets, "
          f"{args.ipv6_share:.0%} IPv6)")

    analyze = [sys.executable, "-m", "synack", "analyze", str(capture), "--json", "--no-progress"]
    tools: list[tuple[str, list[str], dict[str, str] | None]] = [
        ("synack analyze --json", analyze, None),
    ]
    if args.compiled:
        tools.append(("synack analyze --json (mypyc)", analyze, compiled_env()))
    if shutil.which("tshark"):
        cmd = ["tshark", "-2", "-n", "-r", str(capture), "-T", "fields"]
        for f in TSHARK_FIELDS:
            cmd += ["-e", f"tcp.analysis.{f}"]
        tools.append(("tshark -2 -T fields (analysis)", cmd, None))
    if shutil.which("tcpdump"):
        tools.append(("tcpdump -nn -r", ["tcpdump", "-nn", "-r", str(capture)], None))
    try:
        import dpkt  # noqa: F401

        tools.append(
            ("dpkt loop (headers only)", [sys.executable, "-c", DPKT_LOOP, str(capture)], None)
        )
    except ImportError:
        pass

    results = []
    for name, cmd, env in tools:
        if any(skip in name for skip in args.skip):
            continue
        print(f"running {name} ...", flush=True)
        wall, cpu, rss, code = measure(cmd, env)
        results.append((name, wall, cpu, rss, code))

    base = next((r for r in results if r[0].startswith("synack")), None)
    print()
    print(f"{'tool':<34} {'wall s':>8} {'cpu s':>8} {'pkts/s':>12} {'pkts/cpu s':>12} "
          f"{'peak MB':>9} {'synack is (cpu)':>16}")
    for name, wall, cpu, rss, code in results:
        ratio = ""
        if base is not None and name != base[0]:
            factor = cpu / base[2]
            ratio = f"{factor:.1f}x faster" if factor >= 1 else f"{1 / factor:.1f}x slower"
        status = "" if code == 0 else f"  (exit {code})"
        print(f"{name:<34} {wall:8.2f} {cpu:8.2f} {args.packets / wall:12,.0f} "
              f"{args.packets / cpu:12,.0f} {rss:9.1f} {ratio:>16}{status}")
    if base is not None:
        print(f"\nsynack analyze: {args.packets / base[1]:,.0f} packets/s (wall), "
              f"{args.packets / base[2]:,.0f} packets per CPU second, peak {base[3]:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
