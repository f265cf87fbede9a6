"""Segments shown the way `tcpdump -nn` prints them (relative sequence numbers, as the script)."""

from __future__ import annotations

from synack.conformance.ast import PacketSpec
from synack.wire.tcp import (
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
    flag_letters,
)

# packetdrill's flag letters (the order it prints them in).
SCRIPT_FLAGS: dict[str, TcpFlags] = {
    "F": TcpFlags.FIN,
    "S": TcpFlags.SYN,
    "R": TcpFlags.RST,
    "P": TcpFlags.PSH,
    ".": TcpFlags.ACK,
    "U": TcpFlags.URG,
    "E": TcpFlags.ECE,
    "W": TcpFlags.CWR,
    "A": TcpFlags.AE,
}


def script_flags(text: str) -> TcpFlags:
    flags = TcpFlags(0)
    for ch in text:
        flags |= SCRIPT_FLAGS[ch]
    return flags


def script_letters(flags: TcpFlags) -> str:
    """The flags as a script writes them (S. F. R P.)."""
    order = "SFRPUEWA"
    text = "".join(ch for ch in order if flags & SCRIPT_FLAGS[ch])
    if flags & TcpFlags.ACK:
        text += "."
    return text or "-"


def format_option(opt: TcpOption) -> str:
    if isinstance(opt, Nop):
        return "nop"
    if isinstance(opt, Eol):
        return "eol"
    if isinstance(opt, Mss):
        return f"mss {opt.value}"
    if isinstance(opt, WindowScale):
        return f"wscale {opt.shift}"
    if isinstance(opt, SackPermitted):
        return "sackOK"
    if isinstance(opt, Sack):
        return "sack " + str(len(opt.blocks)) + " " + " ".join(
            f"{{{left}:{right}}}" for left, right in opt.blocks
        )
    if isinstance(opt, Timestamps):
        return f"TS val {opt.value} ecr {opt.echo}"
    assert isinstance(opt, UnknownOption)
    return f"unknown-{opt.kind} 0x{opt.data.hex()}"


def format_segment(
    seg: TcpSegment,
    src: str,
    dst: str,
    *,
    seq_base: int = 0,
    ack_base: int = 0,
    ipv6: bool = False,
    always_seq: bool = False,
) -> str:
    """`IP a.p > b.q: Flags [S.], seq 0, ack 1, win 65535, options [...], length 0`.

    Sequence numbers are shown relative to `seq_base` and acknowledgments relative to `ack_base`;
    like tcpdump, a bare ACK shows no sequence number unless `always_seq`.
    """
    family = "IP6" if ipv6 else "IP"
    parts = [f"Flags [{flag_letters(seg.flags)}]"]
    seq = (seg.seq - seq_base) & 0xFFFFFFFF
    if always_seq or seg.payload or seg.flags & (TcpFlags.SYN | TcpFlags.FIN | TcpFlags.RST):
        if seg.payload:
            parts.append(f"seq {seq}:{(seq + len(seg.payload)) & 0xFFFFFFFF}")
        else:
            parts.append(f"seq {seq}")
    elif not seg.flags & TcpFlags.ACK:
        parts.append(f"seq {seq}")
    if seg.flags & TcpFlags.ACK:
        parts.append(f"ack {(seg.ack - ack_base) & 0xFFFFFFFF}")
    parts.append(f"win {seg.window}")
    if seg.flags & TcpFlags.URG:
        parts.append(f"urg {seg.urgent}")
    if seg.options:
        parts.append("options [" + ",".join(format_option(o) for o in seg.options) + "]")
    parts.append(f"length {len(seg.payload)}")
    return f"{family} {src}.{seg.src_port} > {dst}.{seg.dst_port}: " + ", ".join(parts)


def format_packet_spec(spec: PacketSpec) -> str:
    """The expectation in script form: `S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK>`."""
    seq = f"...({spec.length})" if spec.start is None else (
        f"{spec.start}:{(spec.start + spec.length) & 0xFFFFFFFF}({spec.length})"
    )
    parts = [spec.direction, spec.flags or "-", seq]
    if spec.ack is not None:
        parts.append(f"ack {spec.ack}")
    if spec.window is not None:
        parts.append(f"win {spec.window}")
    if spec.urgent is not None:
        parts.append(f"urg {spec.urgent}")
    if spec.options is None:
        parts.append("<...>")
    elif spec.options:
        parts.append("<" + ",".join(str(o) for o in spec.options) + ">")
    return " ".join(parts)
