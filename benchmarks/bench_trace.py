"""Lines per second: `synack trace` next to `tcpdump -nn -r` on the same capture.

    python benchmarks/bench_trace.py [CAPTURE] [--packets N] [--seed S] [--repeat R] [-S]
                                     [--no-check]

Without CAPTURE, a synthetic capture of N packets (default 200,000; see synth.py: many short
connections, IPv4 and IPv6, Linux's options) is generated in a temporary directory first.

Each contender runs as its own process with its output sent to /dev/null, taking turns, R
times each (default 3; the best run counts, as the machine's speed can swing between runs):

- synack: `python -m synack trace CAPTURE` (this interpreter, so no launcher script is timed),
- tcpdump: `TZ=UTC tcpdump -nn -r CAPTURE`,

both with `-S` when asked. Lines per second are shown per wall-clock second and per CPU second
(user + system time of the child process; on a shared machine the steadier figure), with the
ratio synack / tcpdump (above 1: synack is faster). First, unless --no-check, both outputs are
captured once and compared byte for byte, which also counts the lines.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

Timing = tuple[float, float]  # wall-clock seconds, CPU seconds


def synack_command(path: Path, absolute: bool) -> list[str]:
    return [sys.executable, "-m", "synack", "trace", *(["-S"] if absolute else []), str(path)]


def tcpdump_command(path: Path, absolute: bool) -> list[str] | None:
    exe = shutil.which("tcpdump")
    if exe is None:
        return None
    return [exe, "-nn", *(["-S"] if absolute else []), "-r", str(path)]


def environment() -> dict[str, str]:
    return {**os.environ, "TZ": "UTC"}  # the lines synack reproduces are tcpdump's in UTC


def output_of(command: list[str]) -> bytes:
    return subprocess.run(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=environment(), check=True
    ).stdout


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str]) -> Timing:
    """Wall-clock and CPU seconds of one run of `command` with its output to /dev/null."""
    cpu, start = _children_cpu(), time.perf_counter()
    subprocess.run(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment(),
        check=True,
    )
    return time.perf_counter() - start, _children_cpu() - cpu


def best_of_interleaved(commands: list[list[str]], repeat: int) -> list[Timing]:
    """The best wall-clock and CPU seconds of each command over `repeat` rounds, the commands
    taking turns within a round so that a slow minute of the machine hits them all alike."""
    runs: list[list[Timing]] = [[] for _ in commands]
    for _ in range(repeat):
        for command, times in zip(commands, runs, strict=True):
            times.append(timed(command))
    return [(min(w for w, _ in times), min(c for _, c in times)) for times in runs]


def count_lines(path: Path, absolute: bool) -> int:
    """The lines `synack trace` prints, counted in this process (used with --no-check)."""
    from synack.capture.reader import open_capture
    from synack.capture.tcpdump import write_trace

    lines: list[str] = []
    with open_capture(path) as reader:
        write_trace(reader, lines.append, absolute=absolute)
    return len(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", nargs="?", help="pcap/pcapng to read (default: generate one)")
    parser.add_argument("--packets", type=int, default=200_000, help="packets to generate")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    parser.add_argument("-S", dest="absolute", action="store_true",
                        help="absolute sequence numbers (tcpdump -S) for both")
    parser.add_argument("--no-check", action="store_true",
                        help="skip the byte-for-byte comparison of the two outputs")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # progress when piped

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from synth import capture_or_generated

    with capture_or_generated(args.capture, args.packets, args.seed) as path:
        print(f"capture     {path}")
        synack = synack_command(path, args.absolute)
        tcpdump = tcpdump_command(path, args.absolute)
        if args.no_check or tcpdump is None:
            lines = count_lines(path, args.absolute)
        else:
            ours, theirs = output_of(synack), output_of(tcpdump)
            lines, their_lines = ours.count(b"\n"), theirs.count(b"\n")
            same = "identical to" if ours == theirs else "DIFFERENT from"
            print(f"output      {lines:>10,} lines, {same} tcpdump's ({their_lines:,} lines)")
        names = [f"synack trace{' -S' if args.absolute else ''} >/dev/null"]
        commands = [synack]
        if tcpdump is not None:
            names.append(f"TZ=UTC tcpdump -nn{' -S' if args.absolute else ''} -r FILE >/dev/null")
            commands.append(tcpdump)
        rows = list(zip(names, best_of_interleaved(commands, args.repeat), strict=True))
        print(f"{'':40} {'wall clock':>16} {'per CPU second':>22}")
        for name, (wall, cpu) in rows:
            print(f"{name:<40} {lines / wall:>10,.0f} lines/s {lines / cpu:>12,.0f} lines/s"
                  f"   ({wall:.2f} s wall, {cpu:.2f} s CPU)")
        if tcpdump is not None:
            (ours_wall, ours_cpu), (theirs_wall, theirs_cpu) = rows[0][1], rows[1][1]
            print(f"{'ratio synack/tcpdump':<40} {theirs_wall / ours_wall:>10.2f}x"
                  f"         {theirs_cpu / ours_cpu:>12.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
