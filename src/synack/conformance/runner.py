"""Runs one packetdrill-dialect script against synack on a virtual clock.

The script plays the remote TCP: `<` segments are built and handed to the host, `>` segments are the
ones the host must send, in order, each within the script's tolerance of its time. System calls
drive the host's user interface (see `syscalls`); back-quoted commands and `%{ }%` blocks configure
or query it (see `commands`). Time advances only through the script and the host's own timers, so a
script that spans minutes runs in milliseconds.

Sequence numbers follow packetdrill: the script's numbers for the remote side are literal (its ISN
is 0); numbers for synack's side are relative to the ISN synack chose, learned from its SYN.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path

from synack.conformance import commands, syscalls
from synack.conformance.ast import (
    CodeSpec,
    CommandSpec,
    Event,
    OptionSpec,
    PacketSpec,
    Script,
    SyscallSpec,
    TimeKind,
)
from synack.conformance.errors import ScriptFailure, Unsupported
from synack.conformance.format import (
    format_packet_spec,
    format_segment,
    script_flags,
    script_letters,
)
from synack.conformance.lexer import ScriptSyntaxError
from synack.conformance.parser import DEFAULT_DEFINES, parse_file
from synack.conformance.profile import FREEBSD, Profile
from synack.conformance.stack import Stack
from synack.tcp.config import TcpConfig
from synack.tcp.connection import Connection
from synack.tcp.state import State
from synack.wire.errors import ParseError
from synack.wire.ip import IpPacket, IPv4Header, IPv6Header, build_ip, parse_tcp_packet
from synack.wire.tcp import (
    IPPROTO_TCP,
    Eol,
    Mss,
    Nop,
    Sack,
    SackPermitted,
    TcpFlags,
    TcpOption,
    TcpSegment,
    Timestamps,
    UnknownOption,
    WindowScale,
    build_tcp,
)

IPAddress = IPv4Address | IPv6Address
SEQ_MASK = 0xFFFFFFFF
EPSILON = 1e-9
DEFAULT_TOLERANCE_USECS = 4000
LOCAL_IPV4 = "192.168.0.1"
REMOTE_IPV4 = "192.0.2.1"
LOCAL_IPV6 = "fd3d:fa7b:d17d::1"
REMOTE_IPV6 = "2001:db8::1"
BIND_PORT = 8080  # the port bind() gives a socket and connect() reaches
REMOTE_PORT = 50000  # the scripted peer's port when it opens connections
ECN_CODEPOINTS = {"": 0, "noecn": 0, "ect1": 1, "ect0": 2, "ce": 3}
KNOWN_OPTIONS = frozenset(
    {"ip_version", "tolerance_usecs", "mtu", "mss", "local_ip", "remote_ip", "bind_port",
     "connect_port"}
)


@dataclass(slots=True)
class ScriptResult:
    path: Path
    passed: bool
    reason: str = ""
    line: int = 0
    relaxations: list[str] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Sent:
    """A segment the host sent, and the virtual time it left."""

    time: float
    packet: IpPacket
    segment: TcpSegment


@dataclass(slots=True)
class Blocked:
    """A system call waiting for the host (a blocking connect, accept or read)."""

    event: Event
    call: SyscallSpec
    fd: int
    start: float
    deadline: float  # the latest acceptable completion time


def run_file(
    path: Path | str, profile: Profile = FREEBSD, defines: frozenset[str] = DEFAULT_DEFINES
) -> ScriptResult:
    """Parse and run one script; never raises for a script's own problems."""
    p = Path(path)
    try:
        script = parse_file(p, defines)
    except ScriptSyntaxError as exc:
        return ScriptResult(p, False, f"syntax error: {exc}", exc.line)
    return run_script(script, profile)


def run_script(script: Script, profile: Profile = FREEBSD) -> ScriptResult:
    runner = Runner(script, profile)
    try:
        runner.run()
    except ScriptFailure as exc:
        return ScriptResult(
            script.path, False, exc.message, exc.line, runner.relaxations, runner.trace
        )
    return ScriptResult(script.path, True, "", 0, runner.relaxations, runner.trace)


class Runner:
    def __init__(self, script: Script, profile: Profile) -> None:
        self.script = script
        self.profile = profile
        self.relaxations = profile.relaxations()
        self.config = TcpConfig()
        self.setup_error: str | None = None  # reported when the script runs
        for name, value in profile.config.items():
            if not hasattr(self.config, name):
                self.setup_error = f"profile {profile.name}: TcpConfig has no field {name}"
                break
            setattr(self.config, name, value)
        self.event: Event | None = None
        self.trace: list[str] = []  # what happened, in order: script lines and segments
        self.now = 0.0
        self.last_time = 0.0
        self.base_time = 0.0
        self.outbox: deque[Sent] = deque()
        self.blocked: list[Blocked] = []
        self._stack: Stack | None = None
        # sequence-number bookkeeping per (local port, remote port)
        self.local_isn: dict[tuple[int, int], int] = {}
        self.fin_seq: dict[tuple[int, int], int] = {}  # where synack's FIN is, per connection
        self.seen: set[tuple[int, int, int, int, int]] = set()  # segments sent, to spot resends
        self.slop = 0.0  # extra timing slack of the segment being compared
        self.ts_origin: tuple[int, int] | None = None  # (script TS val, actual TS val)
        self.sysctls: dict[str, int] = {}
        # What the script says the stack's receive window is: the last SO_RCVBUF value and the
        # last window of an outbound segment it expects (see Profile.translate_window_edges).
        self.script_rcvbuf: int | None = None
        self.script_window: int | None = None
        self.sockets = syscalls.SocketTable(self)
        self._configure(script.options)

    # --- set-up ------------------------------------------------------------------------------

    def _configure(self, options: dict[str, str]) -> None:
        for name in options:
            if name not in KNOWN_OPTIONS:
                raise Unsupported(f"unknown script option --{name}")
        version = options.get("ip_version", "ipv4")
        if version not in ("ipv4", "ipv6"):
            raise Unsupported(f"--ip_version={version} is not supported (ipv4, ipv6)")
        self.ipv6 = version == "ipv6"
        try:
            self.tolerance = int(options.get("tolerance_usecs", DEFAULT_TOLERANCE_USECS)) / 1e6
            self.mtu = int(options.get("mtu", self.profile.mtu))
            self.bind_port = int(options.get("bind_port", BIND_PORT))
            self.connect_port = int(options.get("connect_port", BIND_PORT))
            local = ip_address(options.get("local_ip", LOCAL_IPV6 if self.ipv6 else LOCAL_IPV4))
            remote = ip_address(options.get("remote_ip", REMOTE_IPV6 if self.ipv6 else REMOTE_IPV4))
        except ValueError as exc:
            raise Unsupported(f"bad script option: {exc}") from exc
        if local.version != remote.version or (local.version == 6) != self.ipv6:
            raise Unsupported("local_ip and remote_ip must match --ip_version")
        self.local_ip: IPAddress = local
        self.remote_ip: IPAddress = remote
        overhead = self.profile.mss_overhead_ipv6 if self.ipv6 else self.profile.mss_overhead_ipv4
        # RFC 9293 §3.7.1: the MSS announced is the MTU less the fixed IP and TCP headers.
        self.config.mss = int(options["mss"]) if "mss" in options else self.mtu - overhead
        self.maxsockbuf = self.profile.maxsockbuf
        self.rfc1323 = True
        self.apply_window_scale()

    def apply_window_scale(self) -> None:
        """RFC 7323 §2.3: the smallest shift that lets the largest buffer be advertised."""
        if not self.rfc1323:
            self.config.window_scale = None
            return
        shift = 0
        while shift < 14 and (0xFFFF << shift) < self.maxsockbuf:
            shift += 1
        self.config.window_scale = shift

    @property
    def started_stack(self) -> Stack | None:
        """The host, or None while the script has not touched it yet."""
        return self._stack

    @property
    def stack(self) -> Stack:
        if self._stack is None:
            self._stack = Stack(self.local_ip, self.config)
        return self._stack

    # --- the event loop ----------------------------------------------------------------------

    def run(self) -> None:
        if self.setup_error is not None:
            raise Unsupported(self.setup_error)
        for event in self.script.events:
            self.event = event
            self.trace.append(f"{self._event_time_hint(event)} line {event.line}: {event.text}")
            try:
                self._run_event(event)
            except ScriptFailure as exc:
                if not exc.line:
                    exc.line = event.line
                if not exc.message.startswith(f"line {exc.line}"):
                    exc.message = f"line {exc.line}: {exc.message}"
                raise
        if self.profile.check_trailing:
            self._check_unexpected(self.now, final=True)
        if self.blocked:
            b = self.blocked[0]
            raise ScriptFailure(
                f"line {b.event.line}: {b.call.name}() still blocked when the script ended",
                b.event.line,
            )

    def _run_event(self, event: Event) -> None:
        action = event.action
        if isinstance(action, PacketSpec) and not action.inbound:
            self._expect_outbound(event, action)
            return
        t = self._event_time(event)
        self._advance(t)
        self._check_unexpected(t)
        # packetdrill: a relative end time of a blocking call counts from the same base as its
        # start (the previous event's time), and later events count from the call's start.
        self.base_time = self.last_time
        self.last_time = t
        if isinstance(action, PacketSpec):
            self._inject(action)
        elif isinstance(action, SyscallSpec):
            syscalls.run_syscall(self, event, action)
        elif isinstance(action, CommandSpec):
            commands.run_command(self, action.command)
        elif isinstance(action, CodeSpec):
            commands.run_code(self, action.code)
        self._collect()
        self._poll_blocked()

    def _event_time_hint(self, event: Event) -> str:
        if event.time.kind is TimeKind.ABSOLUTE or event.time.kind is TimeKind.RELATIVE:
            return f"{self._event_time(event):8.3f}"
        return "       *"

    def _event_time(self, event: Event) -> float:
        kind = event.time.kind
        if kind is TimeKind.ABSOLUTE:
            return event.time.start
        return self.last_time + event.time.start

    # --- clock -------------------------------------------------------------------------------

    def _advance(self, until: float, *, stop_on_output: bool = False) -> None:
        """Run the host's timers due up to `until`, then set the clock to `until` (or, with
        `stop_on_output`, stop as soon as the host has sent something)."""
        if self._stack is None:
            if until != float("inf"):
                self.now = max(self.now, until)
            self._expire_blocked()
            return
        spins = steps = 0
        while not (stop_on_output and self.outbox):
            deadline = self._stack.next_deadline()
            if deadline is None or deadline > until + EPSILON:
                break
            spins = spins + 1 if deadline <= self.now else 0
            steps += 1
            if spins > 1000 or steps > 100_000:
                raise ScriptFailure(f"the host's timer does not advance (deadline {deadline:.6f})")
            self.now = max(self.now, deadline)
            self._stack.handle_timer(self.now)
            self._collect()
            self._poll_blocked()
            self._expire_blocked()
        if not (stop_on_output and self.outbox) and until != float("inf"):
            self.now = max(self.now, until)
            self._expire_blocked()

    def _collect(self) -> None:
        if self._stack is None:
            return
        for data in self._stack.output():
            try:
                packet, seg = parse_tcp_packet(data)
            except ParseError as exc:
                raise ScriptFailure(f"the host sent a malformed packet: {exc}") from exc
            sent = Sent(self.now, packet, seg)
            self.outbox.append(sent)
            self.trace.append(f"{self.now:8.3f}   sent {self.describe(sent, always_seq=True)}")

    def _poll_blocked(self) -> None:
        for b in list(self.blocked):
            if syscalls.try_complete(self, b):
                self.blocked.remove(b)

    def _expire_blocked(self) -> None:
        for b in self.blocked:
            if self.now > b.deadline + EPSILON:
                raise ScriptFailure(
                    f"{b.call.name}() did not return by {b.deadline:.3f} s",
                    b.event.line,
                )

    def _check_unexpected(self, t: float, *, final: bool = False) -> None:
        """A segment the script never asked for, sent more than the tolerance before `t`."""
        if not self.outbox:
            return
        sent = self.outbox[0]
        if final or sent.time + self.tolerance < t - EPSILON:
            raise ScriptFailure(
                f"unexpected segment at {sent.time:.3f} s: {self.describe(sent)}"
            )

    # --- outbound segments -------------------------------------------------------------------

    def _expect_outbound(self, event: Event, spec: PacketSpec) -> None:
        kind = event.time.kind
        if kind is TimeKind.ANY:
            low, high = self.last_time, float("inf")
        elif kind is TimeKind.ABSOLUTE_RANGE:
            assert event.time.end is not None
            low, high = event.time.start, event.time.end
        elif kind is TimeKind.RELATIVE_RANGE:
            assert event.time.end is not None
            low, high = self.last_time + event.time.start, self.last_time + event.time.end
        else:
            low = high = self._event_time(event)
        if spec.window is not None:
            self.script_window = spec.window
        self._advance(high + self.tolerance, stop_on_output=True)
        if not self.outbox:
            when = "ever" if high == float("inf") else f"by {high + self.tolerance:.3f} s"
            raise ScriptFailure(
                f"expected {format_packet_spec(spec)} at {self._when(low, high)}, "
                f"but nothing was sent {when}"
            )
        sent = self.outbox.popleft()
        self.slop = self._resend_slop(sent.segment)
        problems = self._compare(spec, sent)
        slack = self.tolerance + self.slop
        if sent.time < low - slack - EPSILON or sent.time > high + slack + EPSILON:
            problems.insert(0, f"sent at {sent.time:.3f} s, expected {self._when(low, high)}")
        if problems:
            raise ScriptFailure(
                f"segment mismatch\n    expected: {event.text}\n"
                f"    actual:   {self.describe(sent)} (at {sent.time:.3f} s)\n"
                f"    differs:  {'; '.join(problems)}"
            )
        # After `*` or a range, later relative times count from when the segment really left.
        exact = kind is TimeKind.RELATIVE or kind is TimeKind.ABSOLUTE
        self.last_time = low if exact else sent.time
        self._poll_blocked()

    def _resend_slop(self, seg: TcpSegment) -> float:
        """Extra timing slack for a retransmission (Profile.rexmit_slop): a segment occupying
        sequence space (SYN, FIN, data) sent before."""
        if not seg.seg_len:
            return 0.0
        # (ECE and CWR left out: an ECN-setup SYN is resent as a plain SYN.)
        key = (seg.src_port, seg.dst_port, seg.seq, int(seg.flags) & ~0xC0, len(seg.payload))
        resend = key in self.seen
        self.seen.add(key)
        if not resend or not self.profile.rexmit_slop:
            return 0.0
        return self.sysctls.get("net.inet.tcp.rexmit_slop", 0) / 1000.0

    def _when(self, low: float, high: float) -> str:
        tol = f" ±{self.tolerance * 1000:g} ms"
        if low == high:
            return f"{low:.3f} s{tol}"
        if high == float("inf"):
            return f"any time after {low:.3f} s"
        return f"{low:.3f}..{high:.3f} s{tol}"

    def _compare(self, spec: PacketSpec, sent: Sent) -> list[str]:
        seg = sent.segment
        problems: list[str] = []
        key = (seg.src_port, seg.dst_port)
        want_flags = script_flags(spec.flags)
        if seg.flags & TcpFlags.SYN and spec.start is not None and want_flags & TcpFlags.SYN:
            # The ISN synack chose for this connection: the script calls it `spec.start` (0).
            self.local_isn[key] = (seg.seq - spec.start) & SEQ_MASK
        base = self.local_isn.get(key, 0)
        actual = (seg.seq - base) & SEQ_MASK
        want_start = spec.start
        fin = self.fin_seq.get(key)
        if (
            self.profile.fin_with_ack and fin is not None
            and want_flags == TcpFlags.FIN | TcpFlags.ACK and seg.flags == TcpFlags.ACK
            and spec.length == 0 and not seg.payload
            and spec.start == fin and actual == (fin + 1) & SEQ_MASK
        ):
            want_flags, want_start = TcpFlags.ACK, actual  # FreeBSD's FIN repeated on the ACK
        if seg.flags & TcpFlags.FIN:
            self.fin_seq[key] = (actual + len(seg.payload)) & SEQ_MASK
        if seg.flags != want_flags:
            problems.append(f"flags {script_letters(seg.flags)} != {spec.flags or '-'}")
        if want_start is not None and actual != want_start:
            problems.append(f"seq {actual} != {spec.start}")
        if len(seg.payload) != spec.length:
            problems.append(f"length {len(seg.payload)} != {spec.length}")
        if spec.ack is not None and want_flags & TcpFlags.ACK and seg.ack != spec.ack & SEQ_MASK:
            problems.append(f"ack {seg.ack} != {spec.ack}")
        if spec.window is not None and not self.profile.relax_window and seg.window != spec.window:
            problems.append(f"win {seg.window} != {spec.window}")
        if spec.urgent is not None and seg.urgent != spec.urgent:
            problems.append(f"urg {seg.urgent} != {spec.urgent}")
        if spec.ecn:
            codepoint = self._ecn_of(sent.packet)
            want = 2 if spec.ecn == "ect01" else ECN_CODEPOINTS[spec.ecn]
            ok = codepoint in (1, 2) if spec.ecn == "ect01" else codepoint == want
            if not ok:
                problems.append(f"IP ECN codepoint {codepoint} != [{spec.ecn}]")
        if spec.options is not None:
            problem = self._compare_options(spec.options, seg.options, base)
            if problem:
                problems.append(problem)
        return problems

    @staticmethod
    def _ecn_of(packet: IpPacket) -> int:
        header = packet.header
        if isinstance(header, IPv4Header):
            return header.tos & 3
        return header.traffic_class & 3

    def _compare_options(
        self, spec: tuple[OptionSpec, ...], actual: tuple[TcpOption, ...], base: int
    ) -> str | None:
        # SACK blocks synack sends are in the peer's sequence space (literal in the script).
        want = [self._build_option(o, sack_base=self._remote_base(), ecr_map=False) for o in spec]
        got = list(actual)
        # TS values: compared as ticks since the first outbound TS value (profile.ts_tick).
        ts_problem = None
        want_ts = next((o for o in spec if o.kind == "TS"), None)
        got_ts = next((o for o in got if isinstance(o, Timestamps)), None)
        if want_ts is not None and got_ts is not None:
            ts_problem = self._check_ts_value(want_ts.values[0], got_ts.value)
            want = [Timestamps(got_ts.value, w.echo) if isinstance(w, Timestamps) else w
                    for w in want]
        if self.profile.relax_option_layout:
            def key(o: TcpOption) -> str:
                return repr(o)
            padding = (Nop, Eol)
            w_set = sorted(key(o) for o in want if not isinstance(o, padding))
            g_set = sorted(key(o) for o in got if not isinstance(o, padding))
            same = w_set == g_set
        else:
            same = want == got
        if not same:
            shown = ",".join(str(o) for o in spec)
            return f"options <{self._show_options(got)}> != <{shown}>"
        return ts_problem

    @staticmethod
    def _show_options(options: list[TcpOption]) -> str:
        from synack.conformance.format import format_option

        return ",".join(format_option(o) for o in options)

    def _check_ts_value(self, script_val: int, actual_val: int) -> str | None:
        tick = self.profile.ts_tick
        if self.ts_origin is None:
            self.ts_origin = (script_val, actual_val)
            return None
        if tick is None:
            return None
        want = (script_val - self.ts_origin[0]) & SEQ_MASK
        got = (actual_val - self.ts_origin[1]) & SEQ_MASK
        slack = (self.tolerance + self.slop) / tick + 1
        if abs(want - got) > slack:
            return f"TS val advanced {got} ticks since the first, expected {want}"
        return None

    # --- inbound segments --------------------------------------------------------------------

    def current_ports(self) -> tuple[int, int]:
        """(local port, remote port) of the connection the script is talking to."""
        return self.sockets.current_ports()

    def _remote_base(self) -> int:
        return 0

    def _inject(self, spec: PacketSpec) -> None:
        if spec.start is None:
            raise Unsupported("'...' sequence numbers can only be used with outbound packets")
        local_port, remote_port = self.current_ports()
        if spec.src_port is not None and spec.dst_port is not None:
            remote_port, local_port = spec.src_port, spec.dst_port
        base = self.local_isn.get((local_port, remote_port), 0)
        flags = script_flags(spec.flags)
        ack = (spec.ack + base) & SEQ_MASK if spec.ack is not None and flags & TcpFlags.ACK else (
            spec.ack or 0
        )
        options = tuple(
            self._build_option(o, sack_base=base, ecr_map=True) for o in spec.options or ()
        )
        seq = self._translate_edge(spec.start & SEQ_MASK, local_port, remote_port)
        seg = TcpSegment(
            src_port=remote_port,
            dst_port=local_port,
            seq=seq,
            ack=ack,
            flags=flags,
            window=spec.window if spec.window is not None else 0,
            urgent=spec.urgent or 0,
            options=options,
            payload=bytes(spec.length),
        )
        src, dst = self.remote_ip, self.local_ip
        tcp = build_tcp(seg, src.packed, dst.packed)
        ecn = ECN_CODEPOINTS.get(spec.ecn)
        if ecn is None:
            raise Unsupported(f"[{spec.ecn}] can only be used with outbound packets")
        header: IPv4Header | IPv6Header
        if isinstance(src, IPv4Address) and isinstance(dst, IPv4Address):
            header = IPv4Header(src, dst, IPPROTO_TCP, 64, tos=ecn, flags=0x2)
        else:
            assert isinstance(src, IPv6Address) and isinstance(dst, IPv6Address)
            header = IPv6Header(src, dst, IPPROTO_TCP, 64, traffic_class=ecn)
        self.trace.append(
            f"{self.now:8.3f}   injected "
            + format_segment(
                seg, str(src), str(dst), ack_base=base, ipv6=self.ipv6, always_seq=True
            )
        )
        self.stack.inject(build_ip(header, tcp), self.now)

    def _connection(self, local_port: int, remote_port: int) -> Connection | None:
        conn = self.sockets.connection_for(local_port, remote_port)
        if conn is None and self._stack is not None:
            for c in self._stack.connections():
                if c.local[1] == local_port and c.remote[1] == remote_port:
                    return c
        return conn

    def _translate_edge(self, seq: int, local_port: int, remote_port: int) -> int:
        """Move SEG.SEQ from the script OS's window edges to synack's (see the profile)."""
        if not self.profile.translate_window_edges:
            return seq
        conn = self._connection(local_port, remote_port)
        if conn is None or conn.state in (State.CLOSED, State.LISTEN, State.SYN_SENT):
            return seq
        rcv_nxt = conn.rcv_nxt
        right = (conn.rcv_wup + conn.rcv_wnd) & SEQ_MASK  # RCV.NXT + RCV.WND
        # The advertised window first: with a listener's SO_RCVBUF (65536) and FreeBSD's advertised
        # 65535 the same SEG.SEQ is the right edge of one and just outside the other.
        for window in (self.script_window, self.script_rcvbuf):
            if window is None or conn.rcv_wscale:
                continue
            edge = (rcv_nxt + window) & SEQ_MASK
            if seq == edge:
                return right
            if seq == (edge - 1) & SEQ_MASK:
                return (right - 1) & SEQ_MASK
        return seq

    def _build_option(self, opt: OptionSpec, *, sack_base: int, ecr_map: bool) -> TcpOption:
        k, v = opt.kind, opt.values
        if k == "nop":
            return Nop()
        if k == "eol":
            return Eol()
        if k == "mss":
            return Mss(v[0])
        if k == "wscale":
            return WindowScale(v[0])
        if k == "sackOK":
            return SackPermitted()
        if k == "sack":
            edges = [(x + sack_base) & SEQ_MASK for x in v]
            return Sack(tuple(zip(edges[::2], edges[1::2], strict=True)))
        if k == "TS":
            val, ecr = v
            if ecr_map and self.ts_origin is not None and ecr:
                # The peer echoes a TS value synack sent: map the script's clock onto synack's.
                ecr = (ecr - self.ts_origin[0] + self.ts_origin[1]) & SEQ_MASK
            return Timestamps(val, ecr)
        if k in ("FO", "FOEXP", "md5"):
            raise Unsupported(f"TCP option {k} is not supported by synack")
        return UnknownOption(0xFF, b"")

    # --- messages ----------------------------------------------------------------------------

    def describe(self, sent: Sent, *, always_seq: bool = False) -> str:
        """A segment synack sent, as tcpdump prints it (sequence numbers relative to its ISN)."""
        seg = sent.segment
        base = self.local_isn.get((seg.src_port, seg.dst_port), 0)
        return format_segment(
            seg, str(sent.packet.src), str(sent.packet.dst), seq_base=base,
            ack_base=self._remote_base(), ipv6=self.ipv6, always_seq=always_seq,
        )
