"""The bytes of the seed's HTTP exchange (capture 004: curl against nginx's welcome page)."""

from __future__ import annotations

REQUEST = (
    b"GET / HTTP/1.1\r\n"
    b"Host: 192.168.0.61\r\n"
    b"User-Agent: curl/7.68.0\r\n"
    b"Accept: */*\r\n"
    b"\r\n"
)
"""The 76-byte request of the seed (`length 76: HTTP: GET / HTTP/1.1`)."""


def _body() -> bytes:
    html = (
        b"<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n<style>\n"
        b"    body {\n        width: 35em;\n        margin: 0 auto;\n"
        b"        font-family: Tahoma, Verdana, Arial, sans-serif;\n    }\n</style>\n</head>\n"
        b"<body>\n<h1>Welcome to nginx!</h1>\n<p>If you see this page, the nginx web server is "
        b"successfully installed and\nworking. Further configuration is required.</p>\n\n"
        b"<p>For online documentation and support please refer to\n"
        b'<a href="http://nginx.org/">nginx.org</a>.<br/>\n'
        b"Commercial support is available at\n"
        b'<a href="http://nginx.com/">nginx.com</a>.</p>\n\n'
        b"<p><em>Thank you for using nginx.</em></p>\n</body>\n</html>\n"
    )
    return html.ljust(612, b"\n")[:612]


BODY = _body()
"""nginx's 612-byte welcome page (the seed's `seq 239:851 ... length 612`)."""


def _headers() -> bytes:
    lines = [
        "HTTP/1.1 200 OK",
        "Server: nginx/1.18.0",
        "Date: Tue, 01 Jun 2021 12:49:33 GMT",
        "Content-Type: text/html",
        f"Content-Length: {len(BODY)}",
        "Last-Modified: Tue, 01 Jun 2021 12:40:10 GMT",
        "Connection: keep-alive",
        'ETag: "60b628da-264"',
        "Accept-Ranges: bytes",
    ]
    return "\r\n".join(lines).encode() + b"\r\n\r\n"


HEADERS = _headers()
"""The 238-byte response header nginx wrote first (the seed's `seq 1:239`)."""

assert len(REQUEST) == 76 and len(BODY) == 612 and len(HEADERS) == 238
