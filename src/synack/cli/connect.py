"""`synack connect`: synack's TCP as a client on a TUN device (send stdin, or fetch a URL)."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import sys
import urllib.parse
from typing import Any

import click

from synack.cli.serve import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    LinkOptions,
    describe,
    endpoint,
    info,
    link_options,
    open_stack,
    require_root,
)


async def _pipe_stdin(writer: asyncio.StreamWriter) -> None:
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()
    while data := await loop.run_in_executor(None, os.read, fd, 65536):
        writer.write(data)
        await writer.drain()
    writer.write_eof()


async def _copy_out(reader: asyncio.StreamReader) -> int:
    total = 0
    out = sys.stdout.buffer
    while data := await reader.read(65536):
        out.write(data)
        out.flush()
        total += len(data)
    return total


async def run(opts: LinkOptions, host: str, port: int, request: bytes | None,
              include_headers: bool, local_port: int | None, trace_to_stderr: bool) -> int:
    stack, trace = open_stack(opts, sys.stderr if trace_to_stderr else sys.stdout)
    status = 0
    try:
        try:
            reader, writer = await stack.open_connection(host, port, local_port=local_port)
        except (ConnectionError, TimeoutError) as exc:
            info(f"synack connect: {endpoint(host, port)}: {describe(exc)}")
            return EXIT_FAILED
        try:
            if request is None:
                sender = asyncio.ensure_future(_pipe_stdin(writer))
                await _copy_out(reader)
                if sys.stdin.isatty():
                    sender.cancel()  # the peer is done: stop waiting for the terminal
                else:
                    await sender  # a pipe or file: send all of it (the peer may still read)
            else:
                writer.write(request)
                await writer.drain()
                response = await reader.read()
                head, sep, body = response.partition(b"\r\n\r\n")
                out = sys.stdout.buffer
                out.write(response if include_headers or not sep else body)
                out.flush()
                if not head.startswith(b"HTTP/"):
                    status = EXIT_FAILED
        except (ConnectionError, TimeoutError) as exc:
            info(f"synack connect: {endpoint(host, port)}: {describe(exc)}")
            status = EXIT_FAILED
        writer.close()
        await stack.settle(5.0)
    finally:
        stack.close()
        trace.close()
    return status


def parse_target(target: str, port: int | None) -> tuple[str, int, bytes | None]:
    """(host, port, HTTP request or None) from the command's arguments; a usage error if they
    name no host and port."""
    if "://" not in target:
        if port is None:
            raise click.UsageError("PORT is needed unless TARGET is an http:// URL")
        return target, port, None
    if not target.startswith("http://"):
        raise click.BadParameter(f"{target!r}: only http:// URLs can be fetched",
                                 param_hint="'TARGET'")
    if port is not None:
        raise click.UsageError("PORT is not taken with a URL (write http://HOST:PORT/)")
    url = urllib.parse.urlsplit(target)
    try:
        url_port = url.port
    except ValueError:
        raise click.BadParameter(f"{target!r}: the port is not a number from 1 to 65535",
                                 param_hint="'TARGET'") from None
    if not url.hostname:
        raise click.BadParameter(f"{target!r} names no host", param_hint="'TARGET'")
    if url_port == 0:
        raise click.BadParameter(f"{target!r}: port 0 cannot be connected to",
                                 param_hint="'TARGET'")
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    request = (f"GET {path} HTTP/1.1\r\nHost: {url.netloc}\r\nUser-Agent: synack\r\n"
               f"Accept: */*\r\nConnection: close\r\n\r\n").encode()
    return url.hostname, url_port or 80, request


def check_family(host: str, version: int) -> bool:
    """For an address literal: True if synack's link (IPv`version`) can reach it, else a usage
    error. False: `host` is a name, to be resolved."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if address.version != version:
        raise click.UsageError(
            f"{address} is an IPv{address.version} address but the link is IPv{version}: give "
            f"IPv{address.version} --address and --kernel-address to reach it")
    return True


def resolve(host: str, version: int) -> str:
    """The first IPv`version` address `host` resolves to (getaddrinfo: /etc/hosts, DNS...);
    exits with status 1 and the reason if there is none."""
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        info(f"synack connect: cannot resolve {host}: {describe(exc)}")
        sys.exit(EXIT_FAILED)
    for fam, _type, _proto, _name, sockaddr in found:
        if fam == family:
            return str(sockaddr[0])
    info(f"synack connect: {host} has no IPv{version} address (the link is IPv{version})")
    sys.exit(EXIT_FAILED)


@click.command(
    epilog=(
        "Exit status: 0 the exchange completed (with a URL: an HTTP response came back); 1 the "
        "host name cannot be resolved, the connection was refused, reset or timed out, the "
        "response is not HTTP, or the TUN device cannot be set up; 2 bad usage (link options "
        "that cannot work, or a TARGET of another address family, included); 3 not root "
        "(CAP_NET_ADMIN) or no /dev/net/tun; 130 interrupted."
    )
)
@click.argument("target")
@click.argument("port", type=click.IntRange(1, 65535), required=False)
@click.option("--include", "-i", "include_headers", is_flag=True,
              help="With a URL: print the response headers too.")
@click.option("--local-port", type=click.IntRange(1, 65535), default=None,
              help="Source port (default: ephemeral).")
@link_options
def command(target: str, port: int | None, include_headers: bool, local_port: int | None,
            **link: Any) -> None:
    """Connect with synack over a TUN device: `TARGET PORT` sends stdin and prints what comes back;
    a URL (http://HOST[:PORT]/PATH) is fetched with HTTP/1.1 and its body printed.

    TARGET's host is an address of the link's family (IPv4 unless --address is IPv6) or a name,
    looked up with the system's resolver. Segments and state changes go to stderr (stdout carries
    the data), as `tcpdump -nn` prints them. Needs root (CAP_NET_ADMIN) and /dev/net/tun.
    """
    host, port, request = parse_target(target, port)
    opts = LinkOptions.from_kwargs(link)
    is_address = check_family(host, opts.version)
    require_root("connect")
    if not is_address:
        host = resolve(host, opts.version)
    try:
        status = asyncio.run(run(opts, host, port, request, include_headers, local_port, True))
    except KeyboardInterrupt:
        status = EXIT_INTERRUPTED
    sys.exit(status)
