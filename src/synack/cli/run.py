"""`synack run PATH...`: run packetdrill-dialect scripts against the synack endpoint."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from synack.cli.pipes import stop_when_reader_gone
from synack.conformance.parser import DEFAULT_DEFINES
from synack.conformance.profile import PROFILES, Profile
from synack.conformance.runner import run_file


def collect(paths: tuple[str, ...]) -> list[Path]:
    """Files as given; folders searched recursively for `*.pkt`, in name order (a usage error
    for a folder that holds none)."""
    scripts: list[Path] = []
    for name in paths:
        p = Path(name)
        if p.is_dir():
            found = sorted(p.rglob("*.pkt"))
            if not found:
                raise click.BadParameter(f"no .pkt scripts found under {name}",
                                         param_hint="'PATHS'")
            scripts.extend(found)
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


@click.command(
    epilog="Exit status: 0 every script passed; 1 some script failed; 2 bad usage (a PATH "
    "that does not exist, or a folder without .pkt scripts, included)."
)
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
@click.option("-q", "--quiet", is_flag=True,
              help="Print failures and the summary only (no PASS lines, no relaxations).")
@click.option(
    "-v", "--verbose", is_flag=True, help="Show each failing script's events and segments."
)
def command(
    paths: tuple[str, ...], profile_name: str, defines: tuple[str, ...], quiet: bool,
    verbose: bool,
) -> None:
    """Run packetdrill-dialect scripts (files or folders of *.pkt) against synack.

    Prints the profile's relaxations, one PASS or FAIL line per script (with the reason on
    failure) and a closing `N passed, M failed`.
    """
    profile = PROFILES[profile_name]
    names = DEFAULT_DEFINES | frozenset(defines)
    scripts = collect(paths)
    with stop_when_reader_gone():  # `synack run suite | head`: not an error
        failed = _run_all(scripts, paths, profile, names, quiet=quiet, verbose=verbose)
    sys.exit(0 if failed == 0 else 1)


def _run_all(scripts: list[Path], roots: tuple[str, ...], profile: Profile,
             names: frozenset[str], *, quiet: bool, verbose: bool) -> int:
    """Run and report every script; the number that failed."""
    if not quiet:
        click.echo(f"profile {profile.name}: relaxations in force:")
        for line in profile.relaxations():
            click.echo(f"  - {line}")
    failed = 0
    for path in scripts:
        result = run_file(path, profile, names)
        label = _label(path, roots)
        if result.passed:
            if not quiet:
                click.echo(f"PASS {label}")
        else:
            failed += 1
            reason = result.reason.replace("\n", "\n     ")
            click.echo(f"FAIL {label}: {reason}")
            if verbose:
                for line in result.trace:
                    click.echo(f"     | {line}")
    click.echo(f"{len(scripts) - failed} passed, {failed} failed")
    return failed
