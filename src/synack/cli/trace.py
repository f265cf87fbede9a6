"""`synack trace CAPTURE [-S] [--states]`: a capture's TCP packets, line for line as
`tcpdump -nn -r`, optionally with both endpoints' inferred RFC 9293 states."""

from __future__ import annotations

import os
import sys

import click

from synack.capture.reader import open_capture
from synack.capture.tcpdump import trace_records
from synack.wire.errors import ParseError


def states_suffix(states: tuple[str, str] | None) -> str:
    """What `--states` appends to a tcpdump line: two spaces, then the sender's and the
    receiver's states after the segment ("" when the segment could not be decoded)."""
    if states is None:
        return ""
    return f"  [sender {states[0]} / receiver {states[1]}]"


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
    try:
        reader = open_capture(sys.stdin.buffer if capture == "-" else capture)
    except ParseError as error:
        raise click.ClickException(f"{capture}: {error}") from error
    endpoint_states = None
    if states:
        from synack.analyze import EndpointStates

        endpoint_states = EndpointStates()
    out = sys.stdout
    with reader:
        try:
            for _, timestamp_ns, link_type, data, line in trace_records(reader, absolute=absolute):
                out.write(line)
                if endpoint_states is not None:
                    out.write(states_suffix(endpoint_states.after(timestamp_ns, link_type, data)))
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
