"""The first line of application payloads tcpdump prints after `length N`."""

from __future__ import annotations

import re
from collections.abc import Callable

from synack.capture.tcpdump.packet import _Packet, _Truncated

# Ports whose payload tcpdump hands to a decoder this module does not reproduce, checked before
# the ones it does (print-tcp.c order): telnet, SMTP, whois, BGP, PPTP, Redis, NetBIOS, SMB, BEEP,
# OpenFlow.
_OTHER_DECODER_PORTS = frozenset({43, 179, 1723, 6379, 139, 445, 10288, 6633, 6653})
_HTTP_PORTS = frozenset({80, 8080})
_RTSP_PORTS = frozenset({554, 8554})
_DECODER_PORTS = frozenset({21, 22, 23, 25}) | _HTTP_PORTS | _RTSP_PORTS
_RTSP_METHODS = frozenset(
    method.encode()
    for method in {
        # RFC 2326 §10
        "DESCRIBE", "ANNOUNCE", "GET_PARAMETER", "OPTIONS", "PAUSE", "PLAY", "RECORD",
        "REDIRECT", "SETUP", "SET_PARAMETER", "TEARDOWN",
    }
)  # fmt: skip
_HTTP_METHODS = frozenset(
    method.encode()
    for method in {
        # RFC 9110, WebDAV (RFC 4918, 3253, 3648, 3744, 5323) and PATCH (RFC 5789)
        "OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "CONNECT",
        "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK",
        "VERSION-CONTROL", "REPORT", "CHECKOUT", "CHECKIN", "UNCHECKOUT", "MKWORKSPACE",
        "UPDATE", "LABEL", "MERGE", "BASELINE-CONTROL", "MKACTIVITY", "ORDERPATCH", "ACL",
        "SEARCH", "PATCH",
    }
)  # fmt: skip
_PRINTABLE = re.compile(rb"[ -~]*")
_LINE = re.compile(rb"[\t -~]*")  # printable or tab
# Two tokens of print-ascii.c txtproto_print (see _request_line): the first, then
# the second when it is three digits.
_TWO_TOKENS = re.compile(
    rb"([!-~]{1,128})(?:(?=[ \t\r\n])|\Z)"  # a token, ended by white space or the payload's end
    rb" *"
    rb"(?:(\d\d\d)(?:(?=[ \t\r\n])|\Z))?"
)


# What an application decoder appends after `length N`, and the protocol name for ` [|name]`
# when tcpdump's read ran off the end of the capture (None when it did not).
AppText = tuple[str, str | None]
# A decoder: (data, payload offset, payload length, end of the captured datagram) -> AppText.
Decoder = Callable[[bytes, int, int, int], AppText]


def _application(p: _Packet, offset: int, length: int, sport: int, dport: int) -> None:
    """The first line of SMTP, SSH, FTP, HTTP and RTSP payloads, as tcpdump appends it."""
    decoder = decoder_for(sport, dport)
    if decoder is None:
        return
    text, truncated = decoder(p.data, offset, length, p.end)
    p.emit(text)
    if truncated is not None:
        raise _Truncated(truncated)


def decoder_for(sport: int, dport: int) -> Decoder | None:
    """The decoder tcp_print hands a payload to, by port, in print-tcp.c's order."""
    if sport not in _DECODER_PORTS and dport not in _DECODER_PORTS:
        return None
    ports = {sport, dport}
    if 23 in ports:  # telnet shows only option negotiation (IAC ...), not decoded here
        return _telnet
    if 25 in ports:
        return _smtp
    if ports & _OTHER_DECODER_PORTS:
        return None
    if 22 in ports:
        return _ssh_banner
    if 21 in ports:
        return _ftp
    if ports & _HTTP_PORTS:
        return _http
    return _rtsp


def _telnet(data: bytes, offset: int, length: int, end: int) -> AppText:
    """telnet_print reads the first byte (and prints only IAC option negotiation)."""
    return ("", None) if offset < end else ("", "telnet")


# print-ascii.c txtproto_print without -v, for each protocol: the protocol name, then the
# first line for SMTP and FTP, and for HTTP and RTSP only that of a request or response.


def _smtp(data: bytes, offset: int, length: int, end: int) -> AppText:
    return _first_line(data, offset, offset + length, end, ": SMTP", "smtp")


def _ftp(data: bytes, offset: int, length: int, end: int) -> AppText:
    return _first_line(data, offset, offset + length, end, ": FTP", "ftp")


def _http(data: bytes, offset: int, length: int, end: int) -> AppText:
    return _request_line(data, offset, offset + length, end, ": HTTP", "http", _HTTP_METHODS)


def _rtsp(data: bytes, offset: int, length: int, end: int) -> AppText:
    return _request_line(data, offset, offset + length, end, ": RTSP", "rtsp", _RTSP_METHODS)


def _ssh_banner(data: bytes, offset: int, length: int, end: int) -> AppText:
    """RFC 4253 §4.2 identification string: `SSH-` then printable bytes up to LF or CRLF.

    tcpdump reads byte by byte: the four bytes of `SSH-` (even past a shorter payload), then
    up to the payload's end; reading past the capture gives ` [|ssh]`.
    """
    for i, expected in enumerate(b"SSH-"):
        if offset + i >= end:
            return "", "ssh"
        if data[offset + i] != expected:
            return "", None
    stop = offset + length
    run_end = _run_end(_PRINTABLE, data, offset + 4, min(stop, end))
    if run_end >= stop:
        return "", None
    if run_end >= end:
        return "", "ssh"
    byte = data[run_end]
    if byte == 0x0D and run_end + 1 < stop:
        if run_end + 1 >= end:
            return "", "ssh"
        if data[run_end + 1] == 0x0A:
            byte = 0x0A
    if byte == 0x0A:
        return f": SSH: {data[offset:run_end].decode('ascii')}", None
    return "", None


def _run_end(pattern: re.Pattern[bytes], data: bytes, start: int, end: int) -> int:
    """Where the run of bytes that `pattern` matches from `start` (up to `end`) stops."""
    match = pattern.match(data, start, end)
    return match.end() if match else start


def _request_line(
    data: bytes,
    offset: int,
    stop: int,
    end: int,
    name: str,
    protocol: str,
    commands: frozenset[bytes],
) -> AppText:
    """The name, then the first line when the first token is a command (any case) or the
    second a three-digit status code.

    tcpdump's fetch_token reads byte by byte: a token is 1 to 128 printable non-space bytes
    ended by a space, tab, CR or LF or by the end of the payload (`stop`); any other byte, a
    longer token, or the end of the capture (`end`) inside the payload means no token. The
    next token starts after the spaces (only spaces) that follow.
    """
    limit = stop if stop < end else end
    match = _TWO_TOKENS.match(data, offset, limit)
    if match is None or (match.end(1) == limit and limit < stop):
        return name, None  # no first token
    code_end = match.end(2)  # -1 without a three-digit second token
    if (code_end == -1 or (code_end == limit and limit < stop)) and (
        match.group(1).upper() not in commands
    ):
        return name, None
    return _first_line(data, offset, stop, end, name, protocol)


def _first_line(data: bytes, offset: int, stop: int, end: int, name: str, protocol: str) -> AppText:
    """The name, then `: ` and the payload's first line when it is printable text (tabs
    allowed) ended by LF or CRLF; a CR alone or another byte ends it without the line. A
    payload that is all such text is printed whole, then ` [|proto]`, as tcpdump's byte-by-byte
    read runs off its end; so does a read past the capture (without the text)."""
    line_end = _run_end(_LINE, data, offset, stop if stop < end else end)
    if line_end == stop:
        return f"{name}: {data[offset:stop].decode('ascii')}", protocol
    if line_end >= end:
        return name, protocol
    byte = data[line_end]
    if byte == 0x0D and line_end + 1 < stop:
        if line_end + 1 >= end:
            return name, protocol
        if data[line_end + 1] == 0x0A:
            byte = 0x0A
    if byte == 0x0A:
        return f"{name}: {data[offset:line_end].decode('ascii')}", None
    return name, None
