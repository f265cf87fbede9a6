"""The `synack` command.

Each subcommand lives in its own module (`synack.cli.<name>`, attribute `command`) and is
imported only when it runs, so `synack trace` never pays for the TUN driver's imports.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

from synack import __version__

# name -> (module, one-line help shown by `synack --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("synack.cli.demo", "Run a seed scenario on the simulated network."),
    "trace": ("synack.cli.trace", "Print TCP packets exactly as `tcpdump -nn -r` does."),
    "analyze": ("synack.cli.analyze", "Reconstruct every TCP connection in a capture."),
    "run": ("synack.cli.run", "Run packetdrill-dialect scripts against synack."),
    "serve": ("synack.cli.serve", "Serve echo, discard or HTTP on a TUN device."),
    "connect": ("synack.cli.connect", "Connect over a TUN device: send stdin or fetch a URL."),
    "lab": ("synack.cli.lab", "Run a synack-vs-Linux scenario in a private namespace."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._module_exists(name)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None or not self._module_exists(cmd_name):
            return None
        module = importlib.import_module(entry[0])
        command = module.command
        assert isinstance(command, click.Command)
        if command.short_help is None:
            command.short_help = entry[1]
        return command

    @staticmethod
    def _module_exists(name: str) -> bool:
        return importlib.util.find_spec(COMMANDS[name][0]) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="synack")
def main() -> None:
    """synack: a pure-Python TCP you can watch.

    An RFC 9293 endpoint on a deterministic simulated network or a Linux TUN device, an
    observer that reconstructs every connection in a pcap/pcapng capture, and a lab of seed
    scenarios and packetdrill-dialect conformance scripts.
    """
