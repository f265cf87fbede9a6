"""`synack analyze CAPTURE`: the life of every TCP connection in a pcap/pcapng capture."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO

import click
from rich.console import Console

from synack.analyze.engine import CaptureStats, analyze_file
from synack.analyze.output import (
    CsvOutput,
    TableOutput,
    record_json,
    timeline_dicts,
    timeline_lines,
)
from synack.analyze.summary import ConnectionRecord
from synack.analyze.tracker import Connection
from synack.wire.errors import ParseError

EXIT_OK = 0
EXIT_UNREADABLE = 1
EXIT_TRUNCATED = 3

# Timelines keep every packet of a connection until it finishes.
TIMELINE_PACKETS = 1_000_000
HTML_CONNECTIONS = 200
HTML_PACKETS = 400
PROGRESS_MIN_BYTES = 20_000_000


@click.command(
    epilog=(
        "Exit status: 0 analysis complete; 1 the file cannot be read as a capture; 2 bad usage; "
        "3 the capture is truncated or corrupt (connections up to the damage are reported)."
    )
)
@click.argument("capture", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per connection per line.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV, one row per connection.")
@click.option("--html", "html", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a self-contained HTML report with ladder diagrams to FILE.")
@click.option("--timeline", is_flag=True,
              help="Both endpoints' inferred states after every packet.")
@click.option("--verify-checksums", is_flag=True,
              help="Drop segments with bad IPv4/TCP checksums as Zeek does without -C.")
@click.option("--limit", type=int, default=1000, show_default=True,
              help="Most rows in the table (the summary counts every connection).")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: for big captures on a terminal).")
def command(
    capture: Path, as_json: bool, as_csv: bool, html: Path | None, timeline: bool,
    verify_checksums: bool, limit: int, progress: bool | None,
) -> None:
    """Reconstruct every TCP connection in CAPTURE (pcap or pcapng).

    For each connection: originator and responder, start, duration, packets and payload bytes
    each way, how the handshake went and how the connection closed, the inferred RFC 9293 state
    of both endpoints at the end, the handshake RTT, Zeek's conn_state and history, and the
    Wireshark analysis-flag counts (retransmissions, duplicate ACKs, zero windows...).
    """
    out = click.get_text_stream("stdout")
    err = Console(stderr=True)
    if not capture.exists():
        _warn(f"synack analyze: {capture}: no such file")
        sys.exit(EXIT_UNREADABLE)
    size = capture.stat().st_size
    table = TableOutput(limit) if not (as_json or as_csv) else None
    csv_out = CsvOutput(out) if as_csv and not as_json else None
    html_conns: list[tuple[ConnectionRecord, Connection]] = []
    keep = TIMELINE_PACKETS if timeline else (HTML_PACKETS if html else 0)
    keep_conns = 0 if timeline else (HTML_CONNECTIONS if html else 0)
    console = Console(file=out, width=max(Console(file=out).width, 200)) if table else None

    def on_record(rec: ConnectionRecord, conn: Connection) -> None:
        rows = conn.packets
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
    try:
        stats = _run(capture, on_record, verify_checksums, keep, keep_conns, show_progress, err)
    except BrokenPipeError:  # `synack analyze big.pcap --json | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(EXIT_OK)
    except ParseError as exc:
        _warn(f"synack analyze: {capture}: {exc.message}")
        sys.exit(EXIT_UNREADABLE)
    except OSError as exc:
        _warn(f"synack analyze: {capture}: {exc.strerror or exc}")
        sys.exit(EXIT_UNREADABLE)
    if table is not None and console is not None:
        table.render(console)
    if html:
        from synack.analyze.report_html import write_report

        write_report(html, capture.name, html_conns, stats)
        _warn(f"wrote {html}")
    _report_stats(capture, stats)
    if stats.truncated is not None:
        sys.exit(EXIT_TRUNCATED)


def _warn(text: str) -> None:
    click.echo(text, err=True)


def _echo_lines(out: IO[str], lines: list[str]) -> None:
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
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("[progress.description]{task.description}"),
        TextColumn("{task.completed:,} packets"), TimeElapsedColumn(),
        console=err, transient=True,
    ) as bar:
        task = bar.add_task(f"analyzing {capture.name}", total=None)

        def tick(n: int) -> None:
            bar.update(task, completed=n)

        return analyze_file(capture, cb, verify_checksums=verify, keep_packets=keep,
                            keep_connections=keep_conns, progress=tick)


def _report_stats(capture: Path, stats: CaptureStats) -> None:
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
    if stats.bad_checksums:
        notes.append(f"{stats.bad_checksums} with bad checksums (dropped)")
    if notes and stats.tcp_packets:
        _warn(f"skipped packets: {', '.join(notes)}")
