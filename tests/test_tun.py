"""The TUN device and namespace helpers against the Linux kernel, inside private namespaces."""

from __future__ import annotations

import errno
import ipaddress
import os
import select
import socket
import subprocess

import pytest

from synack.net import tun
from synack.wire.checksum import internet_checksum, pseudo_header_sum
from synack.wire.ip import build_tcp_packet, parse_tcp_packet
from synack.wire.tcp import Mss, TcpFlags, TcpSegment, tcp_checksum_ok

REASON = tun.tun_unavailable_reason()
needs_tun = pytest.mark.skipif(REASON is not None, reason=f"TUN unavailable: {REASON}")
pytestmark = pytest.mark.root

KERNEL = ipaddress.IPv4Address("192.0.2.1")
SYNACK = ipaddress.IPv4Address("192.0.2.2")


def read_packet(device: tun.Tun, timeout: float = 5.0) -> bytes:
    ready, _, _ = select.select([device.fileno()], [], [], timeout)
    assert ready, "no packet arrived on the TUN device"
    packet = device.read()
    assert packet is not None
    return packet


def read_tcp(device: tun.Tun, port: int) -> tuple[object, TcpSegment]:
    """The next TCP packet to `port` (anything else the kernel sends is skipped)."""
    while True:
        packet = read_packet(device)
        if packet[0] >> 4 == 4 and packet[9] == 6:
            ip, seg = parse_tcp_packet(packet)
            if seg.dst_port == port:
                return ip, seg


def netns_inode() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


def links() -> set[str]:
    """Interfaces of the calling thread's namespace (/sys/class/net shows sysfs's mounter's)."""
    with open("/proc/thread-self/net/dev") as dev:
        return {line.split(":")[0].strip() for line in dev.readlines()[2:]}


def test_complete_checksum_matches_full_computation() -> None:
    seg = TcpSegment(4000, 80, 1, 2, TcpFlags.ACK | TcpFlags.PSH, 500, payload=b"hello, world!")
    full = build_tcp_packet(KERNEL, SYNACK, seg)
    tcp_len = len(full) - 20
    partial = pseudo_header_sum(KERNEL.packed, SYNACK.packed, 6, tcp_len)
    # What the kernel hands over with NEEDS_CSUM: the pseudo-header sum in the checksum field.
    skeleton = full[:36] + (partial).to_bytes(2, "big") + full[38:]
    assert tun.complete_checksum(skeleton, 20, 16) == full
    assert internet_checksum(full[20:], partial) == 0


def test_unavailable_reason_names_missing_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tun, "TUN_PATH", "/nonexistent/tun")
    reason = tun.tun_unavailable_reason()
    assert reason is not None and "/nonexistent/tun does not exist" in reason
    with pytest.raises(tun.TunUnavailableError, match="does not exist"):
        tun.require_tun()


@needs_tun
def test_private_netns_is_isolated_and_left_behind() -> None:
    before = netns_inode()
    with tun.private_netns():
        inside = netns_inode()
        assert inside != before
        with tun.Tun("synacktest0") as device:
            assert device.name == "synacktest0"
            assert links() == {"lo", "synacktest0"}
        assert "synacktest0" not in links()
    assert netns_inode() == before
    assert "synacktest0" not in links()


@needs_tun
def test_kernel_syn_arrives_with_link_mtu_mss() -> None:
    with tun.private_netns(), tun.open_tun_link(tun.TunLink(mtu=9000)) as device:
        client = socket.socket()
        client.setblocking(False)
        with client:
            assert client.connect_ex((str(SYNACK), 8080)) == errno.EINPROGRESS
            ip, seg = read_tcp(device, 8080)
            assert ip.src == KERNEL and ip.dst == SYNACK  # type: ignore[attr-defined]
            assert seg.dst_port == 8080
            assert seg.flags == TcpFlags.SYN
            assert seg.mss == 9000 - 40
            assert tcp_checksum_ok(seg_bytes(ip), KERNEL.packed, SYNACK.packed)


def seg_bytes(ip: object) -> bytes:
    payload = ip.payload  # type: ignore[attr-defined]
    assert isinstance(payload, bytes)
    return payload


@needs_tun
def test_written_syn_ack_completes_kernel_connect_and_rst_refuses() -> None:
    with tun.private_netns(), tun.open_tun_link(tun.TunLink()) as device:
        client = socket.socket()
        client.setblocking(False)
        with client:
            client.connect_ex((str(SYNACK), 8080))
            _, syn = read_tcp(device, 8080)
            synack = TcpSegment(
                8080, syn.src_port, 0xFFFFFF00, (syn.seq + 1) & 0xFFFFFFFF,
                TcpFlags.SYN | TcpFlags.ACK, 1000, options=(Mss(1460),),
            )
            assert device.write(build_tcp_packet(SYNACK, KERNEL, synack))
            _, ack = read_tcp(device, 8080)
            assert ack.flags == TcpFlags.ACK
            assert ack.ack == 0xFFFFFF01
            assert client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
        # A second connection refused by an RST|ACK.
        other = socket.socket()
        other.setblocking(False)
        with other:
            other.connect_ex((str(SYNACK), 8081))
            _, syn = read_tcp(device, 8081)
            rst = TcpSegment(8081, syn.src_port, 0, (syn.seq + 1) & 0xFFFFFFFF,
                             TcpFlags.RST | TcpFlags.ACK, 0)
            device.write(build_tcp_packet(SYNACK, KERNEL, rst))
            select.select([], [other], [], 5)
            assert other.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == errno.ECONNREFUSED
        assert device.packets_written == 2


@needs_tun
def test_vnet_header_with_checksum_offload_is_completed() -> None:
    with tun.private_netns():
        device = tun.open_tun_link(tun.TunLink(), vnet_hdr=True)
        with device:
            device.set_offload(tun.TUN_F_CSUM)
            client = socket.socket()
            client.setblocking(False)
            with client:
                client.connect_ex((str(SYNACK), 8080))
                ip, seg = read_tcp(device, 8080)
                assert seg.flags == TcpFlags.SYN
                assert tcp_checksum_ok(seg_bytes(ip), KERNEL.packed, SYNACK.packed)


@needs_tun
def test_iproute2_fallback_configures_link(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tun, "_pyroute2", lambda: None)
    with tun.private_netns(), tun.Tun("fallback0") as device:
        tun.configure_link(tun.LinkConfig(device.name, "198.51.100.7", 24, mtu=1400))
        tun.add_route("198.51.100.128/25", device=device.name)
        out = subprocess.run(
            ["ip", "-o", "addr", "show", "dev", device.name], capture_output=True, text=True
        ).stdout
        assert "inet 198.51.100.7/24" in out
        link = subprocess.run(
            ["ip", "-o", "link", "show", "dev", device.name], capture_output=True, text=True
        ).stdout
        assert " mtu 1400 " in link
        routes = subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
        assert "198.51.100.128/25 dev fallback0" in routes


@needs_tun
def test_veth_to_nested_namespace_carries_kernel_tcp() -> None:
    with tun.private_netns(), tun.nested_netns() as peer:
        tun.create_veth("va", "vb", peer_netns_fd=peer)
        tun.configure_link(tun.LinkConfig("va", "198.51.100.1", 24))
        assert "vb" not in links()
        with tun.netns_entered(peer):
            assert links() == {"lo", "vb"}
            tun.configure_link(tun.LinkConfig("vb", "198.51.100.2", 24))
            server = socket.create_server(("198.51.100.2", 7000))
        with server, socket.create_connection(("198.51.100.2", 7000), timeout=5) as client:
            conn, addr = server.accept()
            with conn:
                assert addr[0] == "198.51.100.1"
                client.sendall(b"across the pair")
                assert conn.recv(100) == b"across the pair"


@needs_tun
def test_kernel_completes_a_partial_checksum_written_with_vnet_header() -> None:
    """A SYN-ACK whose checksum field holds only the pseudo-header sum (NEEDS_CSUM) is
    completed and accepted by the kernel; with `trust_partial` reads skip the completion."""
    with tun.private_netns():
        device = tun.open_tun_link(tun.TunLink(), vnet_hdr=True)
        with device, socket.socket() as client:
            device.set_offload(tun.TUN_F_CSUM)
            device.trust_partial = True
            client.setblocking(False)
            client.connect_ex((str(SYNACK), 8080))
            _, syn = read_tcp(device, 8080)
            options = (Mss(1460),)
            seg = TcpSegment(8080, syn.src_port, 7, (syn.seq + 1) & 0xFFFFFFFF,
                             TcpFlags.SYN | TcpFlags.ACK, 1000, options=options)
            full = build_tcp_packet(SYNACK, KERNEL, seg)
            length = len(full) - 20
            partial = pseudo_header_sum(SYNACK.packed, KERNEL.packed, 6, length)
            packet = full[:36] + partial.to_bytes(2, "big") + full[38:]
            assert not tcp_checksum_ok(packet[20:], SYNACK.packed, KERNEL.packed)
            assert device.write(packet, partial=True)
            _, ack = read_tcp(device, 8080)
            assert ack.flags == TcpFlags.ACK and ack.ack == 8
            assert client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0


def test_device_names_are_checked_before_any_device_is_made() -> None:
    for name, why in (("bad name", "contains whitespace"), ("x" * 16, "is 16 bytes long"),
                      ("a/b", "contains '/'"), ("..", "is not allowed")):
        with pytest.raises(ValueError, match=why):
            tun.Tun(name)


def test_default_settings_take_the_mss_from_the_mtu_and_the_family() -> None:
    from synack.net.aio import default_config

    assert default_config(1500).mss == 1460 and default_config(1500, 6).mss == 1440
    assert default_config(65535).rcv_buf == 32 * 65495
