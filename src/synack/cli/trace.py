"""`synack trace CAPTURE [-S]`: a capture's TCP packets, line for line as `tcpdump -nn -r`."""

from __future__ import annotations

import os
import sys

import click

from synack.capture.reader import open_capture
from synack.capture.tcpdump import trace_capture
from synack.wire.errors import ParseError


@click.command(name="trace")
@click.argument("capture", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "-S",
    "--absolute-tcp-sequence-numbers",
    "absolute",
    is_flag=True,
    help="Print absolute sequence and acknowledgment numbers (tcpdump -S).",
)
def command(capture: str, absolute: bool) -> None:
    """Print CAPTURE's TCP packets as `TZ=UTC tcpdump -nn -r CAPTURE` prints them.

    CAPTURE is a pcap or pcapng file ("-" reads standard input). Packets that are not TCP are
    skipped; sequence numbers are relative to each connection's first ones unless -S is given.
    """
    try:
        reader = open_capture(sys.stdin.buffer if capture == "-" else capture)
    except ParseError as error:
        raise click.ClickException(f"{capture}: {error}") from error
    out = sys.stdout
    with reader:
        try:
            for _, line in trace_capture(reader, absolute=absolute):
                out.write(line)
                out.write("\n")
        except BrokenPipeError:  # `synack trace big.pcap | head`: stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
        if reader.truncated is not None:
            out.flush()
            click.echo(
                f"{capture}: truncated at offset {reader.truncated.offset}: "
                f"{reader.truncated.message}",
                err=True,
            )
