"""`synack serve`: echo, discard or a small HTTP responder, with synack's TCP on a TUN device.

Also holds what `serve`, `connect` and `lab` share: the TUN link options and their checks, the root
check, the opening of a traced Stack and the one-line text of an error.
"""

from __future__ import annotations

import asyncio
import ipaddress
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

import click

from synack.cli.paths import OutputFile
from synack.net.tun import (
    TunLink,
    TunUnavailableError,
    interface_name_problem,
    tun_unavailable_reason,
)

if TYPE_CHECKING:  # keeps `--help` free of the driver's imports
    from synack.net.aio import Stack, WireTrace
    from synack.net.tun import Tun

BODY = b"<!doctype html>\n<title>synack</title>\n<h1>Hello from synack</h1>\n"
EXIT_FAILED = 1  # the device cannot be set up, the connection failed...
EXIT_UNAVAILABLE = 3  # no root or no /dev/net/tun
EXIT_INTERRUPTED = 130
MIN_MTU_IPV6 = 1280  # RFC 8200 §5

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


# ---- shared by serve, connect and lab -----------------------------------------------------------


@dataclass(frozen=True)
class LinkOptions:
    link: TunLink
    tun: str
    pcap: str | None
    quiet: bool

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> LinkOptions:
        """The link options as given; a usage error if together they describe no working link."""
        link = TunLink(
            kernel_address=str(kwargs["kernel_address"]),
            synack_address=str(kwargs["address"]),
            prefixlen=int(kwargs["prefix"]),
            mtu=int(kwargs["mtu"]),
        )
        problem = link_problem(link)
        if problem is not None:
            raise click.UsageError(problem, click.get_current_context(silent=True))
        pcap = kwargs["pcap"]
        return cls(link, str(kwargs["tun"]), None if pcap is None else str(pcap),
                   bool(kwargs["quiet"]))

    @property
    def version(self) -> int:
        """The link's IP version (4 or 6)."""
        return ipaddress.ip_address(self.link.synack_address).version


def link_problem(link: TunLink) -> str | None:
    """Why a link with these options could not carry a connection (as the option names say it),
    or None: both ends need unicast addresses of one family, different from each other and on one
    network of the prefix (else the kernel has no route to synack), and IPv6 an MTU >= 1280."""
    synack = ipaddress.ip_address(link.synack_address)
    kernel = ipaddress.ip_address(link.kernel_address)
    for option, address in (("--address", synack), ("--kernel-address", kernel)):
        if address.is_unspecified or address.is_multicast or address.is_loopback:
            return f"{option} {address} is not a unicast address another host can use"
    if synack.version != kernel.version:
        return (f"--address {synack} (IPv{synack.version}) and --kernel-address {kernel} "
                f"(IPv{kernel.version}) are of different families")
    if synack == kernel:
        return f"--address and --kernel-address are both {synack}: each end needs its own"
    if link.prefixlen > kernel.max_prefixlen:
        return (f"--prefix {link.prefixlen} is too long for IPv{kernel.version} "
                f"(at most {kernel.max_prefixlen})")
    network = ipaddress.ip_network(f"{kernel}/{link.prefixlen}", strict=False)
    if synack not in network:
        return (f"--address {synack} is outside the link's network {network} (--kernel-address "
                f"and --prefix): the kernel would have no route to it")
    if kernel.version == 6 and link.mtu < MIN_MTU_IPV6:
        return f"--mtu {link.mtu} is below IPv6's minimum link MTU, {MIN_MTU_IPV6} (RFC 8200 §5)"
    return None


def _ip_address(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Reject an option value that is not an IPv4 or IPv6 address."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an IP address") from None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        raise click.BadParameter(f"{value!r}: a link address takes no %zone")
    return str(address)


def _interface_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Reject a name the kernel would refuse (or cut) for the TUN device."""
    problem = interface_name_problem(value)
    if problem is not None:
        raise click.BadParameter(f"{value!r} {problem}")
    return value


def link_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The TUN link options every real-wire command takes."""
    options = [
        click.option("--tun", default="synack%d", show_default=True, metavar="NAME",
                     callback=_interface_name,
                     help="TUN device name (1 to 15 bytes, no '/', ':' or whitespace); the "
                          "kernel replaces %d with the first free number."),
        click.option("--address", default="192.0.2.2", show_default=True, metavar="ADDRESS",
                     callback=_ip_address, help="synack's address (the far end of the TUN link)."),
        click.option("--kernel-address", default="192.0.2.1", show_default=True,
                     metavar="ADDRESS", callback=_ip_address,
                     help="The kernel's address on the TUN device (the same family as "
                          "--address, on one network with it)."),
        click.option("--prefix", type=click.IntRange(1, 128), default=24, show_default=True,
                     help="Prefix length of the link (at most 31 for IPv4, 127 for IPv6: the "
                          "network holds both addresses)."),
        click.option("--mtu", type=click.IntRange(576, 65535), default=1500, show_default=True,
                     help="Link MTU (576 to 65535; at least 1280 for IPv6)."),
        click.option("--pcap", type=OutputFile(), default=None,
                     help="Write every packet to this capture (pcapng if it ends in .pcapng)."),
        click.option("--quiet", "-q", is_flag=True, help="Do not print packets and states."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def require_root(name: str, *, netns: bool = False) -> None:
    """Exit with a clear message when TUN devices (and, with `netns`, network namespaces) cannot
    be used here."""
    reason = tun_unavailable_reason(netns=netns)
    if reason is not None:
        click.echo(f"synack {name}: {reason}", err=True)
        sys.exit(EXIT_UNAVAILABLE)


def describe(exc: BaseException) -> str:
    """An error as one line for people: the reason alone, without errno, quotes or class."""
    if isinstance(exc, subprocess.CalledProcessError):
        err = exc.stderr
        text = (err.decode(errors="replace") if isinstance(err, bytes) else err or "").strip()
        return text.splitlines()[-1] if text else f"{exc.cmd[0]} exited with {exc.returncode}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    args = exc.args
    if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):
        return args[1]  # (errno, reason), as netlink's errors carry them
    if isinstance(exc, TimeoutError) and not args:
        return "timed out"
    return str(exc) or type(exc).__name__


def setup_errors() -> tuple[type[BaseException], ...]:
    """What creating and configuring a TUN device may raise (netlink's errors with pyroute2)."""
    errors: list[type[BaseException]] = [
        OSError, subprocess.CalledProcessError, TunUnavailableError]
    try:
        from pyroute2.netlink.exceptions import NetlinkError
    except ImportError:  # pragma: no cover - pyroute2 is optional: `ip` is used instead
        pass
    else:
        errors.append(NetlinkError)
    return tuple(errors)


def endpoint(host: str, port: int) -> str:
    """`host:port`, with an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def open_device(opts: LinkOptions) -> Tun:
    """A new TUN device with the kernel's side of the link configured (a ClickException saying
    why if it cannot be made)."""
    from synack.net.tun import open_tun_link

    try:
        return open_tun_link(opts.link, name=opts.tun)
    except setup_errors() as exc:
        raise click.ClickException(
            f"cannot set up TUN device {opts.tun}: {describe(exc)}") from None


def open_trace(opts: LinkOptions, out: TextIO | None, shown: bool) -> WireTrace:
    """What prints packets and state changes to `out` (if `shown`) and writes --pcap."""
    from synack.net.aio import WireTrace

    try:
        return WireTrace(out, opts.pcap, packets=shown, states=shown)
    except OSError as exc:
        raise click.ClickException(f"cannot write {opts.pcap}: {exc.strerror or exc}") from None


def open_stack(opts: LinkOptions, out: TextIO) -> tuple[Stack, WireTrace]:
    """A Stack on a new TUN device, printing to `out` (nothing with --quiet) and writing --pcap."""
    from synack.net.aio import Stack, default_config

    trace = open_trace(opts, out, not opts.quiet)
    try:
        device = open_device(opts)
    except BaseException:
        trace.close()
        raise
    config = default_config(opts.link.mtu, opts.version)
    stack = Stack.open(opts.link, device=device, config=config,
                       tap=trace.tap, on_transition=trace.on_transition)
    return stack, trace


def info(message: str) -> None:
    click.echo(message, err=True)


# ---- serve --------------------------------------------------------------------------------------


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()


async def _discard(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while await reader.read(65536):
        pass


def http_responder(body: bytes) -> Handler:
    """One HTTP/1.1 response per connection (`Connection: close`): `body` for / , else 404."""

    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        method, _, rest = head.partition(b" ")
        path = rest.split(b" ", 1)[0].decode("latin-1", "replace")
        if path in ("/", "/index.html"):
            status, payload = b"200 OK", body
        else:
            status, payload = b"404 Not Found", b"not found\n"
        writer.write(
            b"HTTP/1.1 " + status + b"\r\nServer: synack\r\nContent-Type: text/html\r\n"
            b"Content-Length: " + str(len(payload)).encode() + b"\r\nConnection: close\r\n\r\n"
            + (payload if method != b"HEAD" else b"")
        )
        await writer.drain()

    return respond


async def serve(opts: LinkOptions, port: int, handler: Handler, count: int, label: str) -> int:
    stack, trace = open_stack(opts, sys.stdout)
    done = 0
    finished = asyncio.Event()

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal done
        try:
            await handler(reader, writer)
        except (ConnectionError, TimeoutError) as exc:
            peer = writer.get_extra_info("peername")
            who = endpoint(str(peer[0]), int(peer[1])) if peer else "a connection"
            info(f"synack serve: {who}: {describe(exc)}")
        finally:
            writer.close()
            done += 1
            if count and done >= count:
                finished.set()

    try:
        await stack.start_server(session, port)
        info(f"synack serve: {label} on {endpoint(opts.link.synack_address, port)} over "
             f"{stack.tun.name} "
             f"(kernel side {opts.link.kernel_address}/{opts.link.prefixlen})")
        if count:
            await finished.wait()
            await stack.settle(5.0)
        else:
            await asyncio.Event().wait()
    finally:
        stack.close()
        trace.close()
    return 0


@click.command(
    epilog=(
        "Exit status: 0 after --count connections; 1 the TUN device cannot be set up; 2 bad "
        "usage (link options that cannot work included); 3 not root (CAP_NET_ADMIN) or no "
        "/dev/net/tun; 130 interrupted."
    )
)
@click.option("--mode", type=click.Choice(["echo", "discard", "http"]), default="echo",
              show_default=True, help="What to do with each connection.")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Port (default: 7 echo, 9 discard, 80 http).")
@click.option("--body", type=click.File("rb"), default=None,
              help="File served by --mode http (default: a small page).")
@click.option("--count", type=click.IntRange(min=0), default=0,
              help="Exit after this many connections (0: never).")
@link_options
def command(mode: str, port: int | None, body: Any, count: int, **link: Any) -> None:
    """Serve echo, discard or HTTP with synack on a TUN device.

    Creates the TUN device, gives the kernel's side --kernel-address and listens on synack's
    --address; programs on this machine (curl, nc, a Python socket) connect to that address.
    Every segment is printed as `tcpdump -nn` prints it, state changes as `#` lines.
    Needs root (CAP_NET_ADMIN) and /dev/net/tun.
    """
    opts = LinkOptions.from_kwargs(link)
    require_root("serve")
    port = port if port is not None else {"echo": 7, "discard": 9, "http": 80}[mode]
    handler: Handler
    if mode == "echo":
        handler = _echo
    elif mode == "discard":
        handler = _discard
    else:
        handler = http_responder(body.read() if body is not None else BODY)
    try:
        status = asyncio.run(serve(opts, port, handler, count, mode))
    except KeyboardInterrupt:
        status = EXIT_INTERRUPTED
    sys.exit(status)
