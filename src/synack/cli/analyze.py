"""`synack analyze CAPTURE`: the life of every TCP connection in a pcap/pcapng capture."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import click
from rich.console import Console

from synack.analyze.engine import CaptureStats, ProgressHook, analyze_file
from synack.analyze.output import (
    CsvOutput,
    TableOutput,
    csv_cells,
    record_json,
    record_json_fields,
    timeline_dicts,
    timeline_lines,
)
from synack.analyze.summary import ConnectionRecord
from synack.analyze.tracker import Connection
from synack.cli.paths import OutputFile
from synack.cli.pipes import reader_gone
from synack.wire.errors import ParseError

EXIT_OK = 0
EXIT_UNREADABLE = 1
EXIT_TRUNCATED = 3
EXIT_UNWRITABLE = 4

# Timelines keep every packet of a connection until it finishes.
TIMELINE_PACKETS = 1_000_000
HTML_CONNECTIONS = 200
HTML_PACKETS = 400
PROGRESS_MIN_BYTES = 20_000_000
PARALLEL_MIN_BYTES = 4_000_000
# Every worker reads the whole file, so the gain of more flattens while memory (one tracker per
# worker) grows: the default stops here.
DEFAULT_JOBS_MAX = 8


def _usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask), at most DEFAULT_JOBS_MAX."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, DEFAULT_JOBS_MAX))


STDIN = Path("/dev/stdin")


@dataclass(slots=True)
class _Tally:
    """What the command counts of the records as they go out."""

    bad_tcp_checksums: int = 0  # the sum of the records' bad_checksums


@click.command(
    epilog=(
        "Exit status: 0 analysis complete; 1 the file cannot be read as a capture (one too short "
        "for a capture header included); 2 bad usage (a missing CAPTURE included); 3 the capture "
        "is truncated or corrupt (connections up to the damage are reported); 4 the --html "
        "report cannot be written."
    )
)
@click.argument("capture", type=click.Path(exists=True, dir_okay=False, allow_dash=True,
                                           path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per connection per line.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV, one row per connection.")
@click.option("--html", "html", type=OutputFile(),
              help="Write a self-contained HTML report with ladder diagrams to FILE.")
@click.option("--timeline", is_flag=True,
              help="Both endpoints' inferred states after every packet (with the table or "
                   "--json).")
@click.option("--verify-checksums", is_flag=True,
              help="Check checksums as Zeek does without -C: a packet with a bad IPv4 header "
                   "checksum is dropped before TCP; a segment with a bad TCP checksum is left "
                   "out of the Zeek and RFC views (history C) and counted in its connection's "
                   "bad_checksums.")
@click.option("--limit", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Most rows in the table (the summary counts every connection; 0: the "
                   "summary only).")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: for big captures on a terminal).")
@click.option("--jobs", "-j", type=click.IntRange(1, 256), default=None,
              help="Worker processes, each taking a share of the connections (default: one per "
                   f"usable CPU, at most {DEFAULT_JOBS_MAX}, for a file over "
                   f"{PARALLEL_MIN_BYTES // 1_000_000} MB, else 1). Output is the same for any "
                   "number. --timeline, --html and standard input always use one process.")
def command(
    capture: Path, as_json: bool, as_csv: bool, html: Path | None, timeline: bool,
    verify_checksums: bool, limit: int, progress: bool | None, jobs: int | None,
) -> None:
    """Reconstruct every TCP connection in CAPTURE (pcap or pcapng; "-" reads standard input).

    For each connection: originator and responder, start, duration, packets and payload bytes
    each way, how the handshake went and how the connection closed, the inferred RFC 9293 state
    of both endpoints at the end, the handshake RTT, Zeek's conn_state and history, and the
    Wireshark analysis-flag counts (retransmissions, duplicate ACKs, zero windows...).
    """
    if as_json and as_csv:
        raise click.UsageError("--json and --csv cannot be combined: choose one")
    if as_csv and timeline:
        raise click.UsageError("--timeline cannot be combined with --csv (one row per "
                               "connection): use --json --timeline")
    stdout = click.get_text_stream("stdout")
    out = _Batched(stdout)  # records, written a batch at a time
    err = Console(stderr=True)
    from_stdin = str(capture) == "-"
    source = STDIN if from_stdin else capture
    size = 0 if from_stdin else capture.stat().st_size
    table = TableOutput(limit) if not (as_json or as_csv) else None
    csv_out = CsvOutput(out) if as_csv else None
    html_conns: list[tuple[ConnectionRecord, Connection]] = []
    keep = TIMELINE_PACKETS if timeline else (HTML_PACKETS if html else 0)
    keep_conns = 0 if timeline else (HTML_CONNECTIONS if html else 0)
    console = (
        PipeConsole(file=stdout, width=max(Console(file=stdout).width, 200)) if table else None
    )
    tally = _Tally()

    def on_record(rec: ConnectionRecord, conn: Connection) -> None:
        rows = conn.packets
        tally.bad_tcp_checksums += rec.bad_checksums
        if as_json:
            tl = timeline_dicts(rows, rec.ts) if timeline and rows is not None else None
            out.write(record_json(rec, tl) + "\n")
        elif csv_out is not None:
            csv_out.write(rec)
        else:
            assert table is not None
            table.write(rec)
            if timeline and rows is not None:
                _echo_lines(out, timeline_lines(rec, rows))
        if html and rows is not None and len(html_conns) < HTML_CONNECTIONS:
            html_conns.append((rec, conn))

    show_progress = progress if progress is not None else (
        size >= PROGRESS_MIN_BYTES and err.is_terminal
    )
    if timeline or html or from_stdin or not capture.is_file():
        jobs = 1  # per-packet rows, or a pipe only one reader can read
    elif jobs is None:
        jobs = _usable_cpus() if size >= PARALLEL_MIN_BYTES else 1
    try:
        try:
            if jobs > 1:
                stats = _run_parallel(source, jobs, as_json, csv_out, table, out, tally,
                                      verify_checksums, show_progress, err)
            else:
                stats = _run(source, on_record, verify_checksums, keep, keep_conns,
                             show_progress, err)
        finally:
            out.flush()  # what was analysed before a failure is still written
    except BrokenPipeError:  # `synack analyze big.pcap --json | head`
        reader_gone()
    except ParseError as exc:
        _warn(f"synack analyze: {capture}: {exc.message}")
        sys.exit(EXIT_UNREADABLE)
    except OSError as exc:
        _warn(f"synack analyze: {capture}: {exc.strerror or exc}")
        sys.exit(EXIT_UNREADABLE)
    damage = stats.truncated
    if damage is not None and damage.offset == 0 and stats.packets == 0:
        # Too short for a capture header: not a capture at all.
        _warn(f"synack analyze: {capture}: not a capture: {damage.message}")
        sys.exit(EXIT_UNREADABLE)
    if table is not None and console is not None:
        try:
            table.render(console)
        except BrokenPipeError:  # `synack analyze big.pcap | head`
            reader_gone()
    if html:
        from synack.analyze.report_html import write_report

        try:
            write_report(html, source.name, html_conns, stats)
        except OSError as exc:
            _warn(f"synack analyze: cannot write {html}: {exc.strerror or exc}")
            sys.exit(EXIT_UNWRITABLE)
        _warn(f"wrote {html}")
    _report_stats(capture, stats, tally.bad_tcp_checksums)
    if stats.truncated is not None:
        sys.exit(EXIT_TRUNCATED)


class PipeConsole(Console):
    """A console whose closed pipe raises BrokenPipeError (rich's own exits with status 1)."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


class _Batched:
    """Collects text and writes it to `file` in batches (click's stdout flushes every line)."""

    BATCH = 256

    def __init__(self, file: IO[str]) -> None:
        self.file = file
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        parts = self.parts
        parts.append(text)
        if len(parts) >= self.BATCH:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if self.parts:
            text = "".join(self.parts)
            self.parts = []
            self.file.write(text)
        self.file.flush()


def _warn(text: str) -> None:
    click.echo(text, err=True)


def _echo_lines(out: _Batched, lines: list[str]) -> None:
    out.write("\n".join(lines) + "\n")


def _run(
    capture: Path, on_record: object, verify: bool, keep: int, keep_conns: int,
    show_progress: bool, err: Console,
) -> CaptureStats:
    from collections.abc import Callable

    assert callable(on_record)
    cb: Callable[[ConnectionRecord, Connection], None] = on_record
    if not show_progress:
        return analyze_file(capture, cb, verify_checksums=verify, keep_packets=keep,
                            keep_connections=keep_conns)
    with _progress_bar(capture, err) as tick:
        return analyze_file(capture, cb, verify_checksums=verify, keep_packets=keep,
                            keep_connections=keep_conns, progress=tick)


def _run_parallel(
    capture: Path, jobs: int, as_json: bool, csv_out: CsvOutput | None,
    table: TableOutput | None, out: _Batched, tally: _Tally, verify: bool, show_progress: bool,
    err: Console,
) -> CaptureStats:
    """`jobs` worker processes; records are formatted in the workers (with their bad_checksums,
    for the summary), written here in order."""
    from synack.analyze.parallel import analyze_parallel

    def run(progress: ProgressHook | None) -> CaptureStats:
        if as_json:
            def encode_json(rec: ConnectionRecord) -> tuple[str, int]:
                return record_json_fields(rec), rec.bad_checksums

            def emit_json(number: int, item: tuple[str, int]) -> None:
                out.write(f'{{"uid":"C{number}",{item[0]}}}\n')
                tally.bad_tcp_checksums += item[1]

            return analyze_parallel(capture, jobs, encode_json, emit_json,
                                    verify_checksums=verify, progress=progress)
        if csv_out is not None:
            def encode_csv(rec: ConnectionRecord) -> tuple[list[str], int]:
                return csv_cells(rec)[1:], rec.bad_checksums

            def emit_csv(number: int, item: tuple[list[str], int]) -> None:
                csv_out.write_cells([f"C{number}", *item[0]])
                tally.bad_tcp_checksums += item[1]

            return analyze_parallel(capture, jobs, encode_csv, emit_csv,
                                    verify_checksums=verify, progress=progress)
        assert table is not None

        def keep(rec: ConnectionRecord) -> ConnectionRecord:
            return rec

        def emit_row(number: int, rec: ConnectionRecord) -> None:
            rec.uid = f"C{number}"
            table.write(rec)
            tally.bad_tcp_checksums += rec.bad_checksums

        return analyze_parallel(capture, jobs, keep, emit_row, verify_checksums=verify,
                                progress=progress)

    if not show_progress:
        return run(None)
    with _progress_bar(capture, err) as tick:
        return run(tick)


@contextmanager
def _progress_bar(capture: Path, err: Console) -> Iterator[ProgressHook]:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("[progress.description]{task.description}"),
        TextColumn("{task.completed:,} packets"), TimeElapsedColumn(),
        console=err, transient=True,
    ) as bar:
        task = bar.add_task(f"analyzing {capture.name}", total=None)

        def tick(n: int) -> None:
            bar.update(task, completed=n)

        yield tick


def _report_stats(capture: Path, stats: CaptureStats, bad_tcp_checksums: int) -> None:
    """Warnings about the capture as a whole. `bad_tcp_checksums`: the segments counted in the
    connections' bad_checksums; the rest of `stats.bad_checksums` are packets whose IPv4 header
    checksum is bad, dropped before TCP (Zeek's order)."""
    if stats.truncated is not None:
        _warn(
            f"synack analyze: {capture}: capture damaged or cut: {stats.truncated.message}; "
            f"analysed the {stats.packets} packets before offset {stats.truncated.offset}"
        )
    if stats.tcp_packets == 0:
        _warn(f"synack analyze: {capture}: no TCP packets among {stats.packets} packets")
    notes = []
    if stats.non_tcp:
        notes.append(f"{stats.non_tcp} non-TCP")
    if stats.malformed:
        notes.append(f"{stats.malformed} malformed")
    bad_ip = stats.bad_checksums - bad_tcp_checksums
    if bad_ip:
        notes.append(f"{bad_ip} with bad IPv4 header checksums")
    if notes and stats.tcp_packets:
        _warn(f"skipped packets: {', '.join(notes)}")
    if bad_tcp_checksums:
        some = "1 segment" if bad_tcp_checksums == 1 else f"{bad_tcp_checksums} segments"
        _warn(f"{some} with bad TCP checksums: left out of the Zeek and RFC views, counted in "
              "their connections' bad_checksums")
