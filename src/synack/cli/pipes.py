"""Standard output whose reader may go away early (`synack demo | head -1`): not an error."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn


def reader_gone() -> NoReturn:
    """The reader of stdout went away: stop quietly with status 0, as tcpdump does.

    Standard output is pointed at /dev/null first, so that the interpreter's last flush of what
    is still buffered cannot fail again.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    sys.exit(0)


@contextmanager
def stop_when_reader_gone() -> Iterator[None]:
    """Run the body; if stdout's reader goes away meanwhile (or before its output is flushed at
    the end), exit quietly with status 0."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        reader_gone()

