"""Printing a transcript: plain text for pipes and files, colour (rich) on a terminal."""

from __future__ import annotations

import sys
from typing import TextIO

from synack.scenarios.lab import Entry, render

_STYLES = {
    "out": "cyan",
    "in": "green",
    "client": "bold yellow",
    "server": "bold magenta",
    "network": "bold red",
}


def _style(entry: Entry) -> str:
    if entry.kind == "packet":
        return _STYLES["out" if entry.outgoing else "in"]
    return _STYLES.get(entry.actor, "")


def print_transcript(entries: list[Entry], out: TextIO | None = None, *, color: bool | None = None
                     ) -> None:
    """Write every entry on its own line; colour only if `color` (default: `out` is a terminal)."""
    stream = out if out is not None else sys.stdout
    if color is None:
        color = stream.isatty()
    if not color:
        for _, text in render(entries):
            stream.write(text + "\n")
        return
    from rich.console import Console
    from rich.text import Text

    console = Console(file=stream, highlight=False, soft_wrap=True, force_terminal=True)
    for entry, text in render(entries):
        console.print(Text(text, style=_style(entry)))
