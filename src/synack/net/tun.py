"""Linux TUN devices and private network namespaces.

A `Tun` is a layer-3 device: every read returns one IP packet the kernel routed to it, every
write hands one IP packet to the kernel as if it had arrived on a wire. synack's Host sits on the
far side of that wire. Links are configured over netlink with pyroute2 when it is installed, else
with iproute2's `ip`.

`private_netns()` moves the calling thread into a fresh network namespace (so nothing it creates
can reach any other network) and moves it back afterwards; the namespace disappears with its last
socket, device or process.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import ipaddress
import os
import shutil
import socket
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

# <linux/if_tun.h>
TUNSETIFF = 0x400454CA
TUNSETOFFLOAD = 0x400454D0
TUNSETVNETHDRSZ = 0x400454D8
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
TUN_F_CSUM = 0x01
TUN_F_TSO4 = 0x02
TUN_F_TSO6 = 0x04
# <linux/virtio_net.h>: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset (little endian)
VNET_HDR = struct.Struct("<BBHHHH")
VNET_HDR_F_NEEDS_CSUM = 0x01
VNET_HDR_F_DATA_VALID = 0x02
# <sched.h>
CLONE_NEWNET = 0x40000000

TUN_PATH = "/dev/net/tun"
MAX_MTU = 65535
_READ_SIZE = 65536 + VNET_HDR.size


IFNAMSIZ = 16  # <linux/if.h>: an interface name and its terminating NUL
# What the kernel's isspace() accepts (lib/ctype.c), and NUL, which would end the name early.
_NAME_SPACES = frozenset(b" \t\n\v\f\r\xa0\0")


def interface_name_problem(name: str) -> str | None:
    """Why Linux would refuse `name` for a new interface, or None if it would take it.

    The kernel's rules (net/core/dev.c, dev_valid_name and dev_prep_valid_name): 1 to 15 bytes,
    not "." or "..", no '/', ':' or whitespace, and at most one '%', in "%d" (replaced by the
    first free number).
    """
    try:
        raw = name.encode()
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    if not raw:
        return "is empty"
    if len(raw) >= IFNAMSIZ:
        return f"is {len(raw)} bytes long (at most {IFNAMSIZ - 1})"
    if raw in (b".", b".."):
        return "is not allowed ('.' and '..' never are)"
    for char in ("/", ":"):
        if char in name:
            return f"contains {char!r}"
    if any(byte in _NAME_SPACES for byte in raw):
        return "contains whitespace"
    percent = raw.find(b"%")
    if percent >= 0 and (raw[percent + 1 : percent + 2] != b"d" or b"%" in raw[percent + 2 :]):
        return "may hold one '%d' (the first free number) and no other '%'"
    return None


class TunUnavailableError(RuntimeError):
    """This process cannot open a TUN device or create a network namespace (why is the message)."""


def tun_unavailable_reason(*, netns: bool = True) -> str | None:
    """None if TUN devices (and with `netns`, network namespaces) can be used, else why not."""
    if netns and not os.path.exists("/proc/self/ns/net"):
        return "network namespaces are not available (Linux only)"
    if not os.path.exists(TUN_PATH):
        return f"{TUN_PATH} does not exist (load the tun module: modprobe tun)"
    if not _has_capabilities(_CAP_NET_ADMIN | (_CAP_SYS_ADMIN if netns else 0)):
        if netns:
            return ("needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to create TUN devices and "
                    "network namespaces")
        return "needs root (CAP_NET_ADMIN) to create TUN devices"
    try:
        fd = os.open(TUN_PATH, os.O_RDWR)
    except OSError as exc:
        return f"cannot open {TUN_PATH}: {exc.strerror}"
    os.close(fd)
    return None


def require_tun(*, netns: bool = False) -> None:
    """Raise TunUnavailableError with the reason when TUN devices (and, with `netns`, network
    namespaces) cannot be used."""
    reason = tun_unavailable_reason(netns=netns)
    if reason is not None:
        raise TunUnavailableError(reason)


_CAP_NET_ADMIN = 1 << 12  # TUN devices, links, addresses
_CAP_SYS_ADMIN = 1 << 21  # unshare(CLONE_NEWNET), setns


def _has_capabilities(need: int) -> bool:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16) & need == need
    except OSError:
        pass
    return os.geteuid() == 0


class Tun:
    """An open TUN device (IFF_TUN | IFF_NO_PI, optionally IFF_VNET_HDR), non-blocking.

    With `vnet_hdr`, every packet carries a 10-byte virtio-net header; `read` strips it and `write`
    prepends one. After `set_offload(TUN_F_CSUM)` the kernel may hand over packets whose TCP
    checksum is only partial (the header says NEEDS_CSUM): `read` completes it, unless
    `trust_partial` is set (a reader that does not verify checksums skips that work; packets the
    kernel made itself cannot be corrupt on the way). `write(packet, partial=True)` asks the kernel
    to fill in the TCP checksum (the field must hold the pseudo-header sum, CHECKSUM_PARTIAL).
    Measured with the host's checksum work removed: kernel -> synack bulk 2.7x, synack -> kernel
    1.1x (the 64 KiB Internet checksum costs about 1 ms in Python). `read_many` and `write_many`
    move a batch of packets per call, as `read` and `write` move one.
    """

    def __init__(self, name: str = "synack%d", *, vnet_hdr: bool = False) -> None:
        problem = interface_name_problem(name)
        if problem is not None:
            raise ValueError(f"interface name {name!r} {problem}")
        require_tun()
        flags = IFF_TUN | IFF_NO_PI | (IFF_VNET_HDR if vnet_hdr else 0)
        fd = os.open(TUN_PATH, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            ifr = struct.pack("16sH22x", name.encode(), flags)
            result = fcntl.ioctl(fd, TUNSETIFF, ifr)
        except OSError:
            os.close(fd)
            raise
        self._start(fd, result[:16].rstrip(b"\0").decode(), vnet_hdr, device=True)

    @classmethod
    def on_socket(cls, sock: socket.socket, *, vnet_hdr: bool = False) -> Tun:
        """A Tun that moves packets over `sock` (one end of a datagram socket pair, which it
        takes over) instead of a device: the same read and write code, for tests and benchmarks
        without /dev/net/tun. There are no offloads to negotiate (`set_offload` does nothing)."""
        sock.setblocking(False)
        tun = cls.__new__(cls)
        tun._start(sock.detach(), "pair", vnet_hdr, device=False)
        return tun

    def _start(self, fd: int, name: str, vnet_hdr: bool, *, device: bool) -> None:
        self.fd = fd
        self.name = name
        self.vnet_hdr = vnet_hdr
        self._device = device
        self._hdr = VNET_HDR.pack(0, 0, 0, 0, 0, 0)
        self._hdr_partial = VNET_HDR.pack(VNET_HDR_F_NEEDS_CSUM, 0, 0, 0, 20, 16)
        self.trust_partial = False
        self.packets_read = 0
        self.packets_written = 0
        self.write_drops = 0

    def set_offload(self, flags: int) -> None:
        """TUNSETOFFLOAD: which offloads (TUN_F_*) this reader can take from the kernel."""
        if self._device:
            fcntl.ioctl(self.fd, TUNSETOFFLOAD, flags)

    def fileno(self) -> int:
        return self.fd

    def read(self) -> bytes | None:
        """One IP packet, or None when none is waiting."""
        packets = self.read_many(1)
        return packets[0] if packets else None

    def read_many(self, limit: int) -> list[bytes]:
        """Up to `limit` waiting packets, oldest first, each as `read` returns it."""
        fd = self.fd
        packets: list[bytes] = []
        append = packets.append
        read = os.read
        try:
            if not self.vnet_hdr:
                for _ in range(limit):
                    append(read(fd, _READ_SIZE))
            elif self.trust_partial:
                for _ in range(limit):
                    append(read(fd, _READ_SIZE)[VNET_HDR.size :])
            else:
                for _ in range(limit):
                    data = read(fd, _READ_SIZE)
                    if data[0] & VNET_HDR_F_NEEDS_CSUM:
                        _, _, _, _, start, offset = VNET_HDR.unpack_from(data)
                        append(complete_checksum(data[VNET_HDR.size :], start, offset))
                    else:
                        append(data[VNET_HDR.size :])
        except BlockingIOError:
            pass
        self.packets_read += len(packets)
        return packets

    def write_many(self, packets: list[bytes], *, partial: bool = False) -> None:
        """`write` each packet in turn; with `partial`, the IPv4 ones (IPv6 checksums are
        complete)."""
        fd = self.fd
        if not self.vnet_hdr:
            for packet in packets:
                self._write(packet, None)
            return
        hdr, hdr_partial = self._hdr, self._hdr_partial
        written = 0
        try:
            for packet in packets:
                try:
                    os.writev(fd, (hdr_partial if partial and packet[0] == 0x45 else hdr, packet))
                    written += 1
                except OSError as exc:
                    self._write_failed(exc)
        finally:
            self.packets_written += written

    def _write(self, packet: bytes, hdr: bytes | None) -> bool:
        """One write (after the virtio-net header `hdr`, if any); False if dropped."""
        try:
            if hdr is not None:
                os.writev(self.fd, (hdr, packet))
            else:
                os.write(self.fd, packet)
        except OSError as exc:
            self._write_failed(exc)
            return False
        self.packets_written += 1
        return True

    def _write_failed(self, exc: OSError) -> None:
        """A full queue (or a device going down) drops the packet, as a wire would; anything
        else is raised."""
        if isinstance(exc, BlockingIOError) or exc.errno in (errno.ENOBUFS, errno.EIO):
            self.write_drops += 1
            return
        raise exc

    def write(self, packet: bytes, *, partial: bool = False) -> bool:
        """Hand one IP packet to the kernel; False if the kernel dropped it (queue full).

        `partial` (IPv4 without options, vnet header only): the TCP checksum field holds the
        pseudo-header sum and the kernel completes it.
        """
        if self.vnet_hdr:
            return self._write(packet, self._hdr_partial if partial else self._hdr)
        return self._write(packet, None)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Tun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def complete_checksum(packet: bytes, start: int, offset: int) -> bytes:
    """Fold the one's complement sum from `start` to the end into the 16-bit field at start+offset.

    The kernel leaves the pseudo-header sum in that field (CHECKSUM_PARTIAL, virtio-net NEEDS_CSUM).
    """
    region = packet[start:]
    if len(region) % 2:
        region += b"\0"
    total = int.from_bytes(region, "big") % 0xFFFF  # 2**16 == 1 (mod 0xFFFF): the end-around carry
    csum = (~total) & 0xFFFF
    at = start + offset
    return packet[:at] + csum.to_bytes(2, "big") + packet[at + 2 :]


# ---- link configuration -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """Address, prefix and MTU for one interface; `up` brings it up."""

    name: str
    address: str | None = None
    prefixlen: int = 24
    mtu: int | None = None
    up: bool = True


def _pyroute2() -> Any | None:
    try:
        from pyroute2 import IPRoute
    except ImportError:  # pragma: no cover - pyroute2 is a declared dependency of the tun extra
        return None
    return IPRoute


def _in_thread(func: Callable[[], None]) -> None:
    """Run `func` in a new thread and wait for it.

    pyroute2's synchronous API runs an asyncio loop of its own, which cannot start inside a running
    loop; a new thread shares the calling thread's network namespace (clone() without
    CLONE_NEWNET keeps it), so the work lands in the same namespace.
    """
    failure: list[BaseException] = []

    def target() -> None:
        try:
            func()
        except BaseException as exc:  # re-raised in the caller
            failure.append(exc)

    thread = threading.Thread(target=target, name="netlink")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def configure_link(config: LinkConfig) -> None:
    """Set MTU, add the address and bring the link up (pyroute2, or `ip` when it is missing)."""
    iproute = _pyroute2()
    if iproute is not None:
        _in_thread(lambda: _configure_pyroute2(iproute, config))
        return
    if config.mtu is not None:
        _ip("link", "set", "dev", config.name, "mtu", str(config.mtu))
    if config.address is not None:
        _ip("addr", "add", f"{config.address}/{config.prefixlen}", "dev", config.name)
    if config.up:
        _ip("link", "set", "dev", config.name, "up")


def _configure_pyroute2(iproute: Any, config: LinkConfig) -> None:
    with iproute() as ipr:
        index = _link_index(ipr, config.name)
        if config.mtu is not None:
            ipr.link("set", index=index, mtu=config.mtu)
        if config.address is not None:
            ipr.addr("add", index=index, address=config.address, prefixlen=config.prefixlen)
        if config.up:
            ipr.link("set", index=index, state="up")


def add_route(destination: str, *, device: str, gateway: str | None = None) -> None:
    """Route `destination` (CIDR) out of `device`, through `gateway` if given."""
    net = ipaddress.ip_network(destination, strict=False)
    iproute = _pyroute2()
    if iproute is not None:

        def work() -> None:
            with iproute() as ipr:
                kwargs: dict[str, Any] = {
                    "dst": str(net.network_address),
                    "dst_len": net.prefixlen,
                    "oif": _link_index(ipr, device),
                }
                if gateway is not None:
                    kwargs["gateway"] = gateway
                ipr.route("replace", **kwargs)

        _in_thread(work)
        return
    args = ["route", "replace", str(net), "dev", device]
    if gateway is not None:
        args += ["via", gateway]
    _ip(*args)


def _link_index(ipr: Any, name: str) -> int:
    found = ipr.link_lookup(ifname=name)
    if not found:
        raise OSError(errno.ENODEV, f"no such interface: {name}")
    return int(found[0])


def _ip(*args: str) -> None:
    ip = shutil.which("ip")
    if ip is None:
        raise TunUnavailableError("neither pyroute2 nor iproute2 (`ip`) is installed")
    subprocess.run([ip, *args], check=True, capture_output=True)


def create_veth(name: str, peer: str, *, peer_netns_fd: int | None = None) -> None:
    """Create a veth pair; with `peer_netns_fd`, move the peer end into that namespace."""
    iproute = _pyroute2()
    if iproute is not None:

        def work() -> None:
            with iproute() as ipr:
                ipr.link("add", ifname=name, kind="veth", peer=peer)
                if peer_netns_fd is not None:
                    ipr.link("set", index=_link_index(ipr, peer), net_ns_fd=peer_netns_fd)

        _in_thread(work)
        return
    _ip("link", "add", name, "type", "veth", "peer", "name", peer)
    if peer_netns_fd is not None:
        _ip("link", "set", peer, "netns", f"/proc/{os.getpid()}/fd/{peer_netns_fd}")


def sysctl(name: str, value: str) -> None:
    """Write a sysctl of the current thread's network namespace (e.g. net.ipv4.tcp_syn_retries)."""
    # /proc/sys/net/* shows the namespace of the thread that opens it.
    with open("/proc/sys/" + name.replace(".", "/"), "w") as handle:
        handle.write(value)


# ---- network namespaces -------------------------------------------------------------------------

_libc: ctypes.CDLL | None = None
_ns_lock = threading.Lock()


def _c() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc


def unshare_net() -> None:
    """unshare(CLONE_NEWNET) for the calling thread (os.unshare arrives only in Python 3.12)."""
    if _c().unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWNET): {os.strerror(err)}")


def setns(fd: int) -> None:
    """Move the calling thread into the network namespace that `fd` refers to."""
    if _c().setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def current_netns_fd() -> int:
    """A new fd for the calling thread's network namespace (close it when done)."""
    return os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)


def _bring_up_loopback() -> None:
    configure_link(LinkConfig("lo"))


@contextlib.contextmanager
def private_netns() -> Iterator[int]:
    """Run the body in a fresh network namespace with `lo` up; yields an fd for that namespace.

    Only the calling thread moves; sockets, devices and child processes it creates inside belong to
    the new namespace for their lifetime. On exit the thread returns to where it was.
    """
    require_tun(netns=True)
    original = current_netns_fd()
    try:
        unshare_net()
        inner = current_netns_fd()
        try:
            _bring_up_loopback()
            yield inner
        finally:
            setns(original)
            os.close(inner)
    finally:
        os.close(original)


@contextlib.contextmanager
def netns_entered(fd: int) -> Iterator[None]:
    """Temporarily move the calling thread into the namespace `fd` refers to."""
    original = current_netns_fd()
    try:
        setns(fd)
        try:
            yield
        finally:
            setns(original)
    finally:
        os.close(original)


@contextlib.contextmanager
def nested_netns() -> Iterator[int]:
    """Create a further namespace (with `lo` up) without entering it; yields its fd."""
    with private_netns() as fd:
        kept = os.dup(fd)
    try:
        yield kept
    finally:
        os.close(kept)


def in_netns_preexec(fd: int) -> Any:
    """A `preexec_fn` for subprocess that starts the child in the namespace `fd` refers to."""

    def enter() -> None:
        setns(fd)

    return enter


# ---- a ready-made TUN link ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TunLink:
    """Addresses of a point-to-point TUN link: the kernel's side and synack's side."""

    kernel_address: str = "192.0.2.1"
    synack_address: str = "192.0.2.2"
    prefixlen: int = 24
    mtu: int = 1500


def open_tun_link(link: TunLink, *, name: str = "synack%d", vnet_hdr: bool = False) -> Tun:
    """Open a TUN device and configure the kernel's side of `link` on it (address, MTU, up)."""
    tun = Tun(name, vnet_hdr=vnet_hdr)
    try:
        # No router solicitations or duplicate address detection on a link of two: IPv6 off on an
        # IPv4 link; on an IPv6 link, without both (the address is usable at once).
        conf = f"net.ipv6.conf.{tun.name}"
        settings = (
            ((f"{conf}.disable_ipv6", "1"),)
            if ipaddress.ip_address(link.kernel_address).version == 4
            else ((f"{conf}.accept_dad", "0"), (f"{conf}.router_solicitations", "0"))
        )
        for key, value in settings:
            with contextlib.suppress(OSError):
                sysctl(key, value)
        configure_link(
            LinkConfig(tun.name, link.kernel_address, link.prefixlen, mtu=link.mtu, up=True)
        )
    except BaseException:
        tun.close()
        raise
    return tun
