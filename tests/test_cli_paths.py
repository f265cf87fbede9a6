"""Output files: a bad path is a usage error before any work, a failed write a clear message."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from synack.cli.analyze import EXIT_UNWRITABLE
from synack.cli.analyze import command as analyze
from synack.cli.demo import command as demo
from synack.cli.paths import OutputFile
from synack.cli.serve import LinkOptions, open_trace
from synack.net.tun import TunLink

TRACE = Path(__file__).resolve().parents[2] / "shared" / "captures" / "zeek" / "traces"


def invoke(command: click.Command, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(command, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stderr


def any_capture() -> Path:
    return sorted(TRACE.iterdir())[0]


def test_report_in_a_missing_directory_is_refused_before_analysis(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "report.html"
    code, err = invoke(analyze, str(any_capture()), "--html", str(target))
    assert code == 2
    assert f"directory '{target.parent}' does not exist" in err
    assert not target.parent.exists()


def test_report_that_cannot_be_created_exits_4_with_the_reason(tmp_path: Path) -> None:
    code, err = invoke(analyze, str(any_capture()), "--html", "/proc/synack-report.html")
    assert code == EXIT_UNWRITABLE
    assert "synack analyze: cannot write /proc/synack-report.html: No such file" in err
    assert "Traceback" not in err


def test_demo_capture_paths(tmp_path: Path) -> None:
    code, err = invoke(demo, "--pcap", str(tmp_path / "no" / "x.pcap"))
    assert code == 2
    assert "does not exist" in err
    code, err = invoke(demo, "--pcap", "/proc/synack-demo.pcap")
    assert code == 1
    assert "Error: cannot write /proc/synack-demo.pcap: No such file" in err
    good = tmp_path / "demo.pcap"
    code, err = invoke(demo, "--pcap", str(good))
    assert code == 0
    assert good.read_bytes()[:4] == b"\xd4\xc3\xb2\xa1"


def test_output_file_rejects_directories_and_read_only_folders(tmp_path: Path) -> None:
    param = OutputFile()
    with pytest.raises(click.BadParameter, match="is a directory"):
        param.convert(str(tmp_path), None, None)
    assert param.convert(str(tmp_path / "new.pcap"), None, None) == tmp_path / "new.pcap"
    with pytest.raises(click.BadParameter, match="does not exist"):
        param.convert(str(tmp_path / "a" / "b.pcap"), None, None)


def test_wire_commands_capture_that_cannot_be_created() -> None:
    link = TunLink(kernel_address="192.0.2.1", synack_address="192.0.2.2", prefixlen=24,
                   mtu=1500)
    opts = LinkOptions(link, "synack%d", "/proc/synack-wire.pcap", quiet=True)
    message = re.escape("cannot write /proc/synack-wire.pcap")
    with pytest.raises(click.ClickException, match=message):
        open_trace(opts, None, False)
