"""`synack run PATH...`: run packetdrill-dialect scripts against the synack endpoint."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from synack.conformance.parser import DEFAULT_DEFINES
from synack.conformance.profile import PROFILES
from synack.conformance.runner import ScriptResult, run_file


def collect(paths: tuple[str, ...]) -> list[Path]:
    """Files as given; folders searched recursively for `*.pkt`, in name order."""
    scripts: list[Path] = []
    for name in paths:
        p = Path(name)
        if p.is_dir():
            scripts.extend(sorted(p.rglob("*.pkt")))
        else:
            scripts.append(p)
    return scripts


def _label(path: Path, roots: tuple[str, ...]) -> str:
    for root in roots:
        r = Path(root)
        if r.is_dir():
            try:
                return str(path.relative_to(r))
            except ValueError:
                continue
    return str(path)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--profile", "profile_name", type=click.Choice(sorted(PROFILES)), default="freebsd",
    show_default=True,
    help="How the scripts' operating system differs from synack: freebsd relaxes FreeBSD's "
    "constants (window, option order, buffer rounding) and prints each relaxation; linux "
    "relaxes Linux's; strict compares every field as written.",
)
@click.option(
    "-D", "--define", "defines", multiple=True, metavar="NAME",
    help="Define NAME for #ifdef; repeatable (STANDARD is always defined).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print failures and the summary only.")
@click.option(
    "-v", "--verbose", is_flag=True, help="Show each failing script's events and segments."
)
def command(
    paths: tuple[str, ...], profile_name: str, defines: tuple[str, ...], quiet: bool,
    verbose: bool,
) -> None:
    """Run packetdrill-dialect scripts (files or folders of *.pkt) against synack.

    Prints one PASS or FAIL line per script (with the reason on failure) and a closing
    `N passed, M failed`; the exit status is 0 only if no script failed.
    """
    profile = PROFILES[profile_name]
    names = DEFAULT_DEFINES | frozenset(defines)
    scripts = collect(paths)
    click.echo(f"profile {profile.name}: relaxations in force:")
    for line in profile.relaxations():
        click.echo(f"  - {line}")
    results: list[ScriptResult] = []
    for path in scripts:
        result = run_file(path, profile, names)
        results.append(result)
        label = _label(path, paths)
        if result.passed:
            if not quiet:
                click.echo(f"PASS {label}")
        else:
            reason = result.reason.replace("\n", "\n     ")
            click.echo(f"FAIL {label}: {reason}")
            if verbose:
                for line in result.trace:
                    click.echo(f"     | {line}")
    passed = sum(1 for r in results if r.passed)
    failed = len(results) - passed
    click.echo(f"{passed} passed, {failed} failed")
    sys.exit(0 if failed == 0 else 1)
