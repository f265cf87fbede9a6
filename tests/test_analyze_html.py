"""The HTML report renders in headless Chromium: diagrams present, screenshot taken, no errors."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from synack.analyze.shapes import write_merged
from synack.cli.analyze import command

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("html")
    write_merged(d / "shapes.pcap")
    result = CliRunner().invoke(command, [str(d / "shapes.pcap"), "--html", str(d / "r.html")])
    assert result.exit_code == 0, result.output
    return d / "r.html"


def test_report_is_self_contained(report: Path) -> None:
    text = report.read_text()
    assert text.count('<svg class="ladder"') == 21
    assert text.count('<svg class="tseq"') >= 10
    assert not re.search(r"""(src|href)=["']https?:""", text)
    assert "<script" not in text


@pytest.mark.tools
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_report_renders_in_chromium(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    assert CHROMIUM is not None
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
         "--v=0", "--window-size=1200,2000", f"--screenshot={shot}", "--dump-dom",
         report.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    dom = proc.stdout
    assert "Uncaught" not in proc.stderr
    assert not re.search(r"CONSOLE\(\d+\)", proc.stderr), proc.stderr[-2000:]
    # The rendered DOM holds the diagrams: SVG lines for every packet arrow.
    assert dom.count('class="ladder"') == 21
    assert dom.count("<line") > 200 and "marker-end" in dom
    assert "SYN_RECEIVED" in dom and "TIME_WAIT" in dom
    assert shot.exists() and shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
