"""The parsed form of a packetdrill-dialect script: header options and a list of timed events."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path


class TimeKind(Enum):
    """How an event's time is written (packetdrill's five forms)."""

    ABSOLUTE = "absolute"  # 0.10
    RELATIVE = "relative"  # +0.10
    ANY = "any"  # *
    ABSOLUTE_RANGE = "absolute_range"  # 0.10~0.20
    RELATIVE_RANGE = "relative_range"  # +0.10~+0.20


@dataclass(frozen=True, slots=True)
class EventTime:
    """Seconds; `end` is set for ranges only."""

    kind: TimeKind
    start: float = 0.0
    end: float | None = None


# --- expressions (system call arguments and results) ------------------------------------------


@dataclass(frozen=True, slots=True)
class Ellipsis_:
    """`...`: any value (arguments) or "do not check"."""

    def __str__(self) -> str:
        return "..."


@dataclass(frozen=True, slots=True)
class Int:
    value: int
    text: str = ""

    def __str__(self) -> str:
        return self.text or str(self.value)


@dataclass(frozen=True, slots=True)
class Word:
    """A symbolic constant (SOL_SOCKET, O_NONBLOCK, ECONNRESET ...)."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class String:
    value: str
    truncated: bool = False  # "abc"...

    def __str__(self) -> str:
        return f'"{self.value}"' + ("..." if self.truncated else "")


@dataclass(frozen=True, slots=True)
class ListExpr:
    """`[a, b]` (an array) or `{a, b}` (a structure); `braces` tells which."""

    items: tuple[Expr, ...]
    braces: bool = False

    def __str__(self) -> str:
        inner = ", ".join(str(i) for i in self.items)
        return "{" + inner + "}" if self.braces else "[" + inner + "]"


@dataclass(frozen=True, slots=True)
class Call:
    """`htons(8080)`, `inet_addr("192.0.2.1")` inside structures."""

    name: str
    args: tuple[Expr, ...]

    def __str__(self) -> str:
        return f"{self.name}({', '.join(str(a) for a in self.args)})"


@dataclass(frozen=True, slots=True)
class Binary:
    """`a | b` (bitwise or) or `name = value` (a structure field)."""

    op: str
    left: Expr
    right: Expr

    def __str__(self) -> str:
        if self.op == "=":
            return f"{self.left}={self.right}"
        return f"{self.left} {self.op} {self.right}"


Expr = Ellipsis_ | Int | Word | String | ListExpr | Call | Binary

# --- TCP options --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One TCP option as written: `kind` is nop, eol, mss, wscale, sackOK, sack, TS, FO, FOEXP, md5.

    `values` holds the numbers (mss value; shift; TS val and ecr; SACK edges in pairs);
    `data` holds a cookie or key as written.
    """

    kind: str
    values: tuple[int, ...] = ()
    data: str = ""

    def __str__(self) -> str:
        if self.kind == "TS":
            return f"TS val {self.values[0]} ecr {self.values[1]}"
        if self.kind == "sack":
            pairs = zip(self.values[::2], self.values[1::2], strict=True)
            return "sack " + " ".join(f"{a}:{b}" for a, b in pairs)
        if self.values:
            return f"{self.kind} {' '.join(str(v) for v in self.values)}"
        if self.data:
            return f"{self.kind} {self.data}"
        return self.kind


# --- actions ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PacketSpec:
    """`<` (inbound, injected) or `>` (outbound, expected) TCP segment.

    `start` None means `...` (any sequence number). `options` None means `<...>` (not checked);
    an empty tuple means "no options". `window` None means not given (not checked outbound).
    `ecn` is the IP ECN codepoint written in brackets (noecn, ect0, ect1, ce, ect01) or "".
    """

    direction: str
    flags: str
    start: int | None
    length: int
    ack: int | None = None
    window: int | None = None
    urgent: int | None = None
    options: tuple[OptionSpec, ...] | None = ()
    ecn: str = ""
    src_port: int | None = None
    dst_port: int | None = None

    @property
    def inbound(self) -> bool:
        return self.direction == "<"


@dataclass(frozen=True, slots=True)
class SyscallSpec:
    """`name(args) = result [ERRNO (note)]`; `end` is the end time of a blocking call."""

    name: str
    args: tuple[Expr, ...]
    result: Expr
    errno: str | None = None
    note: str | None = None
    end: EventTime | None = None


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A back-quoted shell line."""

    command: str


@dataclass(frozen=True, slots=True)
class CodeSpec:
    """A `%{ ... }%` block (Python in packetdrill; here, assertions on tcpi_* values)."""

    code: str


Action = PacketSpec | SyscallSpec | CommandSpec | CodeSpec


@dataclass(frozen=True, slots=True)
class Event:
    line: int
    column: int
    time: EventTime
    action: Action
    text: str  # the source line, for messages


@dataclass(slots=True)
class Script:
    path: Path
    options: dict[str, str] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
