"""The script runner on its own: passing scripts, readable failures, configuration, the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from synack.cli.run import command
from synack.conformance.parser import parse_script
from synack.conformance.profile import FREEBSD, PROFILES
from synack.conformance.runner import ScriptResult, run_script

HEAD = "--tolerance_usecs=10000\n"
ACTIVE_OPEN = """
 0.000 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.000 fcntl(3, F_GETFL) = 0x02 (flags O_RDWR)
+0.000 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0.000 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0.000 > S 0:0(0) <...>
+0.100 < S. 0:0(0) ack 1 win 32767 <mss 1460,sackOK,eol,eol>
+0.000 > . 1:1(0) ack 1
"""
PASSIVE_OPEN = """
 0.000 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.000 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0.000 bind(3, ..., ...) = 0
+0.000 listen(3, 1) = 0
+0.000 < S 0:0(0) win 32767 <mss 1460>
+0.000 > S. 0:0(0) ack 1 <mss 1460>
+0.100 < . 1:1(0) ack 1 win 32767
+0.000 accept(3, ..., ...) = 4
"""


def run(text: str, profile: str = "freebsd") -> ScriptResult:
    return run_script(parse_script(text, "t.pkt"), PROFILES[profile])


def test_active_open_and_close_passes() -> None:
    result = run(HEAD + ACTIVE_OPEN + """
+0.000 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0
+0.000 %{ assert tcpi_state == TCPI_ESTABLISHED }%
+0.100 shutdown(3, SHUT_WR) = 0
+0.000 > F. 1:1(0) ack 1
+0.100 < F. 1:1(0) ack 2 win 32767
+0.000 > . 2:2(0) ack 2
+0.000 %{ assert tcpi_state == TCPI_TIME_WAIT }%
+0.000 close(3) = 0
""")
    assert result.passed, result.reason


def test_passive_open_data_and_read() -> None:
    result = run(HEAD + PASSIVE_OPEN + """
+0.000 < P. 1:11(10) ack 1 win 32767
+0.000 > . 1:1(0) ack 11
+0.000 read(4, ..., 100) = 10
+0.000 fcntl(4, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0.000 read(4, ..., 100) = -1 EWOULDBLOCK (Operation would block)
+0.000 write(4, ..., 5) = 5
+0.000 > P. 1:6(5) ack 11
+0.050 < . 11:11(0) ack 6 win 32767
+0.000 `sockstat -4 -P tcp -p 8080 -s | grep -c ESTABLISHED | grep 1`
""")
    assert result.passed, result.reason


def test_mismatch_shows_expected_line_actual_segment_and_time() -> None:
    result = run(HEAD + ACTIVE_OPEN + "+0.100 close(3) = 0\n+0.000 > R. 1:1(0) ack 1\n")
    assert not result.passed
    assert result.line == 11
    lines = result.reason.splitlines()
    assert lines[0] == "line 11: segment mismatch"
    assert lines[1].strip() == "expected: +0.000 > R. 1:1(0) ack 1"
    actual = lines[2].strip()
    assert actual.startswith("actual:   IP 192.168.0.1.")
    assert "> 192.0.2.1.8080: Flags [F.], seq 1, ack 1, win " in actual
    assert actual.endswith("length 0 (at 0.200 s)")
    assert lines[3].strip() == "differs:  flags F. != R."


def test_segment_sent_too_early_or_too_late() -> None:
    result = run(HEAD + ACTIVE_OPEN + "+0.000 close(3) = 0\n+0.050 > F. 1:1(0) ack 1\n")
    assert not result.passed
    assert "sent at 0.100 s, expected 0.150 s ±10 ms" in result.reason


def test_missing_segment() -> None:
    result = run(HEAD + ACTIVE_OPEN + "+0.100 > F. 1:1(0) ack 1\n")
    assert not result.passed
    assert result.reason == (
        "line 10: expected > F. 1:1(0) ack 1 at 0.200 s ±10 ms, but nothing was sent by 0.210 s"
    )


def test_unexpected_segment_between_events() -> None:
    result = run(HEAD + ACTIVE_OPEN + "+0.000 < P. 1:11(10) ack 1 win 32767\n"
                 "+1.000 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0\n")
    assert not result.passed
    assert result.line == 11
    assert "unexpected segment at 0.1" in result.reason
    assert "Flags [.]" in result.reason and "ack 11" in result.reason


def test_trailing_segments_are_checked_by_the_strict_profile_only() -> None:
    text = HEAD + ACTIVE_OPEN + "+0.100 close(3) = 0\n"
    assert run(text).passed
    strict = run(text, "strict")
    assert not strict.passed
    assert "unexpected segment" in strict.reason and "Flags [F.]" in strict.reason


def test_options_layout_relaxed_by_freebsd_profile_only() -> None:
    text = HEAD + """
 0.000 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.000 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0.000 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0.000 > S 0:0(0) <mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0>
"""
    assert run(text).passed
    strict = run(text, "strict")
    assert not strict.passed
    assert "options <mss 1460,sackOK,TS val" in strict.reason


def test_wrong_option_value_fails_even_when_relaxed() -> None:
    text = HEAD + """
 0.000 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.000 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0.000 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0.000 > S 0:0(0) <mss 1400,nop,wscale 6,sackOK,TS val 100 ecr 0>
"""
    result = run(text)
    assert not result.passed
    assert "!= <mss 1400,nop,wscale 6,sackOK,TS val 100 ecr 0>" in result.reason


@pytest.mark.parametrize(("insecure", "expect"), [(0, "challenge"), (1, "reset")])
def test_rst_in_window_secure_and_insecure(insecure: int, expect: str) -> None:
    tail = (
        "+0.000 > . 1:1(0) ack 1\n+0.000 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0\n"
        if expect == "challenge"
        else "+0.000 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNRESET], [4]) = 0\n"
    )
    text = (
        HEAD + f" 0.000 `sysctl -w net.inet.tcp.insecure_rst={insecure}`\n" + ACTIVE_OPEN
        + "+0.100 < R 100:100(0) win 32767\n" + tail
    )
    result = run(text)
    assert result.passed, result.reason


def test_sockstat_counts_states() -> None:
    text = HEAD + PASSIVE_OPEN.split("+0.100 <")[0] + (
        "+0.000 `sockstat -4 -P tcp -p 8080 -s | grep -c SYN_RCVD | grep 1`\n"
        "+0.000 `sockstat -4 -P tcp -p 8080 -s | grep -c LISTEN | grep 2`\n"
    )
    result = run(text)
    assert not result.passed
    assert "1 TCB(s) in LISTEN, expected 2 (states: LISTEN, SYN_RECEIVED)" in result.reason


def test_blocking_connect_returns_at_its_end_time() -> None:
    text = HEAD + """
 0.000 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
 0.000...0.100 connect(3, ..., ...) = 0
+0.000 > S 0:0(0) <...>
+0.100 < S. 0:0(0) ack 1 win 32767 <mss 1460>
+0.000 > . 1:1(0) ack 1
+0.100 close(3) = 0
"""
    assert run(text).passed
    late = run(text.replace("0.000...0.100", "0.000...0.300"))
    assert not late.passed
    assert "connect() returned at 0.100 s, expected at 0.300 s" in late.reason


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("+0 `sysctl -w net.inet.tcp.no_such_knob=1`", "sysctl net.inet.tcp.no_such_knob is not"),
        ("+0 `sysctl -w net.inet.tcp.blackhole=2`", "net.inet.tcp.blackhole=2 is not supported"),
        ("+0 `ifconfig lo0 mtu 1500`", "command `ifconfig lo0 mtu 1500` is not supported"),
        ("+0 poll(3, 1, 0) = 0", "system call poll() is not supported"),
        ("+0 %{ print(tcpi_rtt) }%", "only `assert tcpi_NAME == VALUE`"),
        ("+0 setsockopt(3, IPPROTO_TCP, TCP_MAXSEG, [1], 4) = 0", "TCP_MAXSEG is not supported"),
        ("+0 `sysctl -w net.inet.tcp.ecn.enable=3`", "net.inet.tcp.ecn.enable=3: 0, 1 or 2"),
    ],
)
def test_unknown_things_fail_with_a_clear_message(line: str, message: str) -> None:
    result = run(HEAD + " 0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n" + line + "\n")
    assert not result.passed
    assert message in result.reason
    assert result.reason.startswith("line 3: ")


def test_sysctls_configure_the_stack() -> None:
    # rfc1323=0 and sack.enable=0: the SYN carries the MSS alone (RFC 9293 §3.7.1).
    text = HEAD + """
 0.000 `sysctl -w net.inet.tcp.rfc1323=0`
+0.000 `sysctl -w net.inet.tcp.sack.enable=0`
+0.000 `sysctl -w net.inet.tcp.rexmit_initial=500`
+0.000 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.000 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0.000 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0.000 > S 0:0(0) <mss 1460>
+0.500 > S 0:0(0) <mss 1460>
"""
    result = run(text)
    assert result.passed, result.reason


def test_mtu_sets_the_mss_per_address_family() -> None:
    text = "--ip_version=ipv6\n--mtu=9000\n" + """
 0.000 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.000 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0.000 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0.000 > S 0:0(0) <mss 8940,nop,wscale 6,sackOK,TS val 100 ecr 0>
"""
    result = run(text)
    assert result.passed, result.reason


def test_profile_lists_its_relaxations() -> None:
    lines = FREEBSD.relaxations()
    assert any("window values not compared" in line for line in lines)
    assert any("order and nop/eol padding ignored" in line for line in lines)
    assert any("SO_RCVBUF" in line for line in lines)
    assert len(PROFILES["strict"].relaxations()) < len(lines)


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def test_cli_prints_pass_fail_and_summary(tmp_path: Path) -> None:
    _write(tmp_path, "a-good.pkt", HEAD + ACTIVE_OPEN)
    _write(tmp_path, "b-bad.pkt", HEAD + ACTIVE_OPEN + "+0.100 > R. 1:1(0) ack 1\n")
    _write(tmp_path, "c-syntax.pkt", "0 < S 0:0(0) win 1 <mss 1460,bogus>\n")
    result = CliRunner().invoke(command, [str(tmp_path)])
    assert result.exit_code == 1
    out = result.output.splitlines()
    assert out[0] == "profile freebsd: relaxations in force:"
    assert "PASS a-good.pkt" in out
    assert any(line.startswith("FAIL b-bad.pkt: line 10: expected > R. 1:1(0) ack 1")
               for line in out)
    assert any(line.startswith("FAIL c-syntax.pkt: syntax error: ") and ":1:30: unknown TCP "
               "option 'bogus'" in line for line in out)
    assert out[-1] == "1 passed, 2 failed"


def test_cli_exit_status_zero_when_all_pass(tmp_path: Path) -> None:
    path = _write(tmp_path, "ok.pkt", HEAD + PASSIVE_OPEN)
    result = CliRunner().invoke(command, ["-q", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "1 passed, 0 failed"
    assert "PASS" not in result.output


def test_any_time_and_ranges_for_retransmissions() -> None:
    text = HEAD + """
 0.000 `sysctl -w net.inet.tcp.rexmit_initial=1000`
+0.000 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.000 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0.000 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0.000 > S 0:0(0) <...>
*      > S 0:0(0) <...>
+1.5~+2.5 > S 0:0(0) <...>
+0.000 close(3) = 0
"""
    result = run(text)
    assert result.passed, result.reason
    early = run(text.replace("+1.5~+2.5", "+2.5~+3.5"))
    assert not early.passed
    assert "sent at 3.000 s, expected 3.500..4.500 s" in early.reason


def test_window_edges_translated_to_synacks_window() -> None:
    # FreeBSD's RCV.WND here is its rounded buffer (65700): SEG.SEQ=RCV.NXT+RCV.WND-1 is in the
    # window, so an RFC 793 stack resets; the runner moves it to synack's right edge.
    text = HEAD + " 0.000 `sysctl -w net.inet.tcp.insecure_rst=1`\n" + ACTIVE_OPEN + """
+0.000 getsockopt(3, SOL_SOCKET, SO_RCVBUF, [65700], [4]) = 0
+0.100 < R 65700:65700(0) win 32767
+0.000 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNRESET], [4]) = 0
"""
    assert run(text).passed
    outside = text.replace("65700:65700", "65701:65701").replace("[ECONNRESET]", "[0]")
    assert run(outside).passed
    assert not run(text, "strict").passed


def test_freebsd_fin_repeated_on_ack_in_closing() -> None:
    text = HEAD + ACTIVE_OPEN + """
+0.100 shutdown(3, SHUT_WR) = 0
+0.000 > F. 1:1(0) ack 1
+0.100 < F. 1:1(0) ack 1 win 32767
+0.000 > F. 1:1(0) ack 2
+0.000 %{ assert tcpi_state == TCPI_CLOSING }%
"""
    assert run(text).passed
    strict = run(text, "strict")
    assert not strict.passed
    assert "differs:  flags . != F.; seq 2 != 1" in strict.reason


def test_blocking_accept_waits_for_the_handshake() -> None:
    text = HEAD + """
 0.000 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.000 setsockopt(3, SOL_SOCKET, SO_RCVBUF, [32768], 4) = 0
+0.000 bind(3, ..., ...) = 0
+0.000 listen(3, 1) = 0
+0.000 < S 0:0(0) win 32767 <mss 1460>
+0.000 > S. 0:0(0) ack 1 <mss 1460>
 0.000...0.100 accept(3, ..., ...) = 4
+0.100 < . 1:1(0) ack 1 win 32767
+0.000 getsockopt(4, SOL_SOCKET, SO_RCVBUF, [33580], [4]) = 0
"""
    result = run(text)
    assert result.passed, result.reason
    never = run(text.split("+0.100 <")[0] + "+0.200 close(3) = 0\n")
    assert not never.passed
    assert "accept() did not return by 0.110 s" in never.reason


def test_blocking_read_end_times_count_from_the_previous_event() -> None:
    # packetdrill: in `+0.2...0.300 read`, the start is 0.2 and the end 0.3 after the previous
    # event; `+0...0.000` must return at once.
    text = HEAD + PASSIVE_OPEN + """
+0.200...0.300 read(4, ..., 500) = 500
+0.100 < P. 1:501(500) ack 1 win 32767
+0.000 > . 1:1(0) ack 501
+0.000 < P. 501:601(100) ack 1 win 32767
+0.000 > . 1:1(0) ack 601
+0.000...0.000 read(4, ..., 100) = 100
"""
    result = run(text)
    assert result.passed, result.reason


def test_linux_profile_window_scale_and_nonblock_flag() -> None:
    text = HEAD + """
 0.000 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.000 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0.000 fcntl(3, F_GETFL) = 0x802 (flags O_RDWR|O_NONBLOCK)
+0.000 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0.000 > S 0:0(0) <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 8>
"""
    assert run(text, "linux").passed
    freebsd = run(text, "freebsd")
    assert not freebsd.passed
    assert "fcntl() returned 6, expected 2050" in freebsd.reason


def test_keepinit_and_drop_options_map_to_the_syn_timers() -> None:
    # SYNs at 0, 0.5, 1.5 and 3.5 s (the third retransmission without options), ETIMEDOUT at 4 s.
    setup = (
        " 0.000 `sysctl -w net.inet.tcp.rexmit_initial=500`\n"
        "+0.000 `sysctl -w net.inet.tcp.rexmit_drop_options=1`\n"
        "+0.000 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
    )
    flow = """
 0.000...4.000 connect(3, ..., ...) = -1 ETIMEDOUT (Operation timed out)
+0.000 > S 0:0(0) <mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0>
+0.500 > S 0:0(0) <mss 1460,nop,wscale 6,sackOK,TS val 600 ecr 0>
+1.000 > S 0:0(0) <mss 1460,nop,wscale 6,sackOK,TS val 1600 ecr 0>
*      > S 0:0(0) <mss 1460>
 4.500 close(3) = 0
"""
    by_sysctl = HEAD + setup + "+0.000 `sysctl -w net.inet.tcp.keepinit=4000`\n" + flow
    result = run(by_sysctl)
    assert result.passed, result.reason
    by_option = HEAD + setup + "+0.000 setsockopt(3, IPPROTO_TCP, TCP_KEEPINIT, [4], 4) = 0\n"
    result = run(by_option + flow)
    assert result.passed, result.reason


def test_tcpdrop_time_wait() -> None:
    from synack.host import Host

    text = HEAD + ACTIVE_OPEN + """
+0.100 shutdown(3, SHUT_WR) = 0
+0.000 > F. 1:1(0) ack 1
+0.100 < F. 1:1(0) ack 2 win 32767
+0.000 > . 2:2(0) ack 2
+0.000 `sockstat -4 -P tcp -s | grep packetdril | grep -c TIME_WAIT | grep 1`
+0.000 `tcpdrop -s TIME_WAIT`
+0.000 `sockstat -4 -P tcp -s | grep packetdril | grep -c TIME_WAIT | grep 0`
"""
    result = run(text)
    if hasattr(Host, "drop_time_wait"):
        assert result.passed, result.reason
    else:
        assert result.reason == (
            "line 16: tcpdrop: the host offers no way to delete TIME-WAIT TCBs"
        )


def test_ecn_setup_ect0_marking_and_ce_echo() -> None:
    result = run(HEAD + """
 0.000 `sysctl -w net.inet.tcp.ecn.enable=1`
+0.000 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.000 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0.000 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0.000 > SEW 0:0(0) <...>
+0.100 < SE. 0:0(0) ack 1 win 32767 <mss 1460>
+0.000 > . 1:1(0) ack 1
+0.000 write(3, ..., 10) = 10
+0.000 >[ect0] P. 1:11(10) ack 1
+0.000 <[ce] P. 1:11(10) ack 11 win 32767
+0.000 >[noecn] E. 11:11(0) ack 11
+0.010 <[ect0] PW. 11:21(10) ack 11 win 32767
+0.000 >[noecn] . 11:11(0) ack 21
+0.000 write(3, ..., 5) = 5
+0.000 >[ect0] P. 11:16(5) ack 21
+0.000 close(3) = 0
""")
    assert result.passed, result.reason


def test_ecn_marking_is_checked() -> None:
    result = run(HEAD + """
 0.000 `sysctl -w net.inet.tcp.ecn.enable=2`
+0.000 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.000 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0.000 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0.000 > S 0:0(0) <...>
+0.100 < S. 0:0(0) ack 1 win 32767 <mss 1460>
+0.000 > . 1:1(0) ack 1
+0.000 write(3, ..., 10) = 10
+0.000 >[ect0] P. 1:11(10) ack 1
""")
    assert not result.passed
    assert "IP ECN codepoint 0 != [ect0]" in result.reason


def test_socket_options_stay_with_their_socket() -> None:
    # TCP_NOOPT on the listener: its connection negotiates nothing; a later socket still
    # offers every option (the host's settings are untouched).
    result = run(HEAD + """
 0.000 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.000 setsockopt(3, IPPROTO_TCP, TCP_NOOPT, [1], 4) = 0
+0.000 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0.000 bind(3, ..., ...) = 0
+0.000 listen(3, 1) = 0
+0.000 < S 0:0(0) win 32767 <mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7>
+0.000 > S. 0:0(0) ack 1
+0.100 < . 1:1(0) ack 1 win 32767
+0.000 accept(3, ..., ...) = 4
+0.000 %{ assert tcpi_options == 0 }%
+0.000 close(4) = 0
+0.000 > F. 1:1(0) ack 1
+0.000 close(3) = 0
+0.000 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.000 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0.000 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0.000 > S 0:0(0) <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 6>
""")
    assert result.passed, result.reason


@pytest.mark.parametrize("profile", ["freebsd", "linux"])
def test_nagle_holds_a_short_write_until_the_ack_and_tcp_nodelay_turns_it_off(
    profile: str,
) -> None:
    result = run(HEAD + PASSIVE_OPEN + """
+0.000 getsockopt(4, IPPROTO_TCP, TCP_NODELAY, [0], [4]) = 0
+0.000 write(4, ..., 100) = 100
+0.000 > P. 1:101(100) ack 1
+0.000 write(4, ..., 100) = 100
+0.010 < . 1:1(0) ack 101 win 32767
+0.000 > P. 101:201(100) ack 1
+0.000 setsockopt(4, IPPROTO_TCP, TCP_NODELAY, [1], 4) = 0
+0.000 getsockopt(4, IPPROTO_TCP, TCP_NODELAY, [1], [4]) = 0
+0.000 write(4, ..., 100) = 100
+0.000 > P. 201:301(100) ack 1
+0.000 write(4, ..., 100) = 100
+0.000 > P. 301:401(100) ack 1
""", profile)
    assert result.passed, result.reason
    held = run(HEAD + PASSIVE_OPEN + """
+0.000 write(4, ..., 100) = 100
+0.000 > P. 1:101(100) ack 1
+0.000 write(4, ..., 100) = 100
+0.000 > P. 101:201(100) ack 1
""", profile)
    assert not held.passed and "101:201" in held.reason


def test_keepalive_probes_as_packetdrill_scripts_them() -> None:
    result = run(HEAD + PASSIVE_OPEN + """
+0.000 setsockopt(4, SOL_SOCKET, SO_KEEPALIVE, [1], 4) = 0
+0.000 setsockopt(4, IPPROTO_TCP, TCP_KEEPIDLE, [10], 4) = 0
+0.000 setsockopt(4, IPPROTO_TCP, TCP_KEEPINTVL, [5], 4) = 0
+0.000 setsockopt(4, IPPROTO_TCP, TCP_KEEPCNT, [2], 4) = 0
+10.000 > . 0:0(0) ack 1
+0.000 < . 1:1(0) ack 1 win 32767
+10.000 > . 0:0(0) ack 1
+5.000 > . 0:0(0) ack 1
+5.000 > R. 1:1(0) ack 1
""", "linux")
    assert result.passed, result.reason
