"""Why a script failed: one message, and the script line it concerns."""

from __future__ import annotations


class ScriptFailure(Exception):
    """The stack did not behave as the script says (or the script asks for something unknown)."""

    def __init__(self, message: str, line: int = 0) -> None:
        self.message = message
        self.line = line
        super().__init__(message)


class Unsupported(ScriptFailure):
    """The script uses a system call, option, sysctl or command the runner does not model."""
