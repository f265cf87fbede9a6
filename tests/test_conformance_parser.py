"""The packetdrill-dialect parser: every construct, and errors that name file, line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from synack.conformance.ast import (
    Binary,
    Call,
    CodeSpec,
    CommandSpec,
    Ellipsis_,
    Int,
    ListExpr,
    OptionSpec,
    PacketSpec,
    String,
    SyscallSpec,
    TimeKind,
    Word,
)
from synack.conformance.lexer import ScriptSyntaxError
from synack.conformance.parser import parse_file, parse_script

SUITE = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "freebsd-tcp-testsuite"


def one(text: str) -> PacketSpec | SyscallSpec | CommandSpec | CodeSpec:
    script = parse_script(text, "t.pkt")
    assert len(script.events) == 1
    return script.events[0].action


def test_header_options_and_times() -> None:
    script = parse_script(
        "--ip_version=ipv6\n--tolerance_usecs=25000\n--mss=1000\n"
        " 0.00 `sysctl -w a=1`\n+0.10 `true`\n+ 0.20 `true`\n* > S 0:0(0)\n"
        "0.1~0.3 > . 1:1(0) ack 1\n+0.1~+0.2 > . 1:1(0) ack 1\n.5 `x`\n",
        "t.pkt",
    )
    assert script.options == {"ip_version": "ipv6", "tolerance_usecs": "25000", "mss": "1000"}
    times = [(e.time.kind, e.time.start, e.time.end) for e in script.events]
    assert times == [
        (TimeKind.ABSOLUTE, 0.0, None),
        (TimeKind.RELATIVE, 0.1, None),
        (TimeKind.RELATIVE, 0.2, None),
        (TimeKind.ANY, 0.0, None),
        (TimeKind.ABSOLUTE_RANGE, 0.1, 0.3),
        (TimeKind.RELATIVE_RANGE, 0.1, 0.2),
        (TimeKind.ABSOLUTE, 0.5, None),
    ]
    assert [e.line for e in script.events] == [4, 5, 6, 7, 8, 9, 10]


def test_inbound_segment_with_options() -> None:
    spec = one("+0.10 < S. 0:0(0) ack 1 win 32767 <mss 1460,sackOK,eol,eol>")
    assert spec == PacketSpec(
        "<", "S.", 0, 0, ack=1, window=32767,
        options=(OptionSpec("mss", (1460,)), OptionSpec("sackOK"), OptionSpec("eol"),
                 OptionSpec("eol")),
    )


def test_outbound_segment_all_fields() -> None:
    spec = one(
        "+0 > [ect0] P. 1:11(10) ack 4294967295 win 0 urg 3 "
        "<nop,nop,TS val 100 ecr 7,sack 1:2 5:9,wscale 14>"
    )
    assert isinstance(spec, PacketSpec)
    head = (spec.direction, spec.ecn, spec.flags, spec.start, spec.length)
    assert head == (">", "ect0", "P.", 1, 10)
    assert (spec.ack, spec.window, spec.urgent) == (4294967295, 0, 3)
    assert spec.options == (
        OptionSpec("nop"), OptionSpec("nop"), OptionSpec("TS", (100, 7)),
        OptionSpec("sack", (1, 2, 5, 9)), OptionSpec("wscale", (14,)),
    )


def test_flag_forms_and_any_options() -> None:
    assert one("0 > SEW 0:0(0) <...>") == PacketSpec(">", "SEW", 0, 0, options=None)
    assert one("0 < . 1:1(0) ack 1 win 5").flags == "."  # type: ignore[union-attr]
    assert one("0 < - 1:1(0) win 5").flags == ""  # type: ignore[union-attr]
    assert one("0 <[noecn] F. 1:1(0) ack 2").ecn == "noecn"  # type: ignore[union-attr]
    spec = one("0 > S. ...(0) ack 65537 win 65535")
    assert isinstance(spec, PacketSpec)
    assert (spec.start, spec.length, spec.ack) == (None, 0, 65537)


def test_sequence_wraps_modulo_2_32() -> None:
    spec = one("0 < . 4294967290:4(10) ack 1 win 100")
    assert isinstance(spec, PacketSpec)
    assert (spec.start, spec.length) == (4294967290, 10)


def test_syscalls_results_errno_and_notes() -> None:
    spec = one("+0.00 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)")
    assert spec == SyscallSpec(
        "connect", (Int(3, "3"), Ellipsis_(), Ellipsis_()), Int(-1, "-1"),
        "EINPROGRESS", "Operation now in progress",
    )
    spec = one("+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0")
    assert isinstance(spec, SyscallSpec)
    assert spec.args[2] == Binary("|", Word("O_RDWR"), Word("O_NONBLOCK"))
    spec = one("+0 fcntl(3, F_GETFL) = 0x02 (flags O_RDWR)")
    assert isinstance(spec, SyscallSpec)
    assert (spec.result, spec.errno, spec.note) == (Int(2, "0x02"), None, "flags O_RDWR")
    spec = one("+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNRESET], [4]) = 0")
    assert isinstance(spec, SyscallSpec)
    assert spec.args[3] == ListExpr((Word("ECONNRESET"),))
    spec = one("+0 setsockopt(3, SOL_SOCKET, SO_LINGER, {l_onoff=1, l_linger=0}, 8) = 0")
    assert isinstance(spec, SyscallSpec)
    assert spec.args[3] == ListExpr(
        (Binary("=", Word("l_onoff"), Int(1, "1")), Binary("=", Word("l_linger"), Int(0, "0"))),
        braces=True,
    )
    spec = one('+0 bind(3, {sa_family=AF_INET, sin_port=htons(8080), '
               'sin_addr=inet_addr("192.0.2.1")}, 16) = 0')
    assert isinstance(spec, SyscallSpec)
    struct = spec.args[1]
    assert isinstance(struct, ListExpr)
    assert struct.items[1] == Binary("=", Word("sin_port"), Call("htons", (Int(8080, "8080"),)))
    assert struct.items[2] == Binary(
        "=", Word("sin_addr"), Call("inet_addr", (String("192.0.2.1"),))
    )
    spec = one('+0 write(4, "hello"..., 1000) = 1000')
    assert isinstance(spec, SyscallSpec)
    assert spec.args[1] == String("hello", truncated=True)


def test_blocking_call_end_time() -> None:
    script = parse_script(" 1.00...6.00 connect(3, ..., ...) = -1 ETIMEDOUT (Operation timed out)\n"
                          "+0...0.5 accept(3, ..., ...) = 4\n")
    first, second = (e.action for e in script.events)
    assert isinstance(first, SyscallSpec) and isinstance(second, SyscallSpec)
    assert script.events[0].time.start == 1.0
    assert first.end is not None and (first.end.kind, first.end.start) == (TimeKind.ABSOLUTE, 6.0)
    assert second.end is not None
    assert (second.end.kind, second.end.start) == (TimeKind.RELATIVE, 0.5)


def test_commands_and_code_blocks() -> None:
    script = parse_script(
        "+0 `sockstat -4 -P tcp -p 8080 -s | grep -c SYN_RCVD | grep 0`\n"
        "+0 %{ assert tcpi_state == TCPI_SYN_RECEIVED }%\n"
        "+0 %{\nassert tcpi_options == 0\n}%\n+0 close(3) = 0\n"
    )
    actions = [e.action for e in script.events]
    assert actions[0] == CommandSpec("sockstat -4 -P tcp -p 8080 -s | grep -c SYN_RCVD | grep 0")
    assert actions[1] == CodeSpec("assert tcpi_state == TCPI_SYN_RECEIVED")
    assert actions[2] == CodeSpec("assert tcpi_options == 0")
    assert script.events[3].line == 6


def test_comments_are_ignored() -> None:
    script = parse_script("// c\n/* a\n b */ 0 close(3) = 0// trailing\n+0 close(4) = 0 /* x */\n")
    assert [e.line for e in script.events] == [3, 4]


def test_ifdef_standard_is_defined() -> None:
    text = (
        "0 `a`\n#ifdef STANDARD\n+0 `standard`\n#else\n+0 `other`\n#endif\n"
        "#ifdef FreeBSD\n+0 > S. ...(0) ack 1\n#endif\n#ifndef FreeBSD\n+0 `not-freebsd`\n#endif\n"
    )
    commands = [e.action for e in parse_script(text).events]
    assert commands == [CommandSpec("a"), CommandSpec("standard"), CommandSpec("not-freebsd")]
    other = [e.action for e in parse_script(text, defines=frozenset({"FreeBSD"})).events]
    assert other[1] == CommandSpec("other")
    assert isinstance(other[2], PacketSpec)


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        ("0 close(3) = 0\n+0 < S 0:0(0) win 100 <mss 1460,foo 3>\n", 2, 33,
         "unknown TCP option 'foo'"),
        ("0 < S 0:5(0) win 1\n", 1, 7, "inconsistent sequence numbers"),
        ("0 < Q 0:0(0)\n", 1, 5, "unknown TCP flag"),
        ("\n\n  0 > S 0:0 win 1\n", 3, 13, "expected '('"),
        ("0 close(3 = 0\n", 1, 11, "expected ',' or ')'"),
        ("0 `unterminated\n", 1, 3, "unterminated back-quoted"),
        ("* close(3) = 0\n", 1, 1, "only be used with outbound packets"),
        ("0 < S 0:0(0) <...>\n", 1, 14, "only be used with outbound"),
        ("#ifdef STANDARD\n0 `a`\n", 1, 1, "#ifdef without #endif"),
        ("0 `a`\n#if 1\n", 2, 1, "unknown directive"),
        ("0 < S 0:0(0) win 70000\n", 1, 18, "out of range"),
        ("0 close(3) = 0\n--late=1\n", 2, 1, "options must come before"),
        ("0.2~0.1 > S 0:0(0)\n", 1, 1, "backwards"),
    ],
)
def test_errors_name_file_line_and_column(text: str, line: int, column: int, fragment: str) -> None:
    with pytest.raises(ScriptSyntaxError) as info:
        parse_script(text, "dir/bad.pkt")
    err = info.value
    assert (err.path, err.line, err.column) == ("dir/bad.pkt", line, column)
    assert fragment in err.message
    assert str(err).startswith(f"dir/bad.pkt:{line}:{column}: ")


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ScriptSyntaxError, match="cannot read"):
        parse_file(tmp_path / "missing.pkt")


@pytest.mark.skipif(not SUITE.is_dir(), reason="shared suite not present")
def test_every_suite_script_parses() -> None:
    scripts = sorted(SUITE.rglob("*.pkt"))
    assert len(scripts) > 500
    for path in scripts:
        script = parse_file(path)
        assert script.options["ip_version"] in ("ipv4", "ipv6")
        assert script.events


def test_other_protocols_are_refused_clearly() -> None:
    with pytest.raises(ScriptSyntaxError, match="icmp packets are not supported") as info:
        parse_script("0 < icmp unreachable frag_needed mtu 1200 [1:1461(1460)]\n", "x.pkt")
    assert (info.value.line, info.value.column) == (1, 5)
