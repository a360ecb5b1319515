"""Build phases from the installers' own output (uv and pip), the installed-package count, the
line cut, and the tenant's view of a running build."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from forgeml.cli.progress import build_text
from forgeml.domain.build_progress import (
    MAX_BUILD_LINE_CHARS,
    BuildPhase,
    BuildProgress,
    advance,
    installed_count,
    kept_line,
    waiting_view,
)

P = BuildPhase
UV = [
    ("Using Python 3.11.7 environment at: /envs/x", P.RESOLVING),
    ("Resolved 3 packages in 4ms", P.DOWNLOADING),
    (" Downloading numpy (15.6MiB)", P.DOWNLOADING),
    ("Prepared 3 packages in 41ms", P.INSTALLING),
    ("Installed 3 packages in 10ms", P.INSTALLING),
    (" + numpy==2.1.0", P.INSTALLING),
]
PIP = [
    ("Collecting numpy", P.RESOLVING),
    ("  Downloading numpy-2.1.0-cp311-manylinux.whl (15.6 MB)", P.DOWNLOADING),
    ("Collecting six", P.DOWNLOADING),  # never backwards: pip interleaves the two
    ("Installing collected packages: six, numpy", P.INSTALLING),
    ("Successfully installed numpy-2.1.0 six-1.16.0", P.INSTALLING),
]


def test_uv_and_pip_output_move_the_phase_forward_only() -> None:
    for lines in (UV, PIP):
        phase = P.RESOLVING
        for line, expected in lines:
            phase = advance(phase, line)
            assert phase is expected, line
    assert advance(P.DONE, "Collecting numpy") is P.DONE
    assert advance(P.CREATING, "Creating virtual environment at: /x") is P.CREATING


def test_installed_count_from_either_summary() -> None:
    assert installed_count("Installed 3 packages in 10ms") == 3
    assert installed_count("Installed 1 package in 3ms") == 1
    assert installed_count("Successfully installed numpy-2.1.0 six-1.16.0\n") == 2
    assert installed_count(" + numpy==2.1.0") is None
    assert installed_count("Resolved 3 packages in 4ms") is None


def test_lines_lose_their_end_and_are_cut_at_the_cap() -> None:
    assert kept_line("plain\r\n") == "plain"
    long = kept_line("x" * (MAX_BUILD_LINE_CHARS + 10))
    assert long.startswith("x" * MAX_BUILD_LINE_CHARS) and len(long) == MAX_BUILD_LINE_CHARS + 2


def test_tenants_see_only_running_builds_and_no_lines() -> None:
    start = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    running = BuildProgress("alv_1", 1, P.INSTALLING, start, start, None, 4, 120, 0)
    view = waiting_view(running, start + timedelta(seconds=42.25))
    assert view is not None and (view.phase, view.elapsed_s, view.packages_installed) == (
        P.INSTALLING,
        42.2,
        4,
    )
    done = BuildProgress("alv_1", 1, P.DONE, start, start, start, 4, 120, 0)
    assert waiting_view(done, start) is None and waiting_view(None, start) is None


def test_the_cli_names_phase_time_and_count_only() -> None:
    build = {"phase": "installing", "elapsed_s": 41.6, "packages_installed": 1, "extra": "x"}
    assert build_text(build) == "environment being built: installing, 42 s, 1 package installed"
