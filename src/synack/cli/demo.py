"""`synack demo [SCENARIO] [--pcap FILE] [--seed N]`, `synack demo --list`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from synack.cli.paths import OutputFile
from synack.cli.pipes import reader_gone, stop_when_reader_gone
from synack.scenarios.catalog import SCENARIOS
from synack.scenarios.render import print_transcript


@click.command(name="demo")
@click.argument("scenario", required=False, default="default", metavar="[SCENARIO]")
@click.option("--pcap", "pcap", type=OutputFile(), default=None,
              help="Also write what crossed the client's interface to this pcap/pcapng file.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the simulated network (same seed, same bytes).")
@click.option("--list", "list_", is_flag=True, help="List the scenarios, one line each.")
def command(scenario: str, pcap: Path | None, seed: int, list_: bool) -> None:
    """Run a seed scenario on the simulated network and show every segment.

    Each segment is printed exactly as `tcpdump -nn` prints it, interleaved with both endpoints'
    socket calls and state changes. With no SCENARIO, the seed's Linux HTTP exchange.
    """
    if list_:
        width = max(len(name) for name in SCENARIOS)
        with stop_when_reader_gone():
            for item in SCENARIOS.values():
                click.echo(f"{item.name:<{width}}  {item.summary}")
        return
    chosen = SCENARIOS.get(scenario)
    if chosen is None:
        names = ", ".join(SCENARIOS)
        raise click.BadParameter(f"unknown scenario {scenario!r} (one of: {names})",
                                 param_hint="SCENARIO")
    lab = chosen.run(seed)
    try:
        print_transcript(lab.transcript.entries)
        sys.stdout.flush()
        reader_left = False
    except BrokenPipeError:  # `synack demo | head -1`: not an error; --pcap is still written
        reader_left = True
    if pcap is not None:
        try:
            lab.write_pcap(pcap)
        except OSError as exc:
            raise click.ClickException(f"cannot write {pcap}: {exc.strerror or exc}") from None
        click.echo(f"wrote {len(lab.records)} packets to {pcap}", err=True)
    if reader_left:
        reader_gone()
