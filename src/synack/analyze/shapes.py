"""Crafted connections of known shape, with the truth the observer must find in them.

Each shape is a short list of IP packets (built with synack's codec, checksums valid) and, per
connection, the RFC 9293 states both endpoints must end in and how the handshake and the close
went. They cover the handshakes and closes of RFC 9293 §3.5-§3.6 (refused, unanswered with
retransmitted SYNs, simultaneous open, 4-way and 3-segment close, simultaneous close, RST in the
middle, half-close, a capture that missed the start) and the situations Wireshark's analysis
flags describe. `write_shapes` writes them as pcap files for tests and demos.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from synack.capture.writer import open_writer
from synack.wire.ip import build_tcp_packet
from synack.wire.link import LinkType
from synack.wire.tcp import TcpFlags, TcpSegment

_FLAGS = {"S": TcpFlags.SYN, "A": TcpFlags.ACK, "F": TcpFlags.FIN, "R": TcpFlags.RST,
          "P": TcpFlags.PSH}
M = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class Truth:
    """What must be inferred for one connection."""

    orig_state: str
    resp_state: str
    handshake: str
    close: str


@dataclass(slots=True)
class Shape:
    name: str
    index: int = 0  # shapes of different indexes use different addresses
    packets: list[tuple[float, bytes]] = field(default_factory=list)
    truth: list[Truth] = field(default_factory=list)


def _renumber(addr: str, index: int) -> str:
    """A distinct address per shape index: 10.0.0.x -> 10.<i>.0.x, 2001:db8:: -> 2001:db8:<i>::."""
    if ":" in addr:
        return addr.replace("2001:db8::", f"2001:db8:{index:x}::")
    a, _b, c, d = addr.split(".")
    return f"{a}.{index}.{c}.{d}"


class Flow:
    """Two endpoints exchanging segments; sequence numbers follow unless given."""

    def __init__(
        self, shape: Shape, client: str = "10.0.0.1", server: str = "10.0.0.2",
        cport: int = 40000, sport: int = 80, isn_c: int = 0xFFFFF000, isn_s: int = 0x10000,
        t0: float | None = None,
    ) -> None:
        self.shape = shape
        if shape.index:
            client, server = _renumber(client, shape.index), _renumber(server, shape.index)
        self.addr = (ipaddress.ip_address(client), ipaddress.ip_address(server))
        self.port = (cport, sport)
        self.nxt = [isn_c, isn_s]
        self.win = [64240, 65160]
        self.t = 1_700_000_000.0 + 1000.0 * shape.index if t0 is None else t0

    def _send(
        self, side: int, flags: str, data: bytes, dt: float, seq: int | None, ack: int | None,
        win: int | None,
    ) -> None:
        self.t += dt
        f = TcpFlags(0)
        for ch in flags:
            f |= _FLAGS[ch]
        s = self.nxt[side] if seq is None else seq
        a = self.nxt[1 - side] if ack is None else ack
        seg = TcpSegment(
            self.port[side], self.port[1 - side], s & M, (a & M) if "A" in flags else 0, f,
            self.win[side] if win is None else win, payload=data,
        )
        pkt = build_tcp_packet(self.addr[side], self.addr[1 - side], seg)
        self.shape.packets.append((self.t, pkt))
        end = (s + len(data) + ("S" in flags) + ("F" in flags)) & M
        if seq is None or ((end - self.nxt[side]) & M) < 1 << 31:
            self.nxt[side] = end

    def c(self, flags: str, data: bytes = b"", dt: float = 0.010, seq: int | None = None,
          ack: int | None = None, win: int | None = None) -> None:
        """The client (originator) sends."""
        self._send(0, flags, data, dt, seq, ack, win)

    def s(self, flags: str, data: bytes = b"", dt: float = 0.010, seq: int | None = None,
          ack: int | None = None, win: int | None = None) -> None:
        """The server (responder) sends."""
        self._send(1, flags, data, dt, seq, ack, win)

    def handshake(self) -> None:
        self.c("S")
        self.s("SA")
        self.c("A")


def _four_way(sh: Shape) -> None:
    f = Flow(sh)
    f.handshake()
    f.c("PA", b"GET / HTTP/1.1\r\n\r\n")
    f.s("A")
    f.s("PA", b"HTTP/1.1 200 OK\r\n\r\n")
    f.c("A")
    f.c("FA")
    f.s("A")
    f.s("FA", dt=0.05)
    f.c("A")
    sh.truth.append(Truth("TIME_WAIT", "CLOSED", "completed", "four_way"))


def _three_segment(sh: Shape) -> None:
    f = Flow(sh, client="2001:db8::1", server="2001:db8::2", cport=50123, sport=443)
    f.handshake()
    f.c("PA", b"x" * 100)
    f.s("PA", b"y" * 1000)
    f.c("FA")
    f.s("FA")
    f.c("A")
    sh.truth.append(Truth("TIME_WAIT", "CLOSED", "completed", "three_segment"))


def _simultaneous_close(sh: Shape) -> None:
    f = Flow(sh)
    f.handshake()
    c_fin = f.nxt[0]
    f.c("FA")
    f.s("FA", dt=0.0001, ack=c_fin)  # crosses the client's FIN
    f.c("A", dt=0.01)
    f.s("A", dt=0.0001)
    sh.truth.append(Truth("TIME_WAIT", "TIME_WAIT", "completed", "simultaneous"))


def _refused(sh: Shape) -> None:
    f = Flow(sh, sport=81)
    f.c("S")
    f.s("RA", seq=0)
    sh.truth.append(Truth("CLOSED", "CLOSED", "refused", "reset_by_resp"))


def _unanswered(sh: Shape) -> None:
    f = Flow(sh, sport=8080)
    isn = f.nxt[0]
    f.c("S")
    f.c("S", dt=1.0, seq=isn)
    f.c("S", dt=2.0, seq=isn)
    sh.truth.append(Truth("SYN_SENT", "LISTEN", "unanswered", "none"))


def _rst_mid(sh: Shape) -> None:
    f = Flow(sh)
    f.handshake()
    f.c("PA", b"hello")
    f.s("A")
    f.s("RA", dt=0.2)
    sh.truth.append(Truth("CLOSED", "CLOSED", "completed", "reset_by_resp"))


def _half_close(sh: Shape) -> None:
    f = Flow(sh)
    f.handshake()
    f.c("PA", b"request")
    f.c("FA")
    f.s("A")
    f.s("PA", b"z" * 500)
    f.c("A")
    sh.truth.append(Truth("FIN_WAIT_2", "CLOSE_WAIT", "completed", "half_closed"))


def _close_wait(sh: Shape) -> None:
    f = Flow(sh)
    f.handshake()
    f.s("PA", b"banner\r\n")
    f.c("A")
    f.c("FA", dt=1.0)
    f.s("A")
    sh.truth.append(Truth("FIN_WAIT_2", "CLOSE_WAIT", "completed", "close_wait"))


def _missing_start(sh: Shape) -> None:
    f = Flow(sh, cport=51000, sport=22)
    f.c("PA", b"a" * 48)
    f.s("PA", b"b" * 48)
    f.c("A")
    f.c("PA", b"c" * 48)
    f.s("A")
    sh.truth.append(Truth("ESTABLISHED", "ESTABLISHED", "not_captured", "open"))


def _missing_start_server_first(sh: Shape) -> None:
    # The first packet seen goes from port 80: the originator is inferred from the port.
    f = Flow(sh, cport=52000, sport=80)
    f.s("PA", b"b" * 200)
    f.c("A")
    f.c("FA")
    f.s("FA")
    f.c("A")
    sh.truth.append(Truth("TIME_WAIT", "CLOSED", "not_captured", "three_segment"))


def _ack_lost(sh: Shape) -> None:
    f = Flow(sh)
    f.c("S")
    f.s("SA")
    f.c("PA", b"data without a separate ACK")  # the third segment was not captured
    f.s("A")
    sh.truth.append(Truth("ESTABLISHED", "ESTABLISHED", "completed_by_data", "open"))


def _simultaneous_open(sh: Shape) -> None:
    f = Flow(sh, cport=7000, sport=7001)
    a_isn, b_isn = f.nxt
    f.c("S")
    f.s("S", dt=0.0001, ack=0)
    f.c("SA", seq=a_isn, dt=0.01)
    f.s("SA", seq=b_isn, dt=0.0001)
    f.c("A", dt=0.01)
    f.s("A", dt=0.0001)
    sh.truth.append(Truth("ESTABLISHED", "ESTABLISHED", "simultaneous_open", "open"))


def _syn_then_rst(sh: Shape) -> None:
    f = Flow(sh, sport=25)
    f.c("S")
    f.c("R", dt=0.3)
    sh.truth.append(Truth("CLOSED", "LISTEN", "aborted", "reset_by_orig"))


def _port_reuse(sh: Shape) -> None:
    f = Flow(sh, cport=41000)
    f.handshake()
    f.c("FA")
    f.s("FA")
    f.c("A")
    sh.truth.append(Truth("TIME_WAIT", "CLOSED", "completed", "three_segment"))
    g = Flow(sh, cport=41000, isn_c=0x20000000, isn_s=0x30000000, t0=f.t + 0.5)
    g.handshake()
    g.c("PA", b"again")
    g.s("A")
    sh.truth.append(Truth("ESTABLISHED", "ESTABLISHED", "completed", "open"))


def _retransmissions(sh: Shape) -> None:
    f = Flow(sh, cport=42000)
    f.handshake()
    s0 = f.nxt[0]
    f.c("PA", b"A" * 1000)
    f.c("PA", b"A" * 1000, dt=0.3, seq=s0)  # RTO retransmission
    f.s("A")
    # fast retransmission: a lost segment, three duplicate ACKs, the resend within 20 ms
    s1 = f.nxt[0]
    f.c("A", b"B" * 1000, dt=0.001)
    f.c("A", b"C" * 1000, dt=0.001, seq=s1 + 1000)
    f.c("A", b"D" * 1000, dt=0.001, seq=s1 + 2000)
    f.c("A", b"E" * 1000, dt=0.001, seq=s1 + 3000)
    f.s("A", ack=s1, dt=0.001)
    f.s("A", ack=s1, dt=0.001)
    f.s("A", ack=s1, dt=0.001)
    f.s("A", ack=s1, dt=0.001)
    f.c("A", b"B" * 1000, dt=0.002, seq=s1)
    f.s("A", ack=s1 + 4000, dt=0.01)
    # lost segment, then out of order: the missing one arrives within 3 ms
    s2 = f.nxt[0]
    f.c("A", b"G" * 500, dt=0.01, seq=s2 + 500)
    f.c("A", b"F" * 500, dt=0.0005, seq=s2)
    f.s("A", ack=s2 + 1000, dt=0.01)
    # spurious: a resend of data already acknowledged
    f.c("A", b"F" * 500, dt=0.2, seq=s2)
    f.s("A", dt=0.01)
    sh.truth.append(Truth("ESTABLISHED", "ESTABLISHED", "completed", "open"))


def _windows(sh: Shape) -> None:
    f = Flow(sh, cport=43000)
    f.handshake()
    f.c("PA", b"Q" * 2000)
    f.s("A", win=0)  # zero window
    base = f.nxt[0]
    f.c("A", b"Q", dt=0.2)  # zero-window probe
    f.nxt[0] = base
    f.s("A", win=0, dt=0.001)  # zero-window probe ACK
    f.s("A", win=8192, dt=0.5)  # window update
    f.c("PA", b"R" * 100)
    f.s("A", win=8192)
    # keep-alive and its ACK
    f.c("A", seq=f.nxt[0] - 1, dt=5.0)
    f.s("A", win=8192, dt=0.001)
    # duplicate ACK (same ack and window, no data)
    f.s("A", win=8192, dt=0.5)
    sh.truth.append(Truth("ESTABLISHED", "ESTABLISHED", "completed", "open"))


def _rst_in_close(sh: Shape) -> None:
    f = Flow(sh, cport=44000)
    f.handshake()
    f.c("FA")
    f.s("A")
    f.s("RA", dt=0.1)
    sh.truth.append(Truth("CLOSED", "CLOSED", "completed", "reset_by_resp"))


def _capture_gap(sh: Shape) -> None:
    # A segment the capture missed but the receiver got: acknowledged without being seen.
    f = Flow(sh, cport=45000)
    f.handshake()
    s0 = f.nxt[0]
    f.c("PA", b"a" * 100)
    f.c("PA", b"c" * 100, seq=s0 + 200)
    f.s("A", ack=s0 + 300)
    f.c("FA")
    f.s("FA")
    f.c("A")
    sh.truth.append(Truth("TIME_WAIT", "CLOSED", "completed", "three_segment"))


def _same_isn_again(sh: Shape) -> None:
    # A closed connection's ports and initial sequence number used again: Zeek starts a new
    # record, Wireshark goes on with the same stream.
    f = Flow(sh, cport=46000, isn_c=1000, isn_s=5000)
    f.handshake()
    f.c("FA")
    f.s("FA")
    f.c("A")
    sh.truth.append(Truth("TIME_WAIT", "CLOSED", "completed", "three_segment"))
    g = Flow(sh, cport=46000, isn_c=1000, isn_s=9000, t0=f.t + 1.0)
    g.handshake()
    g.c("PA", b"x" * 10)
    g.s("A")
    sh.truth.append(Truth("ESTABLISHED", "ESTABLISHED", "completed", "open"))


SHAPES: dict[str, Callable[[Shape], None]] = {
    "four_way": _four_way,
    "three_segment_ipv6": _three_segment,
    "simultaneous_close": _simultaneous_close,
    "refused": _refused,
    "unanswered": _unanswered,
    "rst_mid": _rst_mid,
    "half_close": _half_close,
    "close_wait": _close_wait,
    "missing_start": _missing_start,
    "missing_start_server_first": _missing_start_server_first,
    "ack_lost": _ack_lost,
    "simultaneous_open": _simultaneous_open,
    "syn_then_rst": _syn_then_rst,
    "port_reuse": _port_reuse,
    "retransmissions": _retransmissions,
    "windows": _windows,
    "rst_in_close": _rst_in_close,
    "capture_gap": _capture_gap,
    "same_isn_again": _same_isn_again,
}


def build(name: str, index: int = 0) -> Shape:
    shape = Shape(name, index)
    SHAPES[name](shape)
    return shape


def build_all() -> list[Shape]:
    """Every shape, each on its own addresses and 1000 s after the previous one."""
    return [build(name, i + 1) for i, name in enumerate(SHAPES)]


def write_merged(path: str | Path) -> list[Shape]:
    """All shapes in one capture (distinct addresses, in time order); returns the shapes."""
    shapes = build_all()
    with open_writer(path, int(LinkType.RAW), nanosecond=True) as out:
        for shape in shapes:
            for t, pkt in shape.packets:
                out.write(round(t * 1e9), pkt)
    return shapes


def write_shape(shape: Shape, path: str | Path) -> None:
    """Write a shape's packets as a raw-IP pcap (LINKTYPE_RAW)."""
    with open_writer(path, int(LinkType.RAW), nanosecond=True) as out:
        for t, pkt in shape.packets:
            out.write(round(t * 1e9), pkt)


def write_shapes(directory: str | Path) -> dict[str, Path]:
    """Write every shape to DIRECTORY/<name>.pcap; returns the paths by name."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in SHAPES:
        p = d / f"{name}.pcap"
        write_shape(build(name), p)
        paths[name] = p
    return paths
