"""A recursive-descent parser for the packetdrill dialect (Google packetdrill and the nplab fork).

Grammar (one event per timed action; new lines carry no meaning):

    script   := OPTION* event*
    event    := time action
    time     := '+'? NUM ['~' '+'? NUM] | '*'  ;  NUM '...' NUM  (a blocking call's start and end)
    action   := packet | syscall | BACKQUOTE | CODE
    packet   := ('<'|'>') [ '[' ip-info ']' ] [PORT '>' PORT] flags seq ['ack' N] ['win' N]
                ['urg' N] ['<' options '>' | '<' '...' '>']
    seq      := N ':' N '(' N ')' | '...' '(' N ')'
    syscall  := WORD '(' [expr (',' expr)*] ')' '=' expr [ERRNO] ['(' note ')']
"""

from __future__ import annotations

from pathlib import Path

from synack.conformance.ast import (
    Binary,
    Call,
    CodeSpec,
    CommandSpec,
    Ellipsis_,
    Event,
    EventTime,
    Expr,
    Int,
    ListExpr,
    OptionSpec,
    PacketSpec,
    Script,
    String,
    SyscallSpec,
    TimeKind,
    Word,
)
from synack.conformance.lexer import ScriptSyntaxError, Token, preprocess, tokenize

DEFAULT_DEFINES = frozenset({"STANDARD"})

_FLAG_LETTERS = frozenset("SFRPUEWA.")  # packetdrill: SYN FIN RST PSH URG ECE CWR AE, '.' = ACK
_ECN_WORDS = frozenset({"noecn", "ect0", "ect1", "ce", "ect01"})
_U32 = (1 << 32) - 1


def parse_file(path: Path | str, defines: frozenset[str] = DEFAULT_DEFINES) -> Script:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ScriptSyntaxError(p, 0, 0, f"cannot read: {exc.strerror}") from exc
    return parse_script(text, p, defines)


def parse_script(
    text: str, path: Path | str = "<script>", defines: frozenset[str] = DEFAULT_DEFINES
) -> Script:
    source = preprocess(text, path, defines)
    return _Parser(source, Path(path)).parse()


class _Parser:
    def __init__(self, source: str, path: Path) -> None:
        self.path = path
        self.source = source
        self.lines = source.split("\n")
        self.tokens = tokenize(source, path)
        self.pos = 0

    # --- token helpers ---------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        t = self.tokens[self.pos]
        if t.kind != "EOF":
            self.pos += 1
        return t

    def error(self, message: str, tok: Token | None = None) -> ScriptSyntaxError:
        t = tok or self.tok
        found = "end of file" if t.kind == "EOF" else repr(t.text)
        return ScriptSyntaxError(self.path, t.line, t.column, f"{message} (found {found})")

    def expect(self, kind: str, what: str | None = None) -> Token:
        if self.tok.kind != kind:
            raise self.error(f"expected {what or repr(kind)}")
        return self.advance()

    def accept(self, kind: str) -> Token | None:
        if self.tok.kind == kind:
            return self.advance()
        return None

    def accept_word(self, word: str) -> Token | None:
        if self.tok.kind == "WORD" and self.tok.text == word:
            return self.advance()
        return None

    def integer(self, what: str, *, maximum: int | None = None, signed: bool = False) -> int:
        t = self.tok
        negative = False
        if signed and t.kind == "-":
            self.advance()
            negative = True
            t = self.tok
        if t.kind == "INT":
            value = int(t.text)
        elif t.kind == "HEX":
            value = int(t.text, 16)
        else:
            raise self.error(f"expected {what}")
        if maximum is not None and value > maximum:
            raise ScriptSyntaxError(
                self.path, t.line, t.column, f"{what} {value} out of range (max {maximum})"
            )
        self.advance()
        return -value if negative else value

    def number(self, what: str) -> float:
        t = self.tok
        if t.kind in ("INT", "FLOAT"):
            self.advance()
            return float(t.text)
        raise self.error(f"expected {what}")

    # --- script ----------------------------------------------------------------------------

    def parse(self) -> Script:
        script = Script(self.path)
        while self.tok.kind == "OPTION":
            t = self.advance()
            body = t.text[2:]
            if "=" in body:
                name, value = body.split("=", 1)
            else:
                name, _, value = body.partition(" ")
            name = name.strip()
            if not name:
                raise ScriptSyntaxError(self.path, t.line, t.column, "empty option name")
            script.options[name] = value.strip()
        while self.tok.kind != "EOF":
            if self.tok.kind == "OPTION":
                raise self.error("options must come before the first event")
            script.events.append(self.event())
        return script

    def event(self) -> Event:
        first = self.tok
        time, block_end = self.event_time()
        action_tok = self.tok
        if action_tok.kind in ("<", ">"):
            action: PacketSpec | SyscallSpec | CommandSpec | CodeSpec = self.packet()
        elif action_tok.kind == "BACKQUOTE":
            self.advance()
            action = CommandSpec(action_tok.text.strip())
        elif action_tok.kind == "CODE":
            self.advance()
            action = CodeSpec(action_tok.text)
        elif action_tok.kind == "WORD":
            action = self.syscall(block_end)
            block_end = None
        else:
            raise self.error("expected a packet, a system call, a `command` or a %{ }% block")
        if block_end is not None:
            raise ScriptSyntaxError(
                self.path, first.line, first.column, "an end time applies to system calls only"
            )
        if time.kind is not TimeKind.ABSOLUTE and time.kind is not TimeKind.RELATIVE and (
            not isinstance(action, PacketSpec) or action.inbound
        ):
            raise ScriptSyntaxError(
                self.path, first.line, first.column,
                "'*' and time ranges can only be used with outbound packets",
            )
        text = self.lines[first.line - 1].strip() if 0 < first.line <= len(self.lines) else ""
        return Event(first.line, first.column, time, action, text)

    def event_time(self) -> tuple[EventTime, EventTime | None]:
        t = self.tok
        if self.accept("*"):
            return EventTime(TimeKind.ANY), None
        relative = self.accept("+") is not None
        start = self.number("an event time")
        if self.accept("~"):
            end_relative = self.accept("+") is not None
            if end_relative != relative:
                raise ScriptSyntaxError(
                    self.path, t.line, t.column, "a time range mixes relative and absolute times"
                )
            end = self.number("the end of the time range")
            if end < start:
                raise ScriptSyntaxError(self.path, t.line, t.column, "time range is backwards")
            kind = TimeKind.RELATIVE_RANGE if relative else TimeKind.ABSOLUTE_RANGE
            return EventTime(kind, start, end), None
        time = EventTime(TimeKind.RELATIVE if relative else TimeKind.ABSOLUTE, start)
        if self.accept("ELLIPSIS"):
            end_relative = self.accept("+") is not None
            end_value = self.number("the end time of a blocking call")
            kind = TimeKind.RELATIVE if relative or end_relative else TimeKind.ABSOLUTE
            return time, EventTime(kind, end_value)
        return time, None

    # --- packets -----------------------------------------------------------------------------

    def packet(self) -> PacketSpec:
        direction = self.advance().kind
        ecn = ""
        if self.tok.kind in ("[", "("):
            close = "]" if self.tok.kind == "[" else ")"
            self.advance()
            word = self.expect("WORD", "an IP field such as noecn, ect0, ect1, ce")
            if word.text not in _ECN_WORDS:
                raise self.error(f"unsupported IP field {word.text!r}", word)
            ecn = word.text
            self.expect(close, repr(close))
        src_port = dst_port = None
        if self.tok.kind == "INT" and self.peek().kind == ">":
            src_port = self.integer("source port", maximum=0xFFFF)
            self.advance()
            dst_port = self.integer("destination port", maximum=0xFFFF)
        flags = self.flags()
        start, length = self.sequence()
        ack = window = urgent = None
        options: tuple[OptionSpec, ...] | None = ()
        while True:
            if self.accept_word("ack"):
                ack = self.integer("an acknowledgment number", maximum=_U32)
            elif self.accept_word("win"):
                window = self.integer("a window", maximum=0xFFFF)
            elif self.accept_word("urg"):
                urgent = self.integer("an urgent pointer", maximum=0xFFFF)
            else:
                break
        if self.tok.kind == "<":
            options = self.options(direction)
        return PacketSpec(
            direction, flags, start, length, ack, window, urgent, options, ecn, src_port, dst_port
        )

    def flags(self) -> str:
        t = self.tok
        if t.kind == "-":
            self.advance()
            return ""
        if t.kind == ".":
            self.advance()
            return "."
        if t.kind == "WORD" and t.text.lower() in ("icmp", "udp", "udplite", "sctp", "gre", "mpls"):
            raise ScriptSyntaxError(
                self.path, t.line, t.column, f"{t.text} packets are not supported (TCP only)"
            )
        if t.kind == "WORD":
            self.advance()
            text = t.text
            # An adjacent '.' belongs to the flags (S. F. P.); "S ." with a space does not occur.
            if self.tok.kind == "." and self.tok.offset == t.end:
                self.advance()
                text += "."
            bad = set(text) - _FLAG_LETTERS
            if bad:
                raise ScriptSyntaxError(
                    self.path, t.line, t.column, f"unknown TCP flag(s) {''.join(sorted(bad))!r}"
                )
            return text
        raise self.error("expected TCP flags (S F R P . E W U or -)")

    def sequence(self) -> tuple[int | None, int]:
        if self.accept("ELLIPSIS"):
            self.expect("(", "'('")
            length = self.integer("a payload length", maximum=0xFFFF)
            self.expect(")", "')'")
            return None, length
        t = self.tok
        start = self.integer("a sequence range start:end(length)", maximum=_U32)
        self.expect(":", "':' in start:end(length)")
        end = self.integer("the end sequence number", maximum=_U32)
        self.expect("(", "'(' in start:end(length)")
        length = self.integer("a payload length", maximum=0xFFFF)
        self.expect(")", "')'")
        if (start + length) & _U32 != end:
            raise ScriptSyntaxError(
                self.path, t.line, t.column,
                f"inconsistent sequence numbers: {start}:{end} is not {length} bytes",
            )
        return start, length

    def options(self, direction: str) -> tuple[OptionSpec, ...] | None:
        lt = self.expect("<")
        if self.accept("ELLIPSIS"):
            self.expect(">", "'>'")
            if direction == "<":
                raise ScriptSyntaxError(
                    self.path, lt.line, lt.column,
                    "<...> for TCP options can only be used with outbound packets",
                )
            return None
        result = [self.option()]
        while self.accept(","):
            result.append(self.option())
        self.expect(">", "',' or '>' after a TCP option")
        return tuple(result)

    def option(self) -> OptionSpec:
        t = self.expect("WORD", "a TCP option")
        name = t.text
        if name in ("nop", "eol", "sackOK"):
            return OptionSpec(name)
        if name == "mss":
            return OptionSpec("mss", (self.integer("an MSS value", maximum=0xFFFF),))
        if name == "wscale":
            return OptionSpec("wscale", (self.integer("a window scale shift", maximum=0xFF),))
        if name == "TS":
            if not self.accept_word("val"):
                raise self.error("expected 'val' in TS val N ecr N")
            val = self.integer("a TS value", maximum=_U32)
            if not self.accept_word("ecr"):
                raise self.error("expected 'ecr' in TS val N ecr N")
            ecr = self.integer("a TS echo reply", maximum=_U32)
            return OptionSpec("TS", (val, ecr))
        if name == "sack":
            edges: list[int] = []
            while self.tok.kind in ("INT", "HEX"):
                edges.append(self.integer("a SACK edge", maximum=_U32))
                self.expect(":", "':' in a SACK block")
                edges.append(self.integer("a SACK edge", maximum=_U32))
            if not edges:
                raise self.error("expected SACK blocks left:right")
            return OptionSpec("sack", tuple(edges))
        if name in ("FO", "FOEXP", "md5"):
            data = ""
            if self.tok.kind in ("WORD", "INT", "HEX"):
                data = self.advance().text
            return OptionSpec(name, (), data)
        raise ScriptSyntaxError(self.path, t.line, t.column, f"unknown TCP option {name!r}")

    # --- system calls ------------------------------------------------------------------------

    def syscall(self, end: EventTime | None) -> SyscallSpec:
        name = self.advance().text
        self.expect("(", f"'(' after {name}")
        args: list[Expr] = []
        if not self.accept(")"):
            args.append(self.expression())
            while self.accept(","):
                args.append(self.expression())
            self.expect(")", "',' or ')' in the argument list")
        self.expect("=", "'= result' after a system call")
        result = self.expression()
        errno = note = None
        if self.tok.kind == "WORD":
            errno = self.advance().text
        if self.tok.kind == "(":
            note = self.note()
        return SyscallSpec(name, tuple(args), result, errno, note, end)

    def note(self) -> str:
        open_tok = self.advance()
        depth = 1
        while True:
            t = self.tok
            if t.kind == "EOF":
                raise self.error("unterminated '(' note", open_tok)
            self.advance()
            if t.kind == "(":
                depth += 1
            elif t.kind == ")":
                depth -= 1
                if depth == 0:
                    return self.source[open_tok.end : t.offset].strip()

    def expression(self) -> Expr:
        left = self.primary()
        while self.accept("|"):
            left = Binary("|", left, self.primary())
        return left

    def primary(self) -> Expr:
        t = self.tok
        if self.accept("ELLIPSIS"):
            return Ellipsis_()
        if t.kind in ("INT", "HEX") or (t.kind == "-" and self.peek().kind in ("INT", "HEX")):
            start = t.offset
            value = self.integer("a number", signed=True)
            return Int(value, self.source[start : self.tokens[self.pos - 1].end])
        if t.kind == "STRING":
            self.advance()
            return String(t.text, self.accept("ELLIPSIS") is not None)
        if t.kind in ("[", "{"):
            close = "]" if t.kind == "[" else "}"
            self.advance()
            items: list[Expr] = []
            if not self.accept(close):
                items.append(self.expression())
                while self.accept(","):
                    items.append(self.expression())
                self.expect(close, f"',' or {close!r}")
            return ListExpr(tuple(items), braces=t.kind == "{")
        if t.kind == "WORD":
            self.advance()
            if self.tok.kind == "(" and self.tok.offset == t.end:
                self.advance()
                args: list[Expr] = []
                if not self.accept(")"):
                    args.append(self.expression())
                    while self.accept(","):
                        args.append(self.expression())
                    self.expect(")", "')'")
                return Call(t.text, tuple(args))
            if self.tok.kind == "=" and self.peek().kind not in ("EOF",):
                # name=value inside a structure; a top-level '= result' never follows a WORD
                # argument because arguments are closed by ')' first.
                self.advance()
                return Binary("=", Word(t.text), self.expression())
            return Word(t.text)
        raise self.error("expected an expression")
