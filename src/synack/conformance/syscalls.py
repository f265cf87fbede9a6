"""System calls of a script mapped onto synack's user interface (RFC 9293 §3.9.1).

socket/bind/listen/accept/connect/read/write/send/recv/shutdown/close, fcntl O_NONBLOCK,
getsockopt SO_ERROR / SO_RCVBUF / SO_SNDBUF / TCP_NODELAY, setsockopt SO_REUSEADDR / SO_LINGER /
SO_RCVBUF / SO_SNDBUF / SO_KEEPALIVE / TCP_KEEPINIT / TCP_KEEPIDLE / TCP_KEEPINTVL / TCP_KEEPCNT /
TCP_NOOPT / TCP_NODELAY. A file descriptor table stands in for the kernel's; socket options
configure that socket's connections only (a copy of the host settings).
Results and errno names are compared with what the script expects.
"""

from __future__ import annotations

import errno as errno_module
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from synack.conformance.ast import (
    Binary,
    Call,
    Ellipsis_,
    Event,
    Expr,
    Int,
    ListExpr,
    SyscallSpec,
    TimeKind,
    Word,
)
from synack.conformance.errors import ScriptFailure, Unsupported
from synack.tcp.config import TcpConfig
from synack.tcp.connection import Connection
from synack.tcp.state import State

if TYPE_CHECKING:
    from synack.conformance.runner import Blocked, Runner

# Errno names that mean the same thing.
_ALIASES = {"EWOULDBLOCK": "EAGAIN"}
# Connection failures as the errno a socket reports (SO_ERROR, read, connect).
_ERRORS: tuple[tuple[type[OSError], str], ...] = (
    (ConnectionRefusedError, "ECONNREFUSED"),
    (ConnectionResetError, "ECONNRESET"),
    (ConnectionAbortedError, "ECONNABORTED"),
    (BrokenPipeError, "EPIPE"),
    (TimeoutError, "ETIMEDOUT"),
)
# Keep-alive socket options (Linux tcp(7), FreeBSD tcp(4)) -> TcpConfig fields.
_KEEPALIVE_OPTIONS = {
    "TCP_KEEPIDLE": "keepalive_idle", "TCP_KEEPINTVL": "keepalive_interval",
    "TCP_KEEPCNT": "keepalive_probes",
}
_SOCKET_OPTIONS = {"SO_REUSEADDR", "SO_LINGER", "SO_ERROR", "SO_RCVBUF", "SO_SNDBUF"}

Result = tuple[int, str | None]  # (return value, errno name or None)


def errno_name(error: OSError) -> str:
    for cls, name in _ERRORS:
        if isinstance(error, cls):
            return name
    if error.errno is not None and error.errno in errno_module.errorcode:
        return errno_module.errorcode[error.errno]
    return "EIO"


def same_errno(a: str, b: str) -> bool:
    return _ALIASES.get(a, a) == _ALIASES.get(b, b)


@dataclass(slots=True)
class Socket:
    fd: int
    nonblocking: bool = False
    reuseaddr: bool = False
    linger_abort: bool = False  # SO_LINGER with l_onoff=1, l_linger=0: close() sends RST
    port: int | None = None  # local port from bind()
    listening: bool = False
    conn: Connection | None = None
    error_reported: bool = False  # SO_ERROR is cleared once read
    shut_write: bool = False
    # setsockopt() settings: TcpConfig fields this socket's connection uses instead of the host's.
    options: dict[str, object] = field(default_factory=dict)

    def pending_error(self) -> str | None:
        if self.conn is None or self.conn.error is None or self.error_reported:
            return None
        return errno_name(self.conn.error)


class SocketTable:
    """The script's file descriptors (0-2 are taken, as in a process)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.sockets: dict[int, Socket] = {}
        self.last_fd: int | None = None
        self.ports: tuple[int, int] | None = None  # the connection the script talks to

    def new(self) -> Socket:
        fd = 3
        while fd in self.sockets:
            fd += 1
        sock = Socket(fd)
        self.sockets[fd] = sock
        return sock

    def get(self, fd: int) -> Socket:
        sock = self.sockets.get(fd)
        if sock is None:
            raise _Errno(-1, "EBADF")
        self.last_fd = fd
        return sock

    def current_ports(self) -> tuple[int, int]:
        if self.ports is not None:
            return self.ports
        from synack.conformance.runner import REMOTE_PORT

        return self.runner.bind_port, REMOTE_PORT

    def state_of(self, sock: Socket) -> State:
        """LISTEN for a listener; the state of its TCB; CLOSED without one."""
        if sock.listening:
            return State.LISTEN
        stack = self.runner.started_stack
        if sock.conn is None or stack is None:
            return State.CLOSED
        return stack.state_of(sock.conn)

    def connection_for(self, local_port: int, remote_port: int) -> Connection | None:
        for sock in self.sockets.values():
            c = sock.conn
            if c is not None and c.local[1] == local_port and c.remote[1] == remote_port:
                return c
        return None


class _Errno(Exception):
    """A system call's failure: `-1` and an errno name."""

    def __init__(self, value: int, name: str) -> None:
        self.value = value
        self.name = name
        super().__init__(name)


class _Block(Exception):
    """The call would block on a blocking socket."""


# --- argument helpers ---------------------------------------------------------------------


def _int(runner: Runner, expr: Expr, what: str) -> int:
    if isinstance(expr, Int):
        return expr.value
    if isinstance(expr, Word):
        value = runner.profile.constants.get(expr.name)
        if value is None:
            value = _SYMBOLS.get(expr.name)
        if value is None:
            raise Unsupported(f"unknown constant {expr.name} for {what}")
        return value
    if isinstance(expr, Binary) and expr.op == "|":
        return _int(runner, expr.left, what) | _int(runner, expr.right, what)
    if isinstance(expr, ListExpr) and len(expr.items) == 1:
        return _int(runner, expr.items[0], what)
    raise Unsupported(f"expected a number for {what}, got {expr}")


def _word(expr: Expr) -> str:
    if isinstance(expr, Word):
        return expr.name
    raise Unsupported(f"expected a symbolic name, got {expr}")


def _fd(runner: Runner, call: SyscallSpec) -> Socket:
    if not call.args:
        raise Unsupported(f"{call.name}() needs a file descriptor")
    return runner.sockets.get(_int(runner, call.args[0], "a file descriptor"))


def _port_of(expr: Expr) -> int | None:
    """sin_port=htons(N) / sin6_port=htons(N) inside a sockaddr structure."""
    if isinstance(expr, ListExpr):
        for item in expr.items:
            if isinstance(item, Binary) and item.op == "=" and isinstance(item.left, Word) and (
                item.left.name in ("sin_port", "sin6_port")
            ):
                value = item.right
                if isinstance(value, Call) and value.name == "htons" and value.args:
                    value = value.args[0]
                if isinstance(value, Int):
                    return value.value
    return None


_SYMBOLS = {
    "AF_INET": 2, "AF_INET6": 28, "PF_INET": 2, "PF_INET6": 28,
    "SOCK_STREAM": 1, "IPPROTO_TCP": 6, "IPPROTO_IP": 0,
    "SHUT_RD": 0, "SHUT_WR": 1, "SHUT_RDWR": 2,
}


# --- dispatch -----------------------------------------------------------------------------


def run_syscall(runner: Runner, event: Event, call: SyscallSpec) -> None:
    handler = _HANDLERS.get(call.name)
    if handler is None:
        raise Unsupported(f"system call {call.name}() is not supported")
    from synack.conformance.runner import Blocked

    try:
        result: Result = handler(runner, call)
    except _Errno as exc:
        result = (exc.value, exc.name)
    except _Block:
        fd = _int(runner, call.args[0], "a file descriptor")
        end = _end_time(runner, call)
        runner.blocked.append(Blocked(event, call, fd, runner.now, end + runner.tolerance))
        return
    end = _end_time(runner, call)
    if runner.now < end - runner.tolerance - 1e-9:
        raise ScriptFailure(
            f"{call.name}() returned at once ({runner.now:.3f} s), expected it to block until "
            f"{end:.3f} s"
        )
    check_result(runner, call, result)


def _end_time(runner: Runner, call: SyscallSpec) -> float:
    """When a call must return: its `...END` time (relative ones count from the same base as
    the call's start, as packetdrill), or at once."""
    if call.end is None:
        return runner.now
    if call.end.kind is TimeKind.ABSOLUTE:
        return call.end.start
    return runner.base_time + call.end.start


def check_result(runner: Runner, call: SyscallSpec, result: Result) -> None:
    value, err = result
    want = call.result
    shown = f"{value}" + (f" {err}" if err else "")
    if isinstance(want, Ellipsis_):
        return
    expected = _int(runner, want, f"the result of {call.name}()")
    want_text = f"{expected}" + (f" {call.errno}" if call.errno else "")
    if value != expected or (call.errno is not None and (err is None or not same_errno(
        err, call.errno
    ))) or (call.errno is None and err is not None and value == -1):
        raise ScriptFailure(f"{call.name}() returned {shown}, expected {want_text}")


def try_complete(runner: Runner, blocked: Blocked) -> bool:
    """Finish a blocked call if the host now lets it return; check its result and time."""
    call = blocked.call
    sock = runner.sockets.sockets.get(blocked.fd)
    if sock is None:
        return False
    result: Result | None = None
    if call.name == "connect":
        conn = sock.conn
        if conn is not None and conn.error is not None:
            sock.error_reported = True
            result = (-1, errno_name(conn.error))
        elif conn is not None and conn.state.synchronized:
            result = (0, None)
    elif call.name == "accept":
        try:
            result = _accept(runner, call)
        except _Block:
            result = None
    elif call.name in ("read", "recv"):
        try:
            result = _read(runner, call)
        except _Block:
            result = None
        except _Errno as exc:
            result = (exc.value, exc.name)
    if result is None:
        return False
    end = blocked.deadline - runner.tolerance
    if runner.now < end - runner.tolerance - 1e-9:
        raise ScriptFailure(
            f"{call.name}() returned at {runner.now:.3f} s, expected at {end:.3f} s "
            f"±{runner.tolerance * 1000:g} ms",
            blocked.event.line,
        )
    try:
        check_result(runner, call, result)
    except ScriptFailure as exc:
        exc.line = blocked.event.line
        raise
    return True


# --- the calls ----------------------------------------------------------------------------


def _socket(runner: Runner, call: SyscallSpec) -> Result:
    if len(call.args) != 3:
        raise Unsupported("socket() takes three arguments")
    kind, proto = call.args[1], call.args[2]
    if not (isinstance(kind, Word) and kind.name == "SOCK_STREAM"):
        raise Unsupported(f"socket type {kind} is not supported (SOCK_STREAM only)")
    if not isinstance(proto, Ellipsis_) and not (
        isinstance(proto, Word) and proto.name == "IPPROTO_TCP"
    ) and not (isinstance(proto, Int) and proto.value in (0, 6)):
        raise Unsupported(f"protocol {proto} is not supported (IPPROTO_TCP only)")
    sock = runner.sockets.new()
    runner.sockets.last_fd = sock.fd
    return sock.fd, None


def _bind(runner: Runner, call: SyscallSpec) -> Result:
    sock = _fd(runner, call)
    port = _port_of(call.args[1]) if len(call.args) > 1 else None
    sock.port = port if port is not None else runner.bind_port
    from synack.conformance.runner import REMOTE_PORT

    runner.sockets.ports = (sock.port, REMOTE_PORT)
    return 0, None


def _listen(runner: Runner, call: SyscallSpec) -> Result:
    sock = _fd(runner, call)
    if sock.conn is not None:
        raise _Errno(-1, "EINVAL")
    if sock.listening:
        return 0, None  # listen() again only changes the backlog
    backlog = _int(runner, call.args[1], "the backlog") if len(call.args) > 1 else 128
    if sock.port is None:
        sock.port = runner.bind_port
    runner.stack.listen(sock.port, max(backlog, 1), _config_of(runner, sock))
    sock.listening = True
    from synack.conformance.runner import REMOTE_PORT

    runner.sockets.ports = (sock.port, REMOTE_PORT)
    return 0, None


def _accept(runner: Runner, call: SyscallSpec) -> Result:
    sock = _fd(runner, call)
    if not sock.listening or sock.port is None:
        raise _Errno(-1, "EINVAL")
    conn = runner.stack.accept(sock.port)
    if conn is None:
        if sock.nonblocking:
            raise _Errno(-1, "EAGAIN")
        raise _Block
    new = runner.sockets.new()
    new.conn = conn
    new.port = sock.port
    runner.sockets.ports = (conn.local[1], conn.remote[1])
    runner.sockets.last_fd = new.fd  # packetdrill: the accepted socket is now under test
    return new.fd, None


def _connect(runner: Runner, call: SyscallSpec) -> Result:
    sock = _fd(runner, call)
    if sock.listening:
        raise _Errno(-1, "EINVAL")
    if sock.conn is not None:
        if sock.conn.state is State.SYN_SENT:
            raise _Errno(-1, "EALREADY")
        raise _Errno(-1, "EISCONN")
    port = _port_of(call.args[1]) if len(call.args) > 1 else None
    conn = runner.stack.connect(
        runner.remote_ip, port if port is not None else runner.connect_port, runner.now, sock.port,
        _config_of(runner, sock),
    )
    sock.conn = conn
    runner.sockets.ports = (conn.local[1], conn.remote[1])
    if sock.nonblocking:
        raise _Errno(-1, "EINPROGRESS")
    raise _Block


def _read(runner: Runner, call: SyscallSpec) -> Result:
    sock = _fd(runner, call)
    count = _int(runner, call.args[2], "the byte count") if len(call.args) > 2 else -1
    conn = sock.conn
    if conn is None:
        raise _Errno(-1, "ENOTCONN")
    try:
        data = conn.receive(count, runner.now)
    except OSError as exc:
        sock.error_reported = True
        raise _Errno(-1, errno_name(exc)) from exc
    if data:
        return len(data), None
    if conn.at_eof or conn.state is State.CLOSED:
        return 0, None
    if sock.nonblocking:
        raise _Errno(-1, "EAGAIN")
    raise _Block


def _write(runner: Runner, call: SyscallSpec) -> Result:
    sock = _fd(runner, call)
    count = _int(runner, call.args[2], "the byte count") if len(call.args) > 2 else 0
    conn = sock.conn
    if conn is None:
        raise _Errno(-1, "ENOTCONN")
    if conn.error is not None and not sock.error_reported:
        sock.error_reported = True
        raise _Errno(-1, errno_name(conn.error))
    try:
        sent = conn.send(bytes(count), runner.now)
    except OSError as exc:
        raise _Errno(-1, errno_name(exc)) from exc
    if sent == 0 and count:
        if sock.nonblocking:
            raise _Errno(-1, "EAGAIN")
        raise Unsupported("a blocking write() that fills the send buffer is not supported")
    return sent, None


def _shutdown(runner: Runner, call: SyscallSpec) -> Result:
    sock = _fd(runner, call)
    how = _int(runner, call.args[1], "how") if len(call.args) > 1 else 1
    if sock.conn is None:
        raise _Errno(-1, "ENOTCONN")
    if how in (1, 2):  # SHUT_WR, SHUT_RDWR: RFC 9293 §3.10.4 CLOSE of the sending side
        sock.conn.shutdown(runner.now)
        sock.shut_write = True
    elif how != 0:
        raise _Errno(-1, "EINVAL")
    return 0, None


def _close(runner: Runner, call: SyscallSpec) -> Result:
    sock = _fd(runner, call)
    if sock.listening and sock.port is not None:
        runner.stack.unlisten(sock.port, runner.now)
    if sock.conn is not None:
        if sock.linger_abort:
            sock.conn.abort(runner.now)  # SO_LINGER 0: RFC 9293 §3.10.5 ABORT
        else:
            sock.conn.close(runner.now)
    del runner.sockets.sockets[sock.fd]
    return 0, None


def _fcntl(runner: Runner, call: SyscallSpec) -> Result:
    sock = _fd(runner, call)
    command = _word(call.args[1]) if len(call.args) > 1 else ""
    consts = runner.profile.constants
    rdwr, nonblock = consts.get("O_RDWR", 2), consts.get("O_NONBLOCK", 4)
    if command == "F_GETFL":
        return rdwr | (nonblock if sock.nonblocking else 0), None
    if command == "F_SETFL":
        flags = _int(runner, call.args[2], "the file flags")
        sock.nonblocking = bool(flags & nonblock)
        return 0, None
    raise Unsupported(f"fcntl {command} is not supported")


def _getsockopt(runner: Runner, call: SyscallSpec) -> Result:
    sock = _fd(runner, call)
    if len(call.args) < 4:
        raise Unsupported("getsockopt() takes five arguments")
    level, name = _word(call.args[1]), _word(call.args[2])
    want = call.args[3]
    if level in ("IPPROTO_TCP", "SOL_TCP") and name == "TCP_NODELAY":
        on = sock.conn.nodelay if sock.conn is not None else sock.options.get("nodelay", False)
        _check_value(runner, name, want, "1" if on else "0")
        return 0, None
    if level != "SOL_SOCKET" or name not in _SOCKET_OPTIONS:
        raise Unsupported(f"getsockopt {level} {name} is not supported")
    if name == "SO_ERROR":
        actual = sock.pending_error()
        sock.error_reported = sock.error_reported or actual is not None
        _check_value(runner, name, want, actual or "0")
    elif name == "SO_RCVBUF":
        if (
            isinstance(want, ListExpr) and want.items and isinstance(want.items[0], Int)
            and sock.conn is not None
        ):
            runner.script_rcvbuf = want.items[0].value
        _check_value(runner, name, want, str(_rcvbuf(runner, sock)))
    elif name == "SO_SNDBUF":
        _check_value(runner, name, want, str(_buffer_size(runner, sock, "snd_buf")))
    else:
        raise Unsupported(f"getsockopt {name} is not supported")
    return 0, None


def _config_of(runner: Runner, sock: Socket) -> TcpConfig | None:
    """The settings of a connection made from `sock`: the host's (sysctls), or a copy with the
    socket's own options (None when it has none, so later sysctls still apply to it)."""
    if not sock.options:
        return None
    return replace(runner.config, **sock.options)  # type: ignore[arg-type]


def _buffer_size(runner: Runner, sock: Socket, name: str) -> int:
    """`rcv_buf` or `snd_buf` as the socket sees it: its connection's, its own, or the host's."""
    if sock.conn is not None:
        config = sock.conn.config
    else:
        value = sock.options.get(name)
        if isinstance(value, int):
            return value
        config = runner.config
    return config.rcv_buf if name == "rcv_buf" else config.snd_buf


def _rcvbuf(runner: Runner, sock: Socket) -> int:
    size = _buffer_size(runner, sock, "rcv_buf")
    conn = sock.conn
    if runner.profile.rcvbuf_round_to_mss and conn is not None and conn.peer_mss > 0:
        # FreeBSD (tcp_mss_update): once the peer's MSS is known the buffer grows to a whole
        # number of segments.
        mss = min(conn.peer_mss, runner.config.mss)
        size = -(-size // mss) * mss
    return size


def _check_value(runner: Runner, name: str, want: Expr, actual: str) -> None:
    if isinstance(want, ListExpr) and len(want.items) == 1:
        want = want.items[0]
    if isinstance(want, Ellipsis_):
        return
    if isinstance(want, Int):
        ok = actual == str(want.value)
    elif isinstance(want, Word):
        ok = same_errno(actual, want.name) if want.name.startswith("E") else False
        if not ok and want.name in runner.profile.constants:
            ok = actual == str(runner.profile.constants[want.name])
    else:
        raise Unsupported(f"cannot compare {name} with {want}")
    if not ok:
        raise ScriptFailure(f"getsockopt {name} is {actual}, expected {want}")


def _setsockopt(runner: Runner, call: SyscallSpec) -> Result:
    sock = _fd(runner, call)
    if len(call.args) < 4:
        raise Unsupported("setsockopt() takes five arguments")
    level, name = _word(call.args[1]), _word(call.args[2])
    value = call.args[3]
    if level == "SOL_SOCKET" and name == "SO_REUSEADDR":
        sock.reuseaddr = bool(_int(runner, value, name))
        return 0, None
    if level == "SOL_SOCKET" and name == "SO_LINGER":
        onoff = linger = None
        if isinstance(value, ListExpr):
            for item in value.items:
                if isinstance(item, Binary) and item.op == "=" and isinstance(item.left, Word):
                    if item.left.name in ("l_onoff", "onoff"):
                        onoff = _int(runner, item.right, "l_onoff")
                    elif item.left.name in ("l_linger", "linger"):
                        linger = _int(runner, item.right, "l_linger")
        if onoff is None or linger is None:
            raise Unsupported(f"SO_LINGER needs {{l_onoff=N, l_linger=N}}, got {value}")
        if onoff and linger:
            raise Unsupported("SO_LINGER with a non-zero time is not supported")
        sock.linger_abort = bool(onoff)
        return 0, None
    if level == "SOL_SOCKET" and name in ("SO_RCVBUF", "SO_SNDBUF"):
        if sock.conn is not None or sock.listening:
            raise Unsupported(f"{name} can only be set before listen() or connect()")
        size = _int(runner, value, name)
        sock.options["rcv_buf" if name == "SO_RCVBUF" else "snd_buf"] = size
        return 0, None
    if level in ("IPPROTO_TCP", "SOL_TCP") and name == "TCP_KEEPINIT":
        if sock.conn is not None:
            raise Unsupported("TCP_KEEPINIT can only be set before connect()")
        seconds = _int(runner, value, name)
        sock.options["syn_timeout"] = float(seconds) if seconds else None  # FreeBSD tcp(4)
        return 0, None
    if level in ("IPPROTO_TCP", "SOL_TCP") and name == "TCP_NOOPT":
        if sock.conn is not None or sock.listening:
            raise Unsupported("TCP_NOOPT can only be set before listen() or connect()")
        sock.options["no_options"] = bool(_int(runner, value, name))  # FreeBSD tcp(4)
        return 0, None
    if level == "SOL_SOCKET" and name == "SO_KEEPALIVE":
        on = bool(_int(runner, value, name))  # RFC 9293 §3.8.4 keep-alives
        sock.options["keepalive"] = on
        if sock.conn is not None:
            sock.conn.set_keepalive(on, runner.now)
        return 0, None
    if level in ("IPPROTO_TCP", "SOL_TCP") and name in _KEEPALIVE_OPTIONS:
        field_name = _KEEPALIVE_OPTIONS[name]
        number = _int(runner, value, name)
        setting = float(number) if field_name != "keepalive_probes" else number
        sock.options[field_name] = setting
        conn = sock.conn
        if conn is not None:  # this connection's own copy of the settings
            config = replace(conn.config)
            setattr(config, field_name, setting)
            conn.config = config
            if conn.keepalive:
                conn.set_keepalive(True, runner.now)  # the idle time counts from now
        return 0, None
    if level in ("IPPROTO_TCP", "SOL_TCP") and name == "TCP_NODELAY":
        on = bool(_int(runner, value, name))  # RFC 9293 §3.7.4 MUST-17: Nagle off (or on)
        sock.options["nodelay"] = on  # for a connection still to come (accepted ones inherit)
        if sock.conn is not None:
            sock.conn.set_nodelay(on, runner.now)
        return 0, None
    raise Unsupported(f"setsockopt {level} {name} is not supported by synack")


_HANDLERS = {
    "socket": _socket,
    "bind": _bind,
    "listen": _listen,
    "accept": _accept,
    "connect": _connect,
    "read": _read,
    "recv": _read,
    "write": _write,
    "send": _write,
    "shutdown": _shutdown,
    "close": _close,
    "fcntl": _fcntl,
    "getsockopt": _getsockopt,
    "setsockopt": _setsockopt,
}
