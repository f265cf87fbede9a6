"""Benchmark `synack analyze` against tshark, tcpdump and a dpkt loop on one synthetic capture.

    python benchmarks/bench_analyze.py [--packets 1000000] [--capture FILE] [--ipv6-share 0.3]
                                       [--jobs N] [--compiled] [--skip TOOL]

Generates (or reuses) a capture of many short TCP connections (IPv4 and IPv6) with
benchmarks/synth.py, then runs, one after the other and each as its own process:

- `synack analyze CAPTURE --json --jobs N` (N = --jobs, default the CPU count; records to
  /dev/null), then the same with `--jobs 1`,
- with --compiled, the same two runs with the per-packet modules compiled by mypyc (a
  temporary copy; the package itself stays pure Python),
- `tshark -2 -r CAPTURE -T fields -e tcp.analysis.*` (the same analysis flags and initial RTT),
- `tcpdump -nn -r CAPTURE` (one text line per packet),
- a dpkt loop decoding Ethernet/IP/TCP headers (no connection tracking),

and prints packets per wall-clock second, packets per CPU second (user + system time of the
process and all its children) and peak memory of each, with synack's ratios to the others.

Peak memory is the largest sum of the resident set sizes (VmRSS) of the process and all its
descendants, sampled from /proc every 20 ms (so a parallel run counts every worker; pages a
worker shares with its parent after fork are counted in each, an upper bound), next to the
largest single process's peak (`ru_maxrss` from wait4, which covers waited-for descendants).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
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


def _tree_rss(root: int, page: int) -> int:
    """Sum of the resident set sizes (bytes) of `root` and its descendants, from /proc."""
    parent: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        parent[pid] = int(fields[1])
        rss[pid] = int(fields[21]) * page
    total = 0
    for pid, size in rss.items():
        p = pid
        while p > 1 and p != root:
            p = parent.get(p, 0)
        if p == root:
            total += size
    return total


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process tree until stopped; `peak` in bytes."""

    def __init__(self, root: int, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.interval = interval
        self.peak = 0
        self.done = threading.Event()
        self.page = os.sysconf("SC_PAGE_SIZE")

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, _tree_rss(self.root, self.page))
            self.done.wait(self.interval)


@dataclass
class Result:
    name: str
    wall: float  # s
    cpu: float  # s, user + system, the process and its children
    tree_mb: float  # peak of the summed RSS of the process tree
    max_mb: float  # peak RSS of the largest single process
    code: int


def measure(name: str, argv: list[str], env: dict[str, str] | None = None) -> Result:
    """Run `argv` with stdout to /dev/null and measure it."""
    start = time.perf_counter()
    with open(os.devnull, "wb") as null:
        proc = subprocess.Popen(argv, stdout=null, stderr=subprocess.DEVNULL, env=env)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        _pid, status, usage = os.wait4(proc.pid, 0)
        sampler.done.set()
        sampler.join()
    wall = time.perf_counter() - start
    cpu = usage.ru_utime + usage.ru_stime
    max_mb = usage.ru_maxrss / 1024
    return Result(name, wall, cpu, max(sampler.peak / 2**20, max_mb), max_mb,
                  os.waitstatus_to_exitcode(status))


# The modules of the per-packet path; they type-check under mypy --strict, which mypyc needs.
COMPILED_MODULES = [
    "synack/analyze/flags.py", "synack/analyze/rfc.py", "synack/analyze/zeek.py",
    "synack/analyze/tracker.py", "synack/analyze/summary.py", "synack/analyze/engine.py",
    "synack/capture/pcap.py", "synack/capture/pcapng.py", "synack/capture/share.py",
    "synack/analyze/parallel.py",
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
    parser.add_argument("--jobs", type=int, default=0,
                        help="worker processes for the parallel run (default: CPU count)")
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
    jobs = args.jobs or os.cpu_count() or 1
    tools: list[tuple[str, list[str], dict[str, str] | None]] = [
        (f"synack analyze --json --jobs {jobs}", [*analyze, "--jobs", str(jobs)], None),
        ("synack analyze --json --jobs 1", [*analyze, "--jobs", "1"], None),
    ]
    if args.compiled:
        env = compiled_env()
        tools.append((f"synack --jobs {jobs} (mypyc)", [*analyze, "--jobs", str(jobs)], env))
        tools.append(("synack --jobs 1 (mypyc)", [*analyze, "--jobs", "1"], env))
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

    results: list[Result] = []
    for name, cmd, env in tools:
        if any(skip in name for skip in args.skip):
            continue
        print(f"running {name} ...", flush=True)
        results.append(measure(name, cmd, env))

    n = args.packets
    synacks = [r for r in results if r.name.startswith("synack")]
    others = [r for r in results if not r.name.startswith("synack")]
    print(f"\n{os.cpu_count()} CPUs; {n:,} packets")
    print(f"{'tool':<34} {'wall s':>7} {'cpu s':>7} {'pkts/s':>10} {'pkts/cpu s':>11} "
          f"{'peak MB':>8} {'max 1 MB':>9}")
    for r in results:
        status = "" if r.code == 0 else f"  (exit {r.code})"
        print(f"{r.name:<34} {r.wall:7.2f} {r.cpu:7.2f} {n / r.wall:10,.0f} {n / r.cpu:11,.0f} "
              f"{r.tree_mb:8.1f} {r.max_mb:9.1f}{status}")
    if synacks and others:
        print("\nsynack relative to each tool (>1: synack is faster)")
        print(f"{'':<34} " + " ".join(f"{o.name.split()[0]:>16}" for o in others))
        for s in synacks:
            wall = " ".join(f"{o.wall / s.wall:15.2f}x" for o in others)
            cpu = " ".join(f"{o.cpu / s.cpu:15.2f}x" for o in others)
            print(f"{s.name + ' (wall)':<34} {wall}")
            print(f"{s.name + ' (cpu)':<34} {cpu}")
    for s in synacks:
        print(f"\n{s.name}: {n / s.wall:,.0f} packets/s (wall), {n / s.cpu:,.0f} packets per "
              f"CPU second, peak {s.tree_mb:.0f} MB (all processes), {s.max_mb:.0f} MB (largest)")
    return 0

if __name__ == "__main__":
    sys.exit(main())
