"""Back-quoted shell lines and `%{ }%` blocks: configuration and state queries.

- `sysctl -w NAME=VALUE`: FreeBSD tunables mapped onto `TcpConfig` (RFC 5961 on/off, SYN-FIN
  dropping, initial RTO, buffer sizes, options, ECN, missing timestamps); tunables synack cannot
  change are accepted only at the value that matches its fixed behaviour (see the profile).
- `sockstat ... | grep -c STATE | grep N`: the number of TCBs in a state.
- `tcpdrop -s STATE`: abort every TCB in a state.
- `%{ assert tcpi_state == TCPI_X }%`, `tcpi_options`: state of the last socket used.
Anything else fails the script.
"""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING

from synack.conformance.errors import ScriptFailure, Unsupported
from synack.tcp.state import State

if TYPE_CHECKING:
    from synack.conformance.runner import Runner

# FreeBSD / sockstat spellings of the states.
_STATE_NAMES = {
    "CLOSED": State.CLOSED,
    "LISTEN": State.LISTEN,
    "SYN_SENT": State.SYN_SENT,
    "SYN_RCVD": State.SYN_RECEIVED,
    "SYN_RECEIVED": State.SYN_RECEIVED,
    "ESTABLISHED": State.ESTABLISHED,
    "CLOSE_WAIT": State.CLOSE_WAIT,
    "FIN_WAIT_1": State.FIN_WAIT_1,
    "CLOSING": State.CLOSING,
    "LAST_ACK": State.LAST_ACK,
    "FIN_WAIT_2": State.FIN_WAIT_2,
    "TIME_WAIT": State.TIME_WAIT,
}
_TCPI_STATES = {f"TCPI_{s.name}": s for s in State}
# FreeBSD TCP_INFO tcpi_options bits.
TCPI_OPT_TIMESTAMPS, TCPI_OPT_SACK, TCPI_OPT_WSCALE = 0x01, 0x02, 0x04


def run_command(runner: Runner, command: str) -> None:
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise Unsupported(f"cannot split command `{command}`: {exc}") from exc
    if not words:
        raise Unsupported("empty command")
    if words[0] == "sysctl":
        _sysctl(runner, words[1:])
    elif words[0] == "sockstat":
        _sockstat(runner, command)
    elif words[0] == "tcpdrop":
        _tcpdrop(runner, words[1:])
    else:
        raise Unsupported(f"command `{command}` is not supported")


# --- sysctl -------------------------------------------------------------------------------


def _sysctl(runner: Runner, args: list[str]) -> None:
    settings = [a for a in args if a != "-w"]
    if not settings or any("=" not in s for s in settings) or args[0] != "-w":
        raise Unsupported(f"only `sysctl -w NAME=VALUE` is supported, got {' '.join(args)}")
    for setting in settings:
        name, _, text = setting.partition("=")
        try:
            value = int(text)
        except ValueError as exc:
            raise Unsupported(f"sysctl {name}: value {text!r} is not a number") from exc
        set_sysctl(runner, name, value)


def set_sysctl(runner: Runner, name: str, value: int) -> None:
    cfg = runner.config
    profile = runner.profile
    runner.sysctls[name] = value
    if name == "net.inet.tcp.insecure_rst":
        cfg.rfc5961_rst = not value  # RFC 5961 §3 (secure) or RFC 793 (insecure)
    elif name == "net.inet.tcp.insecure_syn":
        cfg.rfc5961_syn = not value  # RFC 5961 §4 (secure) or RFC 793 (insecure)
    elif name == "net.inet.tcp.drop_synfin":
        cfg.drop_synfin = bool(value)
    elif name == "net.inet.tcp.rexmit_initial":
        cfg.rto_initial = value / 1000.0  # milliseconds; RFC 6298 §2.1 initial RTO
    elif name == "net.inet.tcp.rexmit_min":
        cfg.rto_min = value / 1000.0
    elif name == "net.inet.tcp.keepinit":
        cfg.syn_timeout = value / 1000.0 if value else None  # FreeBSD connection-setup timer, ms
    elif name == "net.inet.tcp.rexmit_drop_options":
        # FreeBSD: from the third SYN retransmission on, the SYN carries the MSS option only.
        cfg.syn_drop_options_after = 2 if value else None
    elif name == "net.inet.tcp.recvspace":
        cfg.rcv_buf = value
    elif name == "net.inet.tcp.sendspace":
        cfg.snd_buf = value
    elif name == "net.inet.tcp.sack.enable":
        cfg.sack = bool(value)
    elif name == "net.inet.tcp.rfc1323":
        # FreeBSD: 1 = window scaling and timestamps, 2 = window scaling only, 3 = timestamps only.
        runner.rfc1323 = value in (1, 2)
        cfg.timestamps = value in (1, 3)
        runner.apply_window_scale()
    elif name == "net.inet.tcp.ecn.enable":
        if value not in (0, 1, 2):
            raise Unsupported(f"sysctl {name}={value}: 0, 1 or 2 expected")
        cfg.ecn = value  # RFC 3168: 0 off, 1 request and accept, 2 accept only
    elif name == "net.inet.tcp.ecn.maxretries":
        cfg.ecn_syn_retries = value  # SYN retransmissions still requesting ECN
    elif name == "net.inet.tcp.tolerate_missing_ts":
        cfg.drop_missing_timestamps = not value  # RFC 7323 §3.2
    elif name == "kern.ipc.maxsockbuf":
        runner.maxsockbuf = value
        runner.apply_window_scale()
    elif name in profile.fixed_sysctls:
        allowed = profile.fixed_sysctls[name]
        if value not in allowed:
            shown = " or ".join(str(v) for v in sorted(allowed))
            raise Unsupported(
                f"sysctl {name}={value} is not supported (synack behaves as {name}={shown})"
            )
    elif name in profile.inert_sysctls:
        pass
    else:
        raise Unsupported(f"sysctl {name} is not supported")


# --- sockstat / tcpdrop -------------------------------------------------------------------


def _tcbs(runner: Runner, port: int | None) -> list[State]:
    """The state of every TCB, as `sockstat -s` lists them: sockets (a listener; a socket whose
    connection is gone shows CLOSED) and TCBs no socket holds (listen queue, orphans, TIME-WAIT)."""
    stack = runner.started_stack
    states: list[State] = []
    held: set[int] = set()
    held_time_wait = 0
    for sock in runner.sockets.sockets.values():
        state = runner.sockets.state_of(sock)
        if sock.conn is not None:
            held.add(id(sock.conn))
            held_time_wait += state is State.TIME_WAIT
            ports: tuple[int, ...] = (sock.conn.local[1], sock.conn.remote[1])
        else:
            ports = (sock.port or 0,)
        if port is None or port in ports:
            states.append(state)
    if stack is not None:
        for conn in stack.connections():
            if id(conn) in held:
                continue
            if port is None or port in (conn.local[1], conn.remote[1]):
                states.append(conn.state)
        # TIME-WAIT records of closed sockets (their ports are not listed by the host).
        states.extend([State.TIME_WAIT] * (stack.time_wait_count() - held_time_wait))
    return states


def _sockstat(runner: Runner, command: str) -> None:
    stages = [shlex.split(s) for s in command.split("|")]
    first = stages[0]
    port: int | None = None
    i = 1
    while i < len(first):
        arg = first[i]
        if arg == "-p":
            i += 1
            try:
                port = int(first[i])
            except (IndexError, ValueError) as exc:
                raise Unsupported(f"sockstat -p needs a port: `{command}`") from exc
        elif arg == "-P":
            i += 1
            if i >= len(first) or first[i] != "tcp":
                raise Unsupported(f"sockstat -P supports tcp only: `{command}`")
        elif arg not in ("-4", "-6", "-s", "-N", "-c", "-l", "-n"):
            raise Unsupported(f"sockstat option {arg} is not supported: `{command}`")
        i += 1
    lines = [s.name.replace("SYN_RECEIVED", "SYN_RCVD") for s in _tcbs(runner, port)]
    count: int | None = None
    for stage in stages[1:]:
        if not stage or stage[0] != "grep":
            raise Unsupported(f"only grep may follow sockstat: `{command}`")
        if stage[1:2] == ["-c"] and len(stage) == 3:
            if stage[2] not in _STATE_NAMES:
                raise Unsupported(f"unknown state {stage[2]} in `{command}`")
            count = sum(1 for line in lines if stage[2] in line)
            lines = [str(count)]
        elif len(stage) == 2 and stage[1] == "packetdril":
            continue  # every TCB belongs to the script
        elif len(stage) == 2 and count is not None:
            if stage[1] != str(count):
                state = stages[-2][2] if len(stages) > 2 else "?"
                raise ScriptFailure(
                    f"`{command}`: {count} TCB(s) in {state}, expected {stage[1]}"
                    + _listing(runner, port)
                )
        else:
            raise Unsupported(f"grep stage {' '.join(stage)} is not supported: `{command}`")
    if count is None:
        raise Unsupported(f"sockstat without `grep -c STATE | grep N` asserts nothing: `{command}`")


def _listing(runner: Runner, port: int | None) -> str:
    states = _tcbs(runner, port)
    return " (states: " + (", ".join(s.name for s in states) or "none") + ")"


def _tcpdrop(runner: Runner, args: list[str]) -> None:
    if len(args) != 2 or args[0] != "-s" or args[1] != "TIME_WAIT":
        raise Unsupported(f"only `tcpdrop -s TIME_WAIT` is supported, got {' '.join(args)}")
    runner.stack.drop_time_wait(runner.now)


# --- %{ }% blocks -------------------------------------------------------------------------

_ASSERT = re.compile(r"^assert\s+(tcpi_\w+)\s*(==|!=)\s*(\w+)$")


def run_code(runner: Runner, code: str) -> None:
    for raw in code.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _ASSERT.match(line)
        if m is None:
            raise Unsupported(f"only `assert tcpi_NAME == VALUE` is supported in %{{ }}%: {line}")
        name, op, value = m.groups()
        actual, expected = _tcpi(runner, name, value)
        ok = (actual == expected) if op == "==" else (actual != expected)
        if not ok:
            raise ScriptFailure(f"{line}: {name} is {_show(actual)}")


def _show(value: State | int) -> str:
    return f"TCPI_{value.name}" if isinstance(value, State) else str(value)


def _tcpi(runner: Runner, name: str, value: str) -> tuple[State | int, State | int]:
    fd = runner.sockets.last_fd
    sock = runner.sockets.sockets.get(fd) if fd is not None else None
    if sock is None:
        raise ScriptFailure(f"{name}: no socket has been used yet")
    if name == "tcpi_state":
        if value not in _TCPI_STATES:
            raise Unsupported(f"unknown state {value}")
        return runner.sockets.state_of(sock), _TCPI_STATES[value]
    if name == "tcpi_options":
        conn = sock.conn
        options = 0
        if conn is not None:
            if conn.ts_ok:
                options |= TCPI_OPT_TIMESTAMPS
            if conn.sack_ok:
                options |= TCPI_OPT_SACK
            if conn.rcv_wscale > 0 or conn.snd_wscale > 0:
                options |= TCPI_OPT_WSCALE
        try:
            return options, int(value, 0)
        except ValueError as exc:
            raise Unsupported(f"tcpi_options compares with a number, got {value}") from exc
    conn = sock.conn
    numbers = {
        "tcpi_snd_mss": lambda c: c.smss,
        "tcpi_rcv_mss": lambda c: c.peer_mss,
        "tcpi_snd_wscale": lambda c: max(c.snd_wscale, 0),
        "tcpi_rcv_wscale": lambda c: c.rcv_wscale,
    }
    if name in numbers:
        if conn is None:
            raise ScriptFailure(f"{name}: the socket has no connection")
        try:
            return int(numbers[name](conn)), int(value, 0)
        except ValueError as exc:
            raise Unsupported(f"{name} compares with a number, got {value}") from exc
    raise Unsupported(
        f"{name} is not supported (tcpi_state, tcpi_options, tcpi_snd_mss, tcpi_rcv_mss, "
        "tcpi_snd_wscale, tcpi_rcv_wscale)"
    )
