"""The first line of application payloads tcpdump prints after `length N`."""

from __future__ import annotations

from synack.capture.tcpdump.packet import _Packet, _Truncated

# Ports whose payload tcpdump hands to a decoder this module does not reproduce, checked before
# the ones it does (print-tcp.c order): telnet, SMTP, whois, BGP, PPTP, Redis, NetBIOS, SMB, BEEP,
# OpenFlow.
_OTHER_DECODER_PORTS = frozenset({43, 179, 1723, 6379, 139, 445, 10288, 6633, 6653})
_HTTP_PORTS = frozenset({80, 8080})
_RTSP_PORTS = frozenset({554, 8554})
_RTSP_METHODS = frozenset(
    {
        # RFC 2326 §10
        "DESCRIBE", "ANNOUNCE", "GET_PARAMETER", "OPTIONS", "PAUSE", "PLAY", "RECORD",
        "REDIRECT", "SETUP", "SET_PARAMETER", "TEARDOWN",
    }
)  # fmt: skip
_HTTP_METHODS = frozenset(
    {
        # RFC 9110, WebDAV (RFC 4918, 3253, 3648, 3744, 5323) and PATCH (RFC 5789)
        "OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "CONNECT",
        "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK",
        "VERSION-CONTROL", "REPORT", "CHECKOUT", "CHECKIN", "UNCHECKOUT", "MKWORKSPACE",
        "UPDATE", "LABEL", "MERGE", "BASELINE-CONTROL", "MKACTIVITY", "ORDERPATCH", "ACL",
        "SEARCH", "PATCH",
    }
)  # fmt: skip
_MAX_TOKEN = 128


def _printable(byte: int) -> bool:
    return 0x20 <= byte <= 0x7E


def _application(p: _Packet, offset: int, length: int, sport: int, dport: int) -> None:
    """The first line of SMTP, SSH, FTP, HTTP and RTSP payloads, as tcpdump appends it."""
    ports = {sport, dport}
    if 23 in ports:  # telnet shows only option negotiation (IAC ...), not decoded here
        p.protocol = "telnet"
        p.u8(offset)
        return
    if 25 in ports:
        p.emit(": ")
        p.protocol = "smtp"
        _text_protocol(p, offset, length, None)
        return
    if ports & _OTHER_DECODER_PORTS:
        return
    if 22 in ports:
        _ssh_banner(p, offset, length)
    elif 21 in ports:
        p.emit(": ")
        p.protocol = "ftp"
        _text_protocol(p, offset, length, None)
    elif ports & _HTTP_PORTS:
        p.emit(": ")
        p.protocol = "http"
        _text_protocol(p, offset, length, _HTTP_METHODS)
    elif ports & _RTSP_PORTS:
        p.emit(": ")
        p.protocol = "rtsp"
        _text_protocol(p, offset, length, _RTSP_METHODS)


def _ssh_banner(p: _Packet, offset: int, length: int) -> None:
    """RFC 4253 §4.2 identification string."""
    p.protocol = "ssh"
    for i, expected in enumerate(b"SSH-"):
        if p.u8(offset + i) != expected:
            return
    for i in range(4, length):
        byte = p.u8(offset + i)
        if byte == 0x0A or (byte == 0x0D and i + 1 < length and p.u8(offset + i + 1) == 0x0A):
            p.emit(f": SSH: {p.data[offset : offset + i].decode('ascii')}")
            return
        if not _printable(byte):
            return


def _token(p: _Packet, offset: int, index: int, length: int) -> tuple[int, str]:
    """tcpdump fetch_token: the next space-separated printable token and where the next starts."""
    token = bytearray()
    while index < length:
        if not p.has(offset + index, 1):
            return 0, ""
        byte = p.data[offset + index]
        if byte > 0x7F:
            return 0, ""
        if byte in b" \t\r\n":
            break
        if not _printable(byte) or len(token) + 2 > _MAX_TOKEN + 1:
            return 0, ""
        token.append(byte)
        index += 1
    if not token:
        return 0, ""
    while index < length and p.has(offset + index, 1):
        byte = p.data[offset + index]
        if byte in b"\r\n" or not _printable(byte) or byte not in b" \t":
            break
        index += 1
    return index, token.decode("ascii")


def _text_protocol(p: _Packet, offset: int, length: int, commands: frozenset[str] | None) -> None:
    """tcpdump txtproto_print without -v: the protocol name, and the first line of a request or
    response (a known command, or a three-digit status code as the second token)."""
    show = commands is None
    if commands is not None:
        index, token = _token(p, offset, 0, length)
        if index:
            show = token.upper() in commands
            index, token = _token(p, offset, index, length)
            if index and len(token) == 3 and token.isdigit():
                show = True
    p.emit(p.protocol.upper())
    if not show:
        return
    for i in range(length):
        byte = p.u8(offset + i)
        if byte == 0x0A:
            break
        if byte == 0x0D:
            if i + 1 >= length or p.u8(offset + i + 1) != 0x0A:
                return
            break
        if not _printable(byte) and byte != 0x09:
            return
    else:
        p.emit(f": {p.data[offset : offset + length].decode('ascii')}")
        raise _Truncated(p.protocol)
    p.emit(f": {p.data[offset : offset + i].decode('ascii')}")
