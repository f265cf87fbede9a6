"""Shared test settings: where `../shared` is, and no silent skips under CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The repository's sibling folder with the seeds, captures and conformance scripts.
SHARED = Path(__file__).resolve().parents[2] / "shared"

_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI every test must run: a skip there means a missing tool or privilege."""
    if os.environ.get("CI") and _skipped and exitstatus == 0:
        print(f"\n{len(_skipped)} test(s) skipped under CI, which must run everything:")
        for nodeid in _skipped[:20]:
            print(f"  {nodeid}")
        session.exitstatus = 1
