"""The stage every scenario runs on: a client and a server host joined by one simulated link, a tap
on the client's interface (where the seed's tcpdump ran) and a transcript that interleaves the
tcpdump line of every segment with the programs' socket calls and both endpoints' state changes.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synack.net.faults import Faults, packet_info
from synack.net.sim import LINKTYPE_RAW, Network, Node, Tap, TapRecord
from synack.scenarios.sockets import Endpoint
from synack.tcp.config import TcpConfig
from synack.tcp.state import State
from synack.wire.seq import seq_diff
from synack.wire.tcp import ACK, SYN

# 12:49:33.192719 is when the seed's capture (004) shows the client's SYN leave.
SEED_START_NS = int(
    dt.datetime(2021, 6, 1, 12, 49, 33, 192719, tzinfo=dt.UTC).timestamp() * 1_000_000
) * 1000

CLIENT_ADDR = "192.168.0.60"
SERVER_ADDR = "192.168.0.61"


def linux_config(**changes: Any) -> TcpConfig:
    """TcpConfig with Linux's defaults (what the seed's hosts ran), plus scenario changes."""
    config = TcpConfig()
    for name, value in changes.items():
        if not hasattr(config, name):
            raise AttributeError(f"TcpConfig has no field {name!r}")
        setattr(config, name, value)
    return config


@dataclass(frozen=True, slots=True)
class Entry:
    """One transcript line: a segment on the wire (kind "packet") or a note (kind "note") from
    an actor ("client", "server", "network")."""

    timestamp_ns: int
    kind: str
    actor: str
    text: str
    outgoing: bool = False


@dataclass(slots=True)
class Transcript:
    entries: list[Entry] = field(default_factory=list)

    @property
    def packet_lines(self) -> list[str]:
        return [e.text for e in self.entries if e.kind == "packet"]

    @property
    def notes(self) -> list[str]:
        return [f"{e.actor}: {e.text}" for e in self.entries if e.kind == "note"]

    def plain(self) -> str:
        """The transcript as plain text: tcpdump lines as printed, notes indented under them."""
        return "\n".join(text for _, text in render(self.entries))


NOTE_INDENT = 16  # the width of a tcpdump timestamp and its space
GAP_NS = 1_000_000  # a note this long after the previous line shows the time that passed


def render(entries: list[Entry]) -> list[tuple[Entry, str]]:
    """Each entry with its line: tcpdump lines as they are; notes indented, and prefixed with
    the time elapsed ("+240.000s") when at least a millisecond passed since the line before."""
    out = []
    last: int | None = None
    for entry in entries:
        if entry.kind == "packet":
            text = entry.text
        else:
            gap = "" if last is None else _gap(entry.timestamp_ns - last)
            text = f"{gap:>{NOTE_INDENT - 1}} {entry.actor:<7} {entry.text}"
        last = entry.timestamp_ns
        out.append((entry, text))
    return out


def _gap(ns: int) -> str:
    return f"+{ns / 1e9:.3f}s" if ns >= GAP_NS else ""


class Lab:
    """Two hosts on one link, with programs, a capture tap and a transcript."""

    def __init__(
        self,
        seed: int = 0,
        *,
        delay: float = 0.000122,
        start_ns: int | None = None,
        client_config: TcpConfig | None = None,
        server_config: TcpConfig | None = None,
        faults: Faults | None = None,
        faults_back: Faults | None = None,
        bandwidth: float | None = None,
        tx_delay: float = 0.000020,
        latency: float = 0.000020,
        client_addr: str = CLIENT_ADDR,
        server_addr: str = SERVER_ADDR,
    ) -> None:
        from synack.host import Host

        self.seed = seed
        if start_ns is None:  # the first segment of the seed leaves at the seed's first timestamp
            start_ns = SEED_START_NS - round(tx_delay * 1e9)
        self.net = Network(seed, start_ns=start_ns)
        self.transcript = Transcript()
        self.client_addr = client_addr
        self.server_addr = server_addr
        self.client_host = Host(
            [client_addr], config=client_config or linux_config(),
            secret=f"synack-sim-{seed}-client".encode(),
        )
        self.server_host = Host(
            [server_addr], config=server_config or linux_config(),
            secret=f"synack-sim-{seed}-server".encode(),
        )
        self.client_node: Node = self.net.add_host(
            "client", self.client_host, [client_addr], tx_delay=tx_delay
        )
        self.server_node: Node = self.net.add_host(
            "server", self.server_host, [server_addr], tx_delay=tx_delay
        )
        self.link = self.net.link(
            self.client_node, self.server_node, delay=delay, bandwidth=bandwidth,
            faults=faults, faults_ba=faults_back,
        )
        self.tap: Tap = self.net.tap(self.client_node)
        self._formatter: Any = None
        self.tap.listeners.append(self._packet)
        self.net.notes.append(self._note)
        self.transitions: list[tuple[str, State, State]] = []
        """(actor, old, new) for both endpoints, in the order they happened."""
        self.client = Endpoint(
            self.net, self.client_node, "client", self._note, latency, self.transitions
        )
        self.server = Endpoint(
            self.net, self.server_node, "server", self._note, latency, self.transitions
        )

    # -- transcript ----------------------------------------------------------------------------

    def _note(self, actor: str, text: str) -> None:
        self.transcript.entries.append(Entry(self.net.timestamp_ns(), "note", actor, text))

    def _packet(self, rec: TapRecord) -> None:
        if self._formatter is None:
            from synack.capture.tcpdump import TcpdumpFormatter

            self._formatter = TcpdumpFormatter()
        line = self._formatter.format(rec.timestamp_ns, LINKTYPE_RAW, rec.data)
        if line is None:
            line = f"{_clock(rec.timestamp_ns)} (not TCP, {len(rec.data)} bytes)"
        self.transcript.entries.append(
            Entry(rec.timestamp_ns, "packet", "", line, outgoing=rec.outgoing)
        )

    # -- running -------------------------------------------------------------------------------

    def spawn(
        self,
        endpoint: Endpoint,
        program: Callable[[Endpoint], Coroutine[Any, Any, Any]],
        at: float = 0.0,
    ) -> None:
        endpoint.spawn(program, at)

    def run(self, until: float | None = None) -> None:
        self.net.run(until)
        errors = self.client.errors + self.server.errors
        unexpected = [e for e in errors if not isinstance(e, OSError)]
        if unexpected:
            raise unexpected[0]

    @property
    def records(self) -> list[TapRecord]:
        return self.tap.records

    def write_pcap(self, path: str | Path) -> None:
        self.tap.write(path)

    def segments(self) -> list[str]:
        """Every captured segment as "c>s [flags] seq S ack A len N", with sequence numbers
        relative to the sender's latest SYN (signed, so an old duplicate shows up negative)."""
        return summarize(self.records, self.client_addr)

    def state_changes(self) -> list[str]:
        return [f"{actor} {old}>{new}" for actor, old, new in self.transitions]


def summarize(records: list[TapRecord], client_addr: str) -> list[str]:
    client = ipaddress.ip_address(client_addr).packed
    isn: dict[tuple[bytes, int], int] = {}
    out = []
    for rec in records:
        info = packet_info(rec.data)
        if info is None:
            out.append(f"? {len(rec.data)} bytes")
            continue
        me, peer = (info.src, info.src_port), (info.dst, info.dst_port)
        if info.flags & SYN:
            isn[me] = info.seq
        arrow = "c>s" if info.src == client else "s>c"
        text = f"{arrow} [{info.flag_text}] seq {_rel(info.seq, isn.get(me))}"
        if info.flags & ACK:
            text += f" ack {_rel(info.ack, isn.get(peer))}"
        out.append(f"{text} len {info.payload_len}")
    return out


def _rel(value: int, base: int | None) -> int:
    return value if base is None else seq_diff(value, base)


def _clock(timestamp_ns: int) -> str:
    t = dt.datetime.fromtimestamp(timestamp_ns // 1000 / 1_000_000, tz=dt.UTC)
    return t.strftime("%H:%M:%S.%f")
