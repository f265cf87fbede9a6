"""How the operating system a script was written for differs from synack.

A script records one TCP's choices where the RFCs leave room: FreeBSD advertises a window of
65535, lays out its SYN options as `mss,nop,wscale,sackOK,TS`, rounds the receive buffer up to a
multiple of the MSS once connected (65536 -> 65700 with MSS 1460, 66240 with 1440) and counts TS
values in milliseconds. A profile says which of these the runner relaxes (compares loosely) or
reproduces by configuration; the runner prints every relaxation in force.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Why a profile's scripts state windows synack need not reproduce.
_WINDOW_CHOICE = {
    "freebsd": "FreeBSD advertises 65535",
    "linux": "Linux sizes its window from its own buffers",
}


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    # Outbound window values are not compared (a receive window is a local policy, RFC 9293 §3.8.6).
    relax_window: bool = True
    # Outbound options are compared as a set of (kind, value): order and NOP/EOL padding ignored
    # (RFC 9293 §3.2 fixes neither).
    relax_option_layout: bool = True
    # TS values are compared as clock ticks elapsed since the first outbound TS value (RFC 7323 §5.4
    # leaves the clock's origin and rate to the sender); None: TS values are not compared.
    ts_tick: float | None = 0.001
    # getsockopt(SO_RCVBUF) on a synchronized connection reports the buffer rounded up to a multiple
    # of the MSS, as FreeBSD does (tcp_mss_update); before that, the configured size.
    rcvbuf_round_to_mss: bool = True
    # Inbound SEG.SEQ at the script's receive-window edges (RCV.NXT+W-1 and RCV.NXT+W, W being
    # the script OS's RCV.WND: the SO_RCVBUF value or window the script last stated) is moved to
    # the same edges of synack's RCV.WND, so "right edge" and "outside right" tests keep their
    # meaning.
    translate_window_edges: bool = True
    # FreeBSD sets FIN again on an ACK sent while its FIN is unacknowledged (seq = the FIN's): an
    # expected `F.` there matches synack's bare ACK at SND.NXT (RFC 9293 §3.10.7.4 eighth step).
    fin_with_ack: bool = True
    # FreeBSD adds net.inet.tcp.rexmit_slop to backed-off RTOs (RFC 6298 adds nothing): a
    # retransmission's time may differ from the script's by that much beyond the tolerance.
    rexmit_slop: bool = True
    # Segments sent in answer to the script's last event are not checked (packetdrill stops there).
    check_trailing: bool = False
    # IP + TCP header bytes subtracted from the MTU to get the MSS announced (RFC 9293 §3.7.1).
    mss_overhead_ipv4: int = 40
    mss_overhead_ipv6: int = 60
    mtu: int = 1500
    # Window scale chosen as the smallest shift with 65535 << shift >= kern.ipc.maxsockbuf.
    maxsockbuf: int = 2097152
    # TcpConfig fields set for every script: the OS's fixed behaviour, reproduced (name -> value).
    config: dict[str, float | int | bool | str | None] = field(default_factory=dict)
    # Numeric values of symbolic constants that appear as system call results.
    constants: dict[str, int] = field(default_factory=dict)
    config_reasons: dict[str, str] = field(default_factory=dict)
    # Sysctls synack has no knob for: accepted only at the script OS's default values.
    fixed_sysctls: dict[str, frozenset[int]] = field(default_factory=dict)
    # Sysctls without effect on a single simulated host (caches): accepted with any value.
    inert_sysctls: frozenset[str] = frozenset()

    def relaxations(self) -> list[str]:
        """One line per relaxation in force, for the runner's output."""
        out: list[str] = []
        if self.relax_window:
            why = _WINDOW_CHOICE.get(self.name, "a receive window is local policy, RFC 9293 §3.8.6")
            out.append(f"outbound window values not compared ({why})")
        if self.relax_option_layout:
            out.append("outbound TCP options compared as a set: order and nop/eol padding ignored")
        if self.ts_tick is None:
            out.append("TS values not compared")
        else:
            out.append(
                f"TS values compared as {self.ts_tick * 1000:g} ms ticks since the first TS sent"
            )
        if self.translate_window_edges:
            out.append(
                "inbound SEG.SEQ at the script's window edges (RCV.NXT+W-1, RCV.NXT+W; W = the "
                "SO_RCVBUF or window it states) moved to synack's RCV.NXT+RCV.WND-1, +RCV.WND"
            )
        if self.fin_with_ack:
            out.append(
                "an expected F. at the sequence number of an unacknowledged FIN matches a bare ACK"
                " at SND.NXT (FreeBSD repeats its FIN on ACKs)"
            )
        if self.rexmit_slop:
            out.append(
                "retransmission times may differ by net.inet.tcp.rexmit_slop beyond the tolerance"
            )
        if not self.check_trailing:
            out.append("segments sent after the script's last event are not checked (packetdrill)")
        if self.rcvbuf_round_to_mss:
            out.append("SO_RCVBUF of a connection reported rounded up to a multiple of the MSS")
        for name, value in sorted(self.config.items()):
            out.append(f"configured: {name}={value} ({self.config_reasons.get(name, '')})")
        for name, values in sorted(self.fixed_sysctls.items()):
            shown = " or ".join(str(v) for v in sorted(values))
            out.append(f"sysctl {name} accepted only at {shown} (FreeBSD's default; no such knob)")
        return out


FREEBSD = Profile(
    name="freebsd",
    constants={
        "O_RDONLY": 0x0,
        "O_WRONLY": 0x1,
        "O_RDWR": 0x2,
        "O_NONBLOCK": 0x4,
    },
    fixed_sysctls={
        # 0: answer segments to closed ports with RST (RFC 9293 §3.10.7.1), synack always does.
        "net.inet.tcp.blackhole": frozenset({0}),
        # synack retransmits with the RFC 6298 timer alone, without FreeBSD's added slop.
        "net.inet.tcp.rexmit_slop": frozenset({200}),
        # SYN cookies are not used while the SYN queue has room (synack keeps a SYN queue).
        "net.inet.tcp.syncookies": frozenset({1}),
        "net.inet.tcp.syncookies_only": frozenset({0}),
    },
    inert_sysctls=frozenset({"net.inet.tcp.hostcache.purgenow"}),
    config={
        "rfc1337": True,
        "time_wait_accepts_syn": False,
        "rto_max": 64.0,
        "syn_retries": 12,
        "ecn_syn_retries": 1,
        "nagle": "rfc896",
    },
    config_reasons={
        "rfc1337": "FreeBSD ignores RST in TIME-WAIT, RFC 1337 F1",
        "time_wait_accepts_syn": "the STANDARD branches expect RFC 9293 / RFC 5961 handling of "
        "a SYN in TIME-WAIT",
        "rto_max": "FreeBSD TCPTV_REXMTMAX",
        "syn_retries": "FreeBSD TCP_MAXRXTSHIFT; net.inet.tcp.keepinit bounds the time",
        "ecn_syn_retries": "FreeBSD net.inet.tcp.ecn.maxretries: the first SYN retransmission "
        "still requests ECN",
        "nagle": "FreeBSD's tcp_output holds a short segment while data is in flight (RFC 896)",
    },
)

# Google packetdrill's Linux scripts: Linux lays out options as synack does, takes its window scale
# from its maximum buffer (wscale 8) and has no FreeBSD rounding or FIN repetition.
LINUX = Profile(
    name="linux",
    fin_with_ack=False,
    rexmit_slop=False,
    rcvbuf_round_to_mss=False,
    translate_window_edges=False,
    maxsockbuf=0xFFFF << 8,
    constants={"O_RDONLY": 0x0, "O_WRONLY": 0x1, "O_RDWR": 0x2, "O_NONBLOCK": 0x800},
)

PROFILES: dict[str, Profile] = {"freebsd": FREEBSD, "linux": LINUX, "strict": Profile(
    name="strict", relax_window=False, relax_option_layout=False, rcvbuf_round_to_mss=False,
    translate_window_edges=False, check_trailing=True, fin_with_ack=False, rexmit_slop=False,
    constants=dict(FREEBSD.constants), fixed_sysctls=dict(FREEBSD.fixed_sysctls),
    inert_sysctls=FREEBSD.inert_sysctls,
)}
