"""`synack serve` and `synack connect` against curl, nc, python3 -m http.server and kernel sockets.

Each test runs in a private network namespace (kernel 192.0.2.1, synack 192.0.2.2 on a TUN).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from synack.cli import connect as connect_cli
from synack.cli import lab as lab_cli
from synack.cli import serve as serve_cli
from synack.net import tun

REASON = tun.tun_unavailable_reason()
needs_tun = pytest.mark.skipif(REASON is not None, reason=f"TUN unavailable: {REASON}")
pytestmark = pytest.mark.root

SYNACK = [sys.executable, "-m", "synack"]


@pytest.fixture
def netns() -> Iterator[int]:
    with tun.private_netns() as fd:
        yield fd


def start_serve(*args: str) -> subprocess.Popen[str]:
    """`synack serve ARGS` in the test's namespace; returns once it listens."""
    proc = subprocess.Popen([*SYNACK, "serve", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line.startswith("synack serve: "), line + proc.stderr.read()
    return proc


def wait_listening(port: int) -> None:
    for _ in range(500):
        out = subprocess.run(["ss", "-tlnH"], capture_output=True, text=True).stdout
        if f":{port} " in out:
            return
        time.sleep(0.01)
    raise AssertionError(f"nothing listens on port {port}")


def tcpdump_read(path: Path) -> list[str]:
    result = subprocess.run(["tcpdump", "-nn", "-r", str(path)], capture_output=True, text=True,
                            env={**os.environ, "TZ": "UTC"}, check=True)
    return result.stdout.splitlines()


@needs_tun
@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("tcpdump") is None,
                    reason="needs curl and tcpdump")
def test_curl_fetches_a_page_from_synack_serve(netns: int, tmp_path: Path) -> None:
    pcap = tmp_path / "serve.pcap"
    proc = start_serve("--mode", "http", "--count", "1", "--pcap", str(pcap))
    page = subprocess.run(["curl", "-sS", "--max-time", "10", "http://192.0.2.2/"],
                          capture_output=True, check=True).stdout
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert page == serve_cli.BODY
    packet_lines = [line for line in out.splitlines() if not line.startswith("#")]
    assert "Flags [S]" in packet_lines[0] and "> 192.0.2.2.80:" in packet_lines[0]
    assert "# 192.0.2.2.80 > 192.0.2.1." in out and "SYN_RECEIVED -> ESTABLISHED" in out
    assert tcpdump_read(pcap) == packet_lines  # the same lines, timestamps included


@needs_tun
def test_kernel_create_connection_talks_to_synack_echo(netns: int) -> None:
    proc = start_serve("--mode", "echo", "--port", "7", "--count", "1", "--quiet")
    with socket.create_connection(("192.0.2.2", 7), timeout=10) as sock:
        sock.sendall(b"echo me, synack")
        received = b""
        while len(received) < 15:
            received += sock.recv(100)
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(100) == b""
    assert received == b"echo me, synack"
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err


@needs_tun
def test_synack_connect_fetches_from_python_http_server(netns: int, tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_bytes(b"served by the kernel's TCP\n")
    server = subprocess.Popen([sys.executable, "-m", "http.server", "8000", "--directory",
                               str(tmp_path)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_listening(8000)
        result = subprocess.run([*SYNACK, "connect", "http://192.0.2.1:8000/hello.txt"],
                                capture_output=True, timeout=30)
    finally:
        server.terminate()
        server.wait()
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"served by the kernel's TCP\n"
    trace = result.stderr.decode()
    assert "192.0.2.2." in trace and "> 192.0.2.1.8000: Flags [S]" in trace
    assert "SYN_SENT -> ESTABLISHED" in trace


@needs_tun
@pytest.mark.skipif(shutil.which("nc") is None, reason="nc (netcat-openbsd) is not installed")
def test_synack_connect_talks_to_nc(netns: int) -> None:
    nc = subprocess.Popen(["nc", "-N", "-l", "9000"], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_listening(9000)
        assert nc.stdin is not None
        nc.stdin.write(b"from nc\n")
        nc.stdin.close()
        nc.stdin = None
        result = subprocess.run([*SYNACK, "connect", "192.0.2.1", "9000"],
                                input=b"from synack\n", capture_output=True, timeout=30)
        nc_out, _ = nc.communicate(timeout=10)
    finally:
        nc.kill()
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"from nc\n"
    assert nc_out == b"from synack\n"


@needs_tun
def test_connect_to_closed_port_is_refused(netns: int) -> None:
    result = subprocess.run([*SYNACK, "connect", "192.0.2.1", "9", "--quiet"],
                            input=b"", capture_output=True, timeout=30)
    assert result.returncode == 1
    assert b"synack connect: 192.0.2.1:9: " in result.stderr
    assert b"refused" in result.stderr.lower()


@pytest.mark.parametrize("command,args", [
    (serve_cli.command, ["--mode", "echo"]),
    (connect_cli.command, ["192.0.2.1", "80"]),
    (lab_cli.command, ["handshake"]),
])
def test_without_tun_the_commands_say_why(monkeypatch: pytest.MonkeyPatch, command: object,
                                          args: list[str]) -> None:
    monkeypatch.setattr(serve_cli, "tun_unavailable_reason",
                        lambda netns=False: "needs root (CAP_NET_ADMIN) to create TUN devices")
    result = CliRunner().invoke(command, args)  # type: ignore[arg-type]
    assert result.exit_code == serve_cli.EXIT_UNAVAILABLE
    assert "needs root (CAP_NET_ADMIN) to create TUN devices" in result.output


def test_lab_lists_its_scenarios() -> None:
    result = CliRunner().invoke(lab_cli.command, ["--list"])
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.splitlines()]
    assert names == ["handshake", "refused", "reset", "simultaneous-close", "time-wait",
                     "sack-recovery", "http"]


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) is not installed")
@pytest.mark.parametrize("args,message", [
    (["serve"], "synack serve: needs root (CAP_NET_ADMIN) to create TUN devices"),
    (["connect", "192.0.2.1", "80"], "synack connect: needs root (CAP_NET_ADMIN)"),
    (["lab", "handshake"], "synack lab: needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN)"),
])
def test_commands_without_capabilities_exit_with_the_reason(args: list[str], message: str) -> None:
    """Run without CAP_NET_ADMIN / CAP_SYS_ADMIN (dropped from the bounding set)."""
    result = subprocess.run(
        ["setpriv", "--bounding-set=-net_admin,-sys_admin", *SYNACK, *args],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
    if "setpriv:" in result.stderr:
        pytest.skip(f"setpriv cannot drop capabilities here: {result.stderr.strip()}")
    assert result.returncode == serve_cli.EXIT_UNAVAILABLE
    assert result.stderr.startswith(message)
