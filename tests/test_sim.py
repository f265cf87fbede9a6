"""The simulated network on its own: clock, links, faults, timers and taps, with scripted hosts."""

from __future__ import annotations

import itertools
import random
import struct

import pytest

from synack.net.faults import Faults, Rule, match, packet_info
from synack.net.sim import Network


def ipv4_tcp(
    src: str, dst: str, sport: int, dport: int, seq: int, flags: int, payload: bytes
) -> bytes:
    """A minimal IPv4+TCP packet (checksums zero: these hosts do not check them)."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, flags, 1000, 0, 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0,
        bytes(int(x) for x in src.split(".")), bytes(int(x) for x in dst.split(".")),
    )
    return ip + tcp


class Recorder:
    """A host that records arrivals, sends what it is told, and fires scripted timers."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, bytes]] = []
        self.outbox: list[bytes] = []
        self.deadlines: list[float] = []
        self.fired: list[float] = []

    def receive_packet(self, data: bytes, now: float) -> None:
        self.arrivals.append((now, data))

    def packets_to_send(self) -> list[bytes]:
        out, self.outbox = self.outbox, []
        return out

    def next_deadline(self) -> float | None:
        return self.deadlines[0] if self.deadlines else None

    def handle_timer(self, now: float) -> None:
        while self.deadlines and self.deadlines[0] <= now:
            self.fired.append(now)
            self.deadlines.pop(0)


def pair(seed: int = 1, **link: object) -> tuple[Network, Recorder, Recorder]:
    net = Network(seed)
    a, b = Recorder(), Recorder()
    na = net.add_host("a", a, ["10.0.0.1"])
    nb = net.add_host("b", b, ["10.0.0.2"])
    net.link(na, nb, **link)  # type: ignore[arg-type]
    return net, a, b


def send(net: Network, host: Recorder, *packets: bytes) -> None:
    node = next(n for n in net.nodes.values() if n.host is host)
    host.outbox.extend(packets)
    net.interact(node, lambda: None)


def pkt(n: int, size: int = 100, sport: int = 1000) -> bytes:
    return ipv4_tcp("10.0.0.1", "10.0.0.2", sport, 80, n, 0x18, bytes(size))


def test_delay_is_one_way_and_time_is_virtual() -> None:
    net, a, b = pair(delay=0.25)
    send(net, a, pkt(1))
    net.run()
    assert b.arrivals == [(0.25, pkt(1))]
    assert net.now == 0.25


def test_bandwidth_serializes_back_to_back_packets() -> None:
    net, a, b = pair(delay=0.01, bandwidth=8_000_000)  # 1 byte per microsecond
    send(net, a, pkt(1, 960), pkt(2, 960))  # 1000 bytes each on the wire
    net.run()
    assert [round(t, 9) for t, _ in b.arrivals] == [0.011, 0.012]


def test_queue_limit_tail_drops() -> None:
    net, a, b = pair(bandwidth=8_000, queue_limit=2)
    send(net, a, pkt(1), pkt(2), pkt(3), pkt(4))
    net.run()
    assert [packet_info(d).seq for _, d in b.arrivals] == [1, 2]  # type: ignore[union-attr]
    assert net.links[0].ab.dropped_queue == 2


def test_timers_fire_at_deadline_without_sleeping() -> None:
    net, a, _ = pair()
    a.deadlines = [5.0, 120.5]
    send(net, a)
    net.run()
    assert a.fired == [5.0, 120.5]


def test_run_until_stops_the_clock() -> None:
    net, a, b = pair(delay=1.0)
    send(net, a, pkt(1))
    net.run(until=0.5)
    assert net.now == 0.5 and b.arrivals == []
    net.run()
    assert len(b.arrivals) == 1


def lossy_run(seed: int) -> list[tuple[float, bytes]]:
    faults = Faults(loss=0.1, reorder=0.1, duplicate=0.1, corrupt=0.1, reorder_delay=0.005)
    net, a, b = pair(seed, delay=0.001, faults=faults)
    send(net, a, *(pkt(i) for i in range(2000)))
    net.run()
    return b.arrivals


def test_same_seed_same_bytes_and_times() -> None:
    assert lossy_run(7) == lossy_run(7)
    assert lossy_run(7) != lossy_run(8)


def test_fault_rates_follow_probabilities() -> None:
    originals = {pkt(i): i for i in range(2000)}
    arrivals = [d for _, d in lossy_run(3)]
    intact = [originals[d] for d in arrivals if d in originals]
    corrupted = len(arrivals) - len(intact)
    lost = 2000 - len(set(intact)) - corrupted
    dup = len(intact) - len(set(intact))
    assert 140 <= lost <= 260
    assert 140 <= dup <= 260
    assert 140 <= corrupted <= 260
    out_of_order = sum(1 for x, y in itertools.pairwise(intact) if y < x)
    assert out_of_order > 100


def test_corruption_flips_exactly_one_byte() -> None:
    faults = Faults(corrupt=1.0)
    rng = random.Random(5)
    original = pkt(9)
    for _ in range(50):
        [(_, data)] = faults.apply(original, rng)
        assert len(data) == len(original)
        assert sum(x != y for x, y in zip(data, original, strict=True)) == 1


def test_rules_drop_and_delay_chosen_segments() -> None:
    faults = Faults()
    faults.add_rule(Rule(match(seq=2)))
    faults.add_rule(Rule(match(seq=3), delay=1.0))
    faults.add_rule(Rule(match(seq=4), delay=2.0, duplicate=True))
    net, a, b = pair(delay=0.1, faults=faults)
    notes: list[str] = []
    net.notes.append(lambda who, text: notes.append(text))
    send(net, a, pkt(1), pkt(2), pkt(3), pkt(4), pkt(5))
    net.run()
    got = [(round(t, 6), packet_info(d).seq) for t, d in b.arrivals]  # type: ignore[union-attr]
    assert got == [(0.1, 1), (0.1, 4), (0.1, 5), (1.1, 3), (2.1, 4)]
    assert notes == [
        "drops the [P.] segment",
        "holds the [P.] segment back for 1 s",
        "keeps a copy of the [P.] segment (delivered after 2 s)",
    ]


def test_match_skip_and_flags() -> None:
    m = match(flags="P.", skip=1)
    infos = [packet_info(pkt(i)) for i in range(3)]
    assert [m(i) for i in infos if i] == [False, True, True]
    syn = packet_info(ipv4_tcp("1.1.1.1", "2.2.2.2", 1, 2, 0, 0x02, b""))
    assert syn is not None and syn.flag_text == "S" and syn.payload_len == 0


@pytest.mark.parametrize(
    ("flags", "text"),
    [(0xD2, "S.EW"), (0x52, "S.E"), (0xC2, "SEW"), (0x03, "FS"), (0x30, ".U"), (0x00, "none"),
     (0x14, "R."), (0x11, "F.")],
)
def test_flag_text_is_tcpdumps_and_rules_match_it(flags: int, text: str) -> None:
    info = packet_info(ipv4_tcp("1.1.1.1", "2.2.2.2", 1, 2, 0, flags, b""))
    assert info is not None and info.flag_text == text
    assert match(flags=text)(info)
    # ECN bits are part of the text: a rule for a plain SYN-ACK leaves an ECN-setup one alone.
    assert match(flags="S.")(info) == (flags == 0x12)


def test_tap_sees_sent_and_received_with_capture_timestamps() -> None:
    net, a, b = pair(delay=0.000264)
    net.start_ns = 1_622_551_773_192_719_000
    node_b = net.nodes["b"]
    tap = net.tap(node_b)
    send(net, a, pkt(1))
    net.run()
    b.outbox.append(pkt(2))
    net.interact(node_b, lambda: None)
    net.run()
    assert [(r.timestamp_ns, r.outgoing) for r in tap.records] == [
        (1_622_551_773_192_983_000, False),
        (1_622_551_773_192_983_000, True),
    ]


def test_packet_info_ignores_garbage() -> None:
    assert packet_info(b"") is None
    assert packet_info(b"\x45" + bytes(10)) is None
    assert packet_info(bytes(60)) is None
    with pytest.raises(ValueError):
        Network().add_host("x", Recorder(), ["not an address"])


def test_packet_info_reads_ipv6() -> None:
    tcp = struct.pack("!HHIIBBHHH", 443, 5000, 7, 9, 5 << 4, 0x12, 100, 0, 0) + b"xy"
    ip6 = struct.pack("!IHBB16s16s", 6 << 28, len(tcp), 6, 64, bytes(15) + b"\x01",
                      bytes(15) + b"\x02")
    info = packet_info(ip6 + tcp)
    assert info is not None
    assert (info.src_port, info.dst_port, info.seq, info.ack) == (443, 5000, 7, 9)
    assert (info.flag_text, info.payload_len) == ("S.", 2)


def test_routes_by_destination_address() -> None:
    net = Network(0)
    hosts = [Recorder() for _ in range(3)]
    nodes = [net.add_host(f"h{i}", h, [f"10.0.0.{i + 1}"]) for i, h in enumerate(hosts)]
    net.link(nodes[0], nodes[1], delay=0.1)
    net.link(nodes[0], nodes[2], delay=0.2)
    hosts[0].outbox = [ipv4_tcp("10.0.0.1", "10.0.0.3", 1, 2, 5, 0x10, b""),
                       ipv4_tcp("10.0.0.1", "10.0.0.2", 1, 2, 6, 0x10, b"")]
    net.interact(nodes[0], lambda: None)
    net.run()
    assert [(t, packet_info(d).seq) for t, d in hosts[1].arrivals] == [(0.1, 6)]  # type: ignore[union-attr]
    assert [(t, packet_info(d).seq) for t, d in hosts[2].arrivals] == [(0.2, 5)]  # type: ignore[union-attr]


class Stuck(Recorder):
    """A host whose deadline never moves past now: the network must not spin forever."""

    def next_deadline(self) -> float | None:
        return 1.0

    def handle_timer(self, now: float) -> None:
        self.fired.append(now)


def test_a_stuck_host_timer_is_reported() -> None:
    net = Network(0)
    host = Stuck()
    node = net.add_host("stuck", host, ["10.0.0.9"])
    net.interact(node, lambda: None)
    with pytest.raises(RuntimeError, match="does not advance"):
        net.run()
    assert len(host.fired) > 1000


def test_events_run_in_time_then_scheduling_order() -> None:
    """Events for the current instant run in the order they were scheduled, after any event of
    the same instant scheduled before them (here one for t=1 scheduled at t=0), and before
    later ones; `step`, `run(until=)` and `idle` see both kinds."""
    net = Network(0)
    order: list[tuple[float, str]] = []

    def record(name: str) -> None:
        order.append((net.now, name))

    def at_one() -> None:
        record("first at 1")
        net.call_later(0.0, record, "third at 1")
        net.call_at(0.5, record, "fourth at 1 (asked for the past)")
        net.call_later(1.0, record, "at 2")

    net.call_at(1.0, at_one)
    net.call_at(1.0, record, "second at 1")
    net.call_later(0.0, record, "at 0")
    assert net.step() and order == [(0.0, "at 0")]
    net.run(until=1.5)
    assert net.now == 1.5 and not net.idle
    assert order[1:] == [
        (1.0, "first at 1"), (1.0, "second at 1"), (1.0, "third at 1"),
        (1.0, "fourth at 1 (asked for the past)"),
    ]
    net.run()
    assert order[-1] == (2.0, "at 2") and net.idle and not net.step()
