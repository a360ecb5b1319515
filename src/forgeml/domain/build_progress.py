"""Environment build progress: the phases, the cap on the lines a build keeps, and how the
installers' output (uv's and pip's) moves the phase and counts the installed packages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

# The cap, per build: the newest lines are kept (a failure is explained at the end), the older
# ones are counted as dropped; a longer line is cut. Together at most ~1 MiB of text a build.
MAX_BUILD_LOG_LINES = 2000
MAX_BUILD_LINE_CHARS = 500


class BuildPhase(StrEnum):
    """Where a build is; the order of the members is the order a build passes them."""

    CREATING = "creating"  # the virtualenv
    RESOLVING = "resolving"
    DOWNLOADING = "downloading"
    INSTALLING = "installing"
    DONE = "done"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (BuildPhase.DONE, BuildPhase.FAILED)


_ORDER = list(BuildPhase)


@dataclass(frozen=True)
class BuildProgress:
    """The latest build of a version (one row a version; `attempt` counts the builds)."""

    version_id: str
    attempt: int
    phase: BuildPhase
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    packages_installed: int
    lines: int  # every line the build printed, kept or not
    dropped: int  # the oldest lines past the cap, no longer kept

    def elapsed_s(self, now: datetime) -> float:
        return round(((self.finished_at or now) - self.started_at).total_seconds(), 1)


@dataclass(frozen=True)
class BuildLine:
    """One kept line; `id` orders them and is the cursor a follower passes back as `after`."""

    id: int
    at: datetime
    phase: BuildPhase
    line: str


# (pattern, phase it starts) for uv and pip; a phase only ever moves forward.
_STEPS = [
    (re.compile(r"^(Collecting|Looking in|Processing) "), BuildPhase.RESOLVING),
    (re.compile(r"^Resolved \d+ packages?"), BuildPhase.DOWNLOADING),  # uv: resolved, fetch next
    (re.compile(r"^\s*Download(ing|ed) "), BuildPhase.DOWNLOADING),
    (re.compile(r"^Prepared \d+ packages?"), BuildPhase.INSTALLING),  # uv: fetched, install next
    (re.compile(r"^Installing collected packages"), BuildPhase.INSTALLING),
]
_UV_INSTALLED = re.compile(r"^Installed (\d+) packages?")
_PIP_INSTALLED = re.compile(r"^Successfully installed (.+)$")


def advance(phase: BuildPhase, line: str) -> BuildPhase:
    """The phase after `line`: forward when it marks the start of a later step, else `phase`."""
    if phase.finished:
        return phase
    for pattern, step in _STEPS:
        if pattern.match(line) and _ORDER.index(step) > _ORDER.index(phase):
            return step
    return phase


def installed_count(line: str) -> int | None:
    """How many packages `line` says were installed (uv's or pip's summary), else None."""
    if m := _UV_INSTALLED.match(line):
        return int(m.group(1))
    if m := _PIP_INSTALLED.match(line.strip()):
        return len(m.group(1).split())
    return None


def kept_line(line: str) -> str:
    """A line as the log keeps it: without its line end, cut at the cap."""
    text = line.rstrip("\r\n")
    return text if len(text) <= MAX_BUILD_LINE_CHARS else text[:MAX_BUILD_LINE_CHARS] + " …"


@dataclass(frozen=True)
class EnvironmentBuild:
    """What a tenant whose job waits on a build may see: no package name, no line of the log
    (the owner's requirements and code are the owner's secret)."""

    phase: BuildPhase
    started_at: datetime
    elapsed_s: float
    packages_installed: int


def waiting_view(progress: BuildProgress | None, now: datetime) -> EnvironmentBuild | None:
    """The tenant's view of a build in progress; None when there is none running."""
    if progress is None or progress.phase.finished:
        return None
    return EnvironmentBuild(
        progress.phase, progress.started_at, progress.elapsed_s(now), progress.packages_installed
    )


@dataclass(frozen=True)
class BuildLogPage:
    """The owner's view: the build's progress (None: never built), kept lines after a cursor,
    and whether a follower has seen everything there will be."""

    progress: BuildProgress | None
    lines: list[BuildLine]
    finished: bool
