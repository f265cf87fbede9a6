"""Segments in tcpdump's line format, and expectations in script form."""

from __future__ import annotations

from synack.conformance.ast import OptionSpec, PacketSpec
from synack.conformance.format import format_packet_spec, format_segment, script_flags
from synack.wire.tcp import (
    Mss,
    Nop,
    Sack,
    SackPermitted,
    TcpFlags,
    TcpSegment,
    Timestamps,
    WindowScale,
)

A, B = "192.168.0.1", "192.0.2.1"


def test_tcpdump_lines() -> None:
    syn = TcpSegment(
        8080, 50000, 1000, 0, TcpFlags.SYN, 65535, 0,
        (Mss(1460), Nop(), WindowScale(6), SackPermitted(), Timestamps(100, 0)),
    )
    assert format_segment(syn, A, B, seq_base=1000) == (
        "IP 192.168.0.1.8080 > 192.0.2.1.50000: Flags [S], seq 0, win 65535, "
        "options [mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0], length 0"
    )
    data = TcpSegment(8080, 50000, 1001, 7, TcpFlags.ACK | TcpFlags.PSH, 512, 0, (), b"x" * 10)
    assert format_segment(data, A, B, seq_base=1000, ack_base=6) == (
        "IP 192.168.0.1.8080 > 192.0.2.1.50000: Flags [P.], seq 1:11, ack 1, win 512, length 10"
    )
    ack = TcpSegment(8080, 50000, 5, 2, TcpFlags.ACK, 100, 0, (Nop(), Nop(), Sack(((5, 9),))))
    assert format_segment(ack, "fd3d::1", "2001:db8::1", ipv6=True) == (
        "IP6 fd3d::1.8080 > 2001:db8::1.50000: Flags [.], ack 2, win 100, "
        "options [nop,nop,sack 1 {5:9}], length 0"
    )
    assert format_segment(ack, A, B, always_seq=True).startswith(
        "IP 192.168.0.1.8080 > 192.0.2.1.50000: Flags [.], seq 5, ack 2,"
    )
    rst = TcpSegment(8080, 50000, 0xFFFFFFFF, 0, TcpFlags.RST, 0)
    line = format_segment(rst, A, B, seq_base=0xFFFFFFF0)
    assert line.endswith("Flags [R], seq 15, win 0, length 0")


def test_tcpdump_flag_letters_in_tcpdump_order() -> None:
    ecn_synack = TcpSegment(8080, 50000, 0, 1, TcpFlags(0xD2), 65535)
    assert "Flags [S.EW], seq 0, ack 1," in format_segment(ecn_synack, A, B)
    syn_fin = TcpSegment(8080, 50000, 0, 0, TcpFlags.SYN | TcpFlags.FIN, 0)
    assert "Flags [FS], seq 0," in format_segment(syn_fin, A, B)
    urgent = TcpSegment(8080, 50000, 0, 0, TcpFlags.ACK | TcpFlags.URG, 0, 3)
    assert "Flags [.U], ack 0, win 0, urg 3," in format_segment(urgent, A, B)
    # tcpdump 4.99 shows only the low eight bits: AE alone is "none".
    ae = TcpSegment(8080, 50000, 0, 0, TcpFlags.AE, 0)
    assert "Flags [none], seq 0," in format_segment(ae, A, B)


def test_script_forms() -> None:
    assert script_flags("SEW") == TcpFlags.SYN | TcpFlags.ECE | TcpFlags.CWR
    assert script_flags("F.") == TcpFlags.FIN | TcpFlags.ACK
    spec = PacketSpec(">", "S.", 0, 0, ack=1, window=65535,
                      options=(OptionSpec("mss", (1460,)), OptionSpec("sackOK")))
    assert format_packet_spec(spec) == "> S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK>"
    assert format_packet_spec(PacketSpec(">", "P.", None, 5, options=None)) == "> P. ...(5) <...>"
