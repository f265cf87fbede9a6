"""Command errors: one clear line and a documented exit status, never a traceback.

Checks of options run before the root check; the tests that reach the TUN driver run in a private
network namespace (kernel 192.0.2.1, synack 192.0.2.2 unless they say otherwise).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from synack.cli import connect as connect_cli
from synack.cli import lab as lab_cli
from synack.cli import serve as serve_cli
from synack.cli.run import command as run_command
from synack.conformance.profile import PROFILES
from synack.net import tun
from test_conformance_runner import ACTIVE_OPEN, HEAD, PASSIVE_OPEN

REASON = tun.tun_unavailable_reason()
needs_tun = pytest.mark.skipif(REASON is not None, reason=f"TUN unavailable: {REASON}")
SYNACK = [sys.executable, "-m", "synack"]
V6_LINK = ["--address", "2001:db8::2", "--kernel-address", "2001:db8::1", "--prefix", "64"]


def invoke(command: click.Command, args: list[str]) -> Result:
    result = CliRunner().invoke(command, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        result.exc_info)
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def no_tun(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TUN device can be reached: a bad option let through stops at the root check (3)."""
    monkeypatch.setattr(serve_cli, "tun_unavailable_reason",
                        lambda netns=False: "no TUN devices in this test")


@pytest.fixture
def tun_allowed_but_unused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The root check passes, but opening a device fails the test."""

    def refuse(*args: object) -> Any:
        raise AssertionError("a TUN device was opened")

    monkeypatch.setattr(serve_cli, "tun_unavailable_reason", lambda netns=False: None)
    monkeypatch.setattr(connect_cli, "open_stack", refuse)


# -- link options, checked before any device is made ----------------------------------------------

COMMANDS = {
    "serve": (serve_cli.command, []),
    "connect": (connect_cli.command, ["192.0.2.1", "80"]),
    "lab": (lab_cli.command, ["handshake"]),
}

LINK_ERRORS = [
    (["--prefix", "33"], "Error: --prefix 33 is too long for IPv4 (at most 32)"),
    ([*V6_LINK, "--mtu", "1279"],
     "Error: --mtu 1279 is below IPv6's minimum link MTU, 1280 (RFC 8200 §5)"),
    (["--tun", "bad name"], "Error: Invalid value for '--tun': 'bad name' contains whitespace"),
    (["--tun", "sixteen-bytes-xx"],
     "Error: Invalid value for '--tun': 'sixteen-bytes-xx' is 16 bytes long (at most 15)"),
    (["--tun", ".."], "Error: Invalid value for '--tun': '..' is not allowed"),
    (["--tun", "a/b"], "Error: Invalid value for '--tun': 'a/b' contains '/'"),
    (["--tun", ""], "Error: Invalid value for '--tun': '' is empty"),
    (["--address", "2001:db8::2"],
     "Error: --address 2001:db8::2 (IPv6) and --kernel-address 192.0.2.1 (IPv4) are of "
     "different families"),
    (["--kernel-address", "192.0.2.2"],
     "Error: --address and --kernel-address are both 192.0.2.2: each end needs its own"),
    (["--prefix", "32"],
     "Error: --address 192.0.2.2 is outside the link's network 192.0.2.1/32 (--kernel-address "
     "and --prefix): the kernel would have no route to it"),
    (["--address", "198.51.100.2"], "is outside the link's network 192.0.2.0/24"),
    (["--kernel-address", "0.0.0.0"],
     "Error: --kernel-address 0.0.0.0 is not a unicast address another host can use"),
    (["--address", "fe80::2%eth0"], "a link address takes no %zone"),
]


@pytest.mark.usefixtures("no_tun")
@pytest.mark.parametrize("name", sorted(COMMANDS))
@pytest.mark.parametrize("options,message", LINK_ERRORS, ids=[" ".join(o) for o, _ in LINK_ERRORS])
def test_link_options_that_cannot_work_are_usage_errors(
    name: str, options: list[str], message: str
) -> None:
    command, args = COMMANDS[name]
    result = invoke(command, [*args, *options])
    assert result.exit_code == 2, result.output
    assert message in result.stderr


@pytest.mark.usefixtures("no_tun")
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_an_ipv6_link_passes_the_checks(name: str) -> None:
    command, args = COMMANDS[name]
    if name == "connect":
        args = ["2001:db8::1", "80"]
    result = invoke(command, [*args, *V6_LINK, "--mtu", "1280", "--tun", "v6-link%d"])
    assert result.exit_code == serve_cli.EXIT_UNAVAILABLE, result.output


def test_interface_names_as_linux_takes_them() -> None:
    for good in ("synack%d", "tun0", "a", "fifteen-bytes-x", "wg-é"):
        assert tun.interface_name_problem(good) is None, good
    bad = {
        "": "is empty",
        "sixteen-bytes-xx": "is 16 bytes long (at most 15)",
        "ééééééééé": "is 18 bytes long (at most 15)",  # 9 characters
        ".": "is not allowed ('.' and '..' never are)",
        "..": "is not allowed ('.' and '..' never are)",
        "a/b": "contains '/'",
        "eth0:1": "contains ':'",
        "tab\there": "contains whitespace",
        "nul\0": "contains whitespace",
        "nbsp\u00a0": "contains whitespace",
        "tun%s": "may hold one '%d' (the first free number) and no other '%'",
        "t%d%d": "may hold one '%d' (the first free number) and no other '%'",
    }
    for name, problem in bad.items():
        assert tun.interface_name_problem(name) == problem, name


@pytest.mark.usefixtures("no_tun")
@pytest.mark.parametrize("args,message", [
    (["http://[2001:db8::1]/"],
     "Error: 2001:db8::1 is an IPv6 address but the link is IPv4: give IPv6 --address and "
     "--kernel-address to reach it"),
    (["2001:db8::1", "80"], "2001:db8::1 is an IPv6 address but the link is IPv4"),
    (["192.0.2.1", "80", *V6_LINK], "192.0.2.1 is an IPv4 address but the link is IPv6"),
    (["https://192.0.2.1/"],
     "Error: Invalid value for 'TARGET': 'https://192.0.2.1/': only http:// URLs can be fetched"),
    (["http://192.0.2.1:99999/"], "the port is not a number from 1 to 65535"),
    (["http://192.0.2.1:0/"], "port 0 cannot be connected to"),
    (["http:///index.html"], "names no host"),
    (["http://192.0.2.1/", "80"], "PORT is not taken with a URL (write http://HOST:PORT/)"),
    (["192.0.2.1"], "PORT is needed unless TARGET is an http:// URL"),
])
def test_connect_targets_that_cannot_be_reached_are_usage_errors(
    args: list[str], message: str
) -> None:
    result = invoke(connect_cli.command, args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


# -- host names -----------------------------------------------------------------------------------


def _addrinfo(*addresses: str) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for address in addresses:
        if ":" in address:
            out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, 0, 0, 0)))
        else:
            out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 0)))
    return out


def test_connect_resolves_a_name_to_an_address_of_the_links_family(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(connect_cli.socket, "getaddrinfo",
                        lambda *a, **k: _addrinfo("2001:db8::1", "192.0.2.1"))
    assert connect_cli.resolve("server.example", 4) == "192.0.2.1"
    assert connect_cli.resolve("server.example", 6) == "2001:db8::1"


@pytest.mark.usefixtures("tun_allowed_but_unused")
def test_connect_to_a_name_that_does_not_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(connect_cli.socket, "getaddrinfo", fail)
    result = invoke(connect_cli.command, ["-q", "http://example.invalid/"])
    assert result.exit_code == 1
    assert result.stderr == (
        "synack connect: cannot resolve example.invalid: Name or service not known\n")


@pytest.mark.usefixtures("tun_allowed_but_unused")
def test_connect_to_a_name_without_an_address_of_the_links_family(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(connect_cli.socket, "getaddrinfo",
                        lambda *a, **k: _addrinfo("2001:db8::1"))
    result = invoke(connect_cli.command, ["-q", "v6only.example", "80"])
    assert result.exit_code == 1
    assert result.stderr == (
        "synack connect: v6only.example has no IPv4 address (the link is IPv4)\n")


# -- failures while connected ---------------------------------------------------------------------


class _FailingStack:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    async def open_connection(self, host: str, port: int, **kwargs: object) -> Any:
        raise self.error

    def close(self) -> None:
        pass


class _Trace:
    def close(self) -> None:
        pass


@pytest.mark.parametrize("error,reason", [
    (ConnectionRefusedError(111, "connection refused"), "connection refused"),
    (TimeoutError(110, "connection timed out"), "connection timed out"),
    (TimeoutError(), "timed out"),
])
def test_connect_failures_are_printed_cleanly(
    monkeypatch: pytest.MonkeyPatch, error: BaseException, reason: str
) -> None:
    monkeypatch.setattr(serve_cli, "tun_unavailable_reason", lambda netns=False: None)
    monkeypatch.setattr(connect_cli, "open_stack",
                        lambda opts, out: (_FailingStack(error), _Trace()))
    result = invoke(connect_cli.command, ["-q", "192.0.2.1", "9999"])
    assert result.exit_code == 1
    assert result.stderr == f"synack connect: 192.0.2.1:9999: {reason}\n"


class _NetlinkError(Exception):
    """As pyroute2's: (code, message) arguments, no strerror."""


def test_describe_gives_the_reason_alone() -> None:
    describe = serve_cli.describe
    assert describe(ConnectionRefusedError(111, "connection refused")) == "connection refused"
    assert describe(OSError(22, "Invalid argument")) == "Invalid argument"
    assert describe(_NetlinkError(17, "File exists")) == "File exists"
    assert describe(TimeoutError()) == "timed out"
    ip = subprocess.CalledProcessError(2, ["ip", "addr"], stderr=b"Error: ipv4: bad mask.\n")
    assert describe(ip) == "Error: ipv4: bad mask."
    assert describe(ValueError("odd")) == "odd"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_documents_the_exit_statuses(name: str) -> None:
    result = invoke(COMMANDS[name][0], ["--help"])
    text = " ".join(result.output.split())
    assert "Exit status: 0 " in text
    assert "2 bad usage" in text
    assert "3 not root (CAP_NET_ADMIN" in text


# -- a reader that goes away ----------------------------------------------------------------------


def _scripts(folder: Path, *bodies: str) -> Path:
    folder.mkdir(exist_ok=True)
    for index, body in enumerate(bodies):
        (folder / f"s{index}.pkt").write_text(HEAD + body)
    return folder


def _closed_stdout(args: list[str]) -> tuple[int, bytes]:
    """Run `synack ARGS` with its stdout's reader gone before it writes (`| head` at once)."""
    proc = subprocess.Popen([*SYNACK, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    return proc.wait(timeout=60), err


def test_demo_into_a_reader_that_went_away_exits_quietly(tmp_path: Path) -> None:
    pcap = tmp_path / "z.pcap"
    code, err = _closed_stdout(["demo", "zero-window", "--pcap", str(pcap)])
    assert code == 0
    assert err == f"wrote 96 packets to {pcap}\n".encode()
    assert pcap.stat().st_size > 24  # the capture is still written


@pytest.mark.parametrize("command", ["demo", "lab"])
def test_lists_into_a_reader_that_went_away_exit_quietly(command: str) -> None:
    assert _closed_stdout([command, "--list"]) == (0, b"")


def test_run_into_a_reader_that_went_away_exits_quietly(tmp_path: Path) -> None:
    folder = _scripts(tmp_path / "scripts", PASSIVE_OPEN, ACTIVE_OPEN)
    code, err = _closed_stdout(["run", str(folder)])
    assert code == 0
    assert err == b""


# -- synack run -----------------------------------------------------------------------------------


def test_run_on_a_folder_without_scripts_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "empty" / "deeper").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("no scripts here\n")
    result = invoke(run_command, [str(tmp_path / "empty")])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert (f"Error: Invalid value for 'PATHS': no .pkt scripts found under "
            f"{tmp_path / 'empty'}") in result.stderr


def test_run_quiet_prints_failures_and_the_summary_only(tmp_path: Path) -> None:
    bad = ACTIVE_OPEN + "+0.100 > R. 1:1(0) ack 1\n"
    folder = _scripts(tmp_path / "scripts", PASSIVE_OPEN, bad)
    result = invoke(run_command, ["-q", str(folder)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("FAIL s1.pkt: line ")
    assert lines[1] == "1 passed, 1 failed"
    result = invoke(run_command, ["-q", str(folder / "s0.pkt")])
    assert (result.exit_code, result.output) == (0, "1 passed, 0 failed\n")


def test_run_prints_each_profiles_own_relaxations(tmp_path: Path) -> None:
    folder = _scripts(tmp_path / "scripts", PASSIVE_OPEN)
    result = invoke(run_command, ["--profile", "linux", str(folder)])
    assert result.exit_code == 0
    relaxations = [line for line in result.output.splitlines() if line.startswith("  - ")]
    assert relaxations == [f"  - {line}" for line in PROFILES["linux"].relaxations()]
    assert relaxations[0] == (
        "  - outbound window values not compared (Linux sizes its window from its own buffers)")
    assert not any("FreeBSD" in line for line in relaxations)
    assert PROFILES["freebsd"].relaxations()[0] == (
        "outbound window values not compared (FreeBSD advertises 65535)")


# -- on a TUN device, in a private namespace ------------------------------------------------------


@pytest.fixture
def netns() -> Iterator[int]:
    with tun.private_netns() as fd:
        yield fd


@pytest.mark.root
@needs_tun
def test_refused_connection_is_one_clean_line(netns: int) -> None:
    result = subprocess.run([*SYNACK, "connect", "-q", "192.0.2.1", "9999"], input=b"",
                            capture_output=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr == b"synack connect: 192.0.2.1:9999: connection refused\n"


@pytest.mark.root
@needs_tun
def test_a_name_that_does_not_resolve_is_one_clean_line(netns: int) -> None:
    result = subprocess.run([*SYNACK, "connect", "-q", "http://example.invalid/"],
                            input=b"", capture_output=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith(b"synack connect: cannot resolve example.invalid: ")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.root
@needs_tun
@pytest.mark.parametrize("args", [["serve", "-q", "--count", "1"], ["lab", "handshake"]])
def test_a_device_that_cannot_be_made_is_one_clean_line(netns: int, args: list[str]) -> None:
    """`lo` exists and is no TUN device: TUNSETIFF refuses it."""
    result = subprocess.run([*SYNACK, *args, "--tun", "lo"], capture_output=True,
                            stdin=subprocess.DEVNULL, timeout=60)
    assert result.returncode == 1
    assert result.stderr == b"Error: cannot set up TUN device lo: Invalid argument\n"


@pytest.mark.root
@needs_tun
def test_serve_on_an_ipv6_link(netns: int) -> None:
    proc = subprocess.Popen([*SYNACK, "serve", "-q", "--count", "1", *V6_LINK],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line == ("synack serve: echo on [2001:db8::2]:7 over synack0 (kernel side "
                    "2001:db8::1/64)\n"), line + proc.stderr.read()
    with socket.create_connection(("2001:db8::2", 7), timeout=10) as sock:
        sock.sendall(b"over IPv6")
        received = b""
        while len(received) < 9:
            received += sock.recv(100)
    assert received == b"over IPv6"
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
