"""Command-line file parameters checked before any work starts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click


class OutputFile(click.Path):
    """A file the command will create or overwrite: not a directory, in a directory that exists
    and may be written to, and writable itself if it exists (checked when the option is read, so
    that an hour-long analysis never ends in a failed write)."""

    def __init__(self) -> None:
        super().__init__(dir_okay=False, writable=True, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        path = super().convert(value, param, ctx)
        folder = Path(os.fsdecode(path)).parent
        if not folder.is_dir():
            self.fail(f"directory '{folder}' does not exist.", param, ctx)
        if not os.access(folder, os.W_OK | os.X_OK):
            self.fail(f"directory '{folder}' is not writable.", param, ctx)
        return path
