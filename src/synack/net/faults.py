"""Fault injection for simulated links: random loss, reordering, duplication, corruption, and
scripted rules that drop or delay chosen segments (in the spirit of smoltcp's `FaultInjector`).

Every random decision is drawn from the network's seeded `random.Random`, in a fixed order per
packet, so a run is reproducible byte for byte.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from synack.wire.seq import seq_diff
from synack.wire.tcp import ACK, FIN, PSH, RST, SYN, flag_letters

# The control bits stay importable from here (wire.tcp defines them).
__all__ = [
    "ACK", "FIN", "PSH", "RST", "SYN", "Faults", "Matcher", "PacketInfo", "Rule", "match",
    "packet_info",
]


@dataclass(frozen=True, slots=True)
class PacketInfo:
    """The few IP/TCP header fields that fault rules match on (decoded without the wire codec, so a
    corrupted packet never raises here)."""

    src: bytes
    dst: bytes
    src_port: int
    dst_port: int
    seq: int
    ack: int
    flags: int
    payload_len: int

    @property
    def flag_text(self) -> str:
        """The flags as tcpdump prints them between brackets ("S", "S.", "P.", "F.", "R", ".",
        "S.E", "none")."""
        return flag_letters(self.flags)


def packet_info(data: bytes) -> PacketInfo | None:
    """Decode an IPv4 or IPv6 packet's addresses and TCP header fields; None if it is not TCP."""
    if len(data) < 20:
        return None
    version = data[0] >> 4
    if version == 4:
        ihl = (data[0] & 0x0F) * 4
        if data[9] != 6 or ihl < 20:
            return None
        total = int.from_bytes(data[2:4], "big")
        src, dst, off = data[12:16], data[16:20], ihl
    elif version == 6:
        if len(data) < 40 or data[6] != 6:
            return None
        total = 40 + int.from_bytes(data[4:6], "big")
        src, dst, off = data[8:24], data[24:40], 40
    else:
        return None
    if len(data) < off + 20:
        return None
    tcp = data[off:]
    header_len = (tcp[12] >> 4) * 4
    return PacketInfo(
        src=bytes(src),
        dst=bytes(dst),
        src_port=int.from_bytes(tcp[0:2], "big"),
        dst_port=int.from_bytes(tcp[2:4], "big"),
        seq=int.from_bytes(tcp[4:8], "big"),
        ack=int.from_bytes(tcp[8:12], "big"),
        flags=int.from_bytes(tcp[12:14], "big") & 0x1FF,
        payload_len=max(0, min(total, len(data)) - off - header_len),
    )


Matcher = Callable[[PacketInfo], bool]


@dataclass(slots=True)
class Rule:
    """A scripted fault: the next `count` packets accepted by `match` are dropped (delay is None)
    or held back for `delay` seconds. `duplicate` sends the original on time and a copy `delay`
    seconds later instead (an old duplicate still in the network); `more_copies` adds copies at
    further delays."""

    match: Matcher
    delay: float | None = None
    count: int = 1
    duplicate: bool = False
    label: str = ""
    more_copies: tuple[float, ...] = ()
    hits: int = 0


@dataclass(slots=True)
class Faults:
    """Random impairments of one direction of a link, each a probability per packet."""

    loss: float = 0.0
    reorder: float = 0.0
    duplicate: float = 0.0
    corrupt: float = 0.0
    reorder_delay: float = 0.002
    """A reordered packet is held back by up to this many seconds, so later ones overtake it."""
    rules: list[Rule] = field(default_factory=list)

    def add_rule(self, rule: Rule) -> Rule:
        self.rules.append(rule)
        return rule

    def apply(
        self, data: bytes, rng: random.Random, note: Callable[[str], None] | None = None
    ) -> list[tuple[float, bytes]]:
        """What the link delivers for one packet: (extra delay, bytes) for each copy, [] if lost."""
        if self.rules:
            info = packet_info(data)
            if info is not None:
                for rule in self.rules:
                    if rule.hits < rule.count and rule.match(info):
                        rule.hits += 1
                        return self._apply_rule(rule, info, data, note)
        random_ = rng.random
        if self.loss and random_() < self.loss:
            return []
        extra = 0.0
        if self.reorder and random_() < self.reorder:
            extra = random_() * self.reorder_delay
        if self.corrupt and random_() < self.corrupt:
            # Flip one byte: any single-byte change alters the one's complement sum, so the
            # IP or TCP checksum must catch it (RFC 1071).
            pos = rng.randrange(len(data))
            buf = bytearray(data)
            buf[pos] ^= rng.randrange(1, 256)
            data = bytes(buf)
        if self.duplicate and random_() < self.duplicate:
            return [(extra, data), (extra + random_() * self.reorder_delay, data)]
        return [(extra, data)]

    @staticmethod
    def _apply_rule(
        rule: Rule, info: PacketInfo, data: bytes, note: Callable[[str], None] | None
    ) -> list[tuple[float, bytes]]:
        what = rule.label or f"[{info.flag_text}] segment"
        if rule.delay is None:
            if note is not None:
                note(f"drops the {what}")
            return []
        if rule.duplicate:
            delays = (rule.delay, *rule.more_copies)
            if note is not None:
                when = ", ".join(f"{d:g}" for d in delays)
                copies = "a copy" if len(delays) == 1 else f"{len(delays)} copies"
                note(f"keeps {copies} of the {what} (delivered after {when} s)")
            return [(0.0, data)] + [(d, data) for d in delays]
        if note is not None:
            note(f"holds the {what} back for {rule.delay:g} s")
        return [(rule.delay, data)]


def match(
    *,
    flags: str | None = None,
    src_port: int | None = None,
    dst_port: int | None = None,
    payload: bool | None = None,
    seq: int | None = None,
    skip: int = 0,
) -> Matcher:
    """A matcher on tcpdump-style flags ("S", "S.", ".", "P.", "F." ...), ports, whether the
    segment carries data, and an absolute sequence number; `skip` lets that many matches pass."""
    seen = [0]

    def matcher(info: PacketInfo) -> bool:
        if flags is not None and info.flag_text != flags:
            return False
        if src_port is not None and info.src_port != src_port:
            return False
        if dst_port is not None and info.dst_port != dst_port:
            return False
        if payload is not None and (info.payload_len > 0) != payload:
            return False
        if seq is not None and seq_diff(info.seq, seq) != 0:
            return False
        seen[0] += 1
        return seen[0] > skip

    return matcher
