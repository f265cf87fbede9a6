"""`synack trace CAPTURE [-S] [--states]`: a capture's TCP packets, line for line as
`tcpdump -nn -r`, optionally with both endpoints' inferred RFC 9293 states."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import BinaryIO, TextIO, cast

import click

from synack.capture.packet import Truncation
from synack.capture.reader import CaptureReader, open_capture
from synack.capture.tcpdump import trace_records, write_trace
from synack.cli.pipes import reader_gone
from synack.wire.errors import ParseError

# The exit statuses of `synack analyze` for the same files.
EXIT_NOT_A_CAPTURE = 1
EXIT_TRUNCATED = 3


class CaptureError(click.ClickException):
    """A file that is not a capture, or one cut or damaged: one line, and its exit status."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def damage_error(name: str, truncated: Truncation, packets: int) -> CaptureError:
    """What to say about a capture whose reading stopped at `truncated` after `packets` packets:
    a file too short for its header is not a capture at all (status 1), else it is truncated or
    corrupt (status 3)."""
    if truncated.offset == 0 and packets == 0:
        return CaptureError(f"{name}: not a capture: {truncated.message}", EXIT_NOT_A_CAPTURE)
    return CaptureError(
        f"{name}: truncated or corrupt at offset {truncated.offset}: {truncated.message}",
        EXIT_TRUNCATED,
    )


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


@click.command(
    name="trace",
    epilog=(
        "Exit status: 0 the whole capture was read; 1 the file is not a capture; 2 bad usage (a "
        "missing CAPTURE included); 3 the capture is truncated or corrupt (the packets before "
        "the damage are printed first)."
    ),
)
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
        raise CaptureError(f"{name}: {error.message}", EXIT_NOT_A_CAPTURE) from None
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
            reader_gone()
    if reader.truncated is not None:
        raise damage_error(name, reader.truncated, reader.packets_read)


def _with_states(reader: CaptureReader, absolute: bool) -> Iterator[str]:
    """The lines with `--states`' suffix (connections tracked as `synack analyze` does)."""
    from synack.analyze import EndpointStates

    endpoint_states = EndpointStates()
    for _, timestamp_ns, link_type, data, line in trace_records(reader, absolute=absolute):
        yield line + states_suffix(endpoint_states.after(timestamp_ns, link_type, data))
