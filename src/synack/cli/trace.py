"""`synack trace CAPTURE [-S] [--states]`: a capture's TCP packets, line for line as
`tcpdump -nn -r`, optionally with both endpoints' inferred RFC 9293 states."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import BinaryIO, TextIO, cast

import click

from synack.capture.reader import CaptureReader, open_capture
from synack.capture.tcpdump import trace_records, write_trace
from synack.wire.errors import ParseError


def states_suffix(states: tuple[str, str] | None) -> str:
    """What `--states` appends to a tcpdump line: two spaces, then the sender's and the
    receiver's states after the segment ("" when the segment could not be decoded)."""
    if states is None:
        return ""
    return f"  [sender {states[0]} / receiver {states[1]}]"


class _Batch:
    """Lines waiting to be written: one write for many lines instead of one per line (with
    PYTHONUNBUFFERED each write is a system call)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.lines: list[str] = []

    def flush(self) -> None:
        lines = self.lines
        if lines:
            lines.append("")  # so that the text ends with a newline
            text = "\n".join(lines)
            lines.clear()
            self.stream.write(text)
            self.stream.flush()


class _FlushingInput:
    """The capture file, writing the waiting lines before each read from it.

    The reader reads in large chunks (one system call each), so lines go out in batches of a
    chunk's packets; on a live pipe (`tcpdump -U -w - | synack trace -`) a read returns what has
    arrived, and every line is shown before synack waits for more.
    """

    def __init__(self, file: BinaryIO, batch: _Batch) -> None:
        self._read = getattr(file, "read1", file.read)
        self._batch = batch

    def read1(self, size: int = -1) -> bytes:
        self._batch.flush()
        data: bytes = self._read(size)
        return data

    read = read1


@click.command(name="trace")
@click.argument("capture", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "-S",
    "--absolute-tcp-sequence-numbers",
    "absolute",
    is_flag=True,
    help="Print absolute sequence and acknowledgment numbers (tcpdump -S).",
)
@click.option(
    "--states",
    is_flag=True,
    help=(
        "After each line, two spaces and both endpoints' inferred RFC 9293 states after the "
        "segment: '[sender SYN_SENT / receiver LISTEN]'. The sender is the packet's source "
        "(left of '>'); UNKNOWN is an endpoint not seen yet. The tcpdump text before is "
        "unchanged."
    ),
)
def command(capture: str, absolute: bool, states: bool) -> None:
    """Print CAPTURE's TCP packets as `TZ=UTC tcpdump -nn -r CAPTURE` prints them.

    CAPTURE is a pcap or pcapng file ("-" reads standard input). Packets that are not TCP are
    skipped; sequence numbers are relative to each connection's first ones unless -S is given.
    With --states, connections are delimited and states inferred as `synack analyze` does.
    """
    batch = _Batch(sys.stdout)
    if capture == "-":
        _trace(sys.stdin.buffer, capture, batch, absolute=absolute, states=states)
    else:
        with open(capture, "rb", buffering=0) as file:
            _trace(file, capture, batch, absolute=absolute, states=states)


def _trace(file: BinaryIO, name: str, batch: _Batch, *, absolute: bool, states: bool) -> None:
    try:
        reader = open_capture(cast(BinaryIO, _FlushingInput(file, batch)))
    except ParseError as error:
        raise click.ClickException(f"{name}: {error}") from error
    with reader:
        try:
            if states:
                add = batch.lines.append  # the list is emptied by each flush, so not extend()
                for line in _with_states(reader, absolute):
                    add(line)
            else:
                write_trace(reader, batch.lines.append, absolute=absolute)
            batch.flush()
        except BrokenPipeError:  # `synack trace big.pcap | head`: stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
    if reader.truncated is not None:
        click.echo(
            f"{name}: truncated at offset {reader.truncated.offset}: {reader.truncated.message}",
            err=True,
        )


def _with_states(reader: CaptureReader, absolute: bool) -> Iterator[str]:
    """The lines with `--states`' suffix (connections tracked as `synack analyze` does)."""
    from synack.analyze import EndpointStates

    endpoint_states = EndpointStates()
    for _, timestamp_ns, link_type, data, line in trace_records(reader, absolute=absolute):
        yield line + states_suffix(endpoint_states.after(timestamp_ns, link_type, data))
