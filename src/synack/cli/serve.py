"""`synack serve`: echo, discard or a small HTTP responder, with synack's TCP on a TUN device.

Also holds what `serve`, `connect` and `lab` share: the TUN link options, the root check and the
opening of a traced Stack.
"""

from __future__ import annotations

import asyncio
import ipaddress
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

import click

from synack.cli.paths import OutputFile
from synack.net.tun import TunLink, tun_unavailable_reason

if TYPE_CHECKING:  # keeps `--help` free of the driver's imports
    from synack.net.aio import Stack, WireTrace

BODY = b"<!doctype html>\n<title>synack</title>\n<h1>Hello from synack</h1>\n"
EXIT_UNAVAILABLE = 3  # no root or no /dev/net/tun

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
        link = TunLink(
            kernel_address=str(kwargs["kernel_address"]),
            synack_address=str(kwargs["address"]),
            prefixlen=int(kwargs["prefix"]),
            mtu=int(kwargs["mtu"]),
        )
        pcap = kwargs["pcap"]
        return cls(link, str(kwargs["tun"]), None if pcap is None else str(pcap),
                   bool(kwargs["quiet"]))


def _ip_address(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Reject an option value that is not an IPv4 or IPv6 address."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an IP address") from None


def link_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The TUN link options every real-wire command takes."""
    options = [
        click.option("--tun", default="synack%d", show_default=True, metavar="NAME",
                     help="TUN device name; the kernel replaces %d with the first free number."),
        click.option("--address", default="192.0.2.2", show_default=True, metavar="ADDRESS",
                     callback=_ip_address, help="synack's address (the far end of the TUN link)."),
        click.option("--kernel-address", default="192.0.2.1", show_default=True,
                     metavar="ADDRESS", callback=_ip_address,
                     help="The kernel's address on the TUN device."),
        click.option("--prefix", type=click.IntRange(1, 128), default=24, show_default=True,
                     help="Prefix length of the link."),
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
    stack = Stack.open(opts.link, name=opts.tun, config=default_config(opts.link.mtu),
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
            info(f"synack serve: {writer.get_extra_info('peername')}: {exc!r}")
        finally:
            writer.close()
            done += 1
            if count and done >= count:
                finished.set()

    try:
        await stack.start_server(session, port)
        info(f"synack serve: {label} on {opts.link.synack_address}:{port} over {stack.tun.name} "
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


@click.command()
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
    require_root("serve")
    port = port if port is not None else {"echo": 7, "discard": 9, "http": 80}[mode]
    handler: Handler
    if mode == "echo":
        handler = _echo
    elif mode == "discard":
        handler = _discard
    else:
        handler = http_responder(body.read() if body is not None else BODY)
    opts = LinkOptions.from_kwargs(link)
    try:
        status = asyncio.run(serve(opts, port, handler, count, mode))
    except KeyboardInterrupt:
        status = 130
    sys.exit(status)
