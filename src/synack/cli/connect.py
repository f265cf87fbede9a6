"""`synack connect`: synack's TCP as a client on a TUN device (send stdin, or fetch a URL)."""

from __future__ import annotations

import asyncio
import os
import sys
import urllib.parse
from typing import Any

import click

from synack.cli.serve import LinkOptions, info, link_options, open_stack, require_root


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
            info(f"synack connect: {host}:{port}: {exc.strerror or exc!r}")
            return 1
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
                    status = 1
        except (ConnectionError, TimeoutError) as exc:
            info(f"synack connect: {exc.strerror or exc!r}")
            status = 1
        writer.close()
        await stack.settle(5.0)
    finally:
        stack.close()
        trace.close()
    return status


@click.command()
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

    Segments and state changes go to stderr (stdout carries the data), as `tcpdump -nn` prints
    them. Needs root (CAP_NET_ADMIN) and /dev/net/tun.
    """
    request: bytes | None = None
    if target.startswith("http://"):
        url = urllib.parse.urlsplit(target)
        host = url.hostname or ""
        port = url.port or 80
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        request = (f"GET {path} HTTP/1.1\r\nHost: {url.netloc}\r\nUser-Agent: synack\r\n"
                   f"Accept: */*\r\nConnection: close\r\n\r\n").encode()
    else:
        host = target
        if port is None:
            raise click.UsageError("PORT is needed unless TARGET is an http:// URL")
    require_root("connect")
    opts = LinkOptions.from_kwargs(link)
    try:
        status = asyncio.run(run(opts, host, port, request, include_headers, local_port, True))
    except KeyboardInterrupt:
        status = 130
    sys.exit(status)
