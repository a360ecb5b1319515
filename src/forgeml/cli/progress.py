"""Progress of long operations on stderr: a job's phases with its latest metrics, an algorithm's
environment build with an optional log tail. Each phase change is also printed as one line, so a
log file or a non-terminal shows the story too."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from forgeml.cli.output import err_console
from forgeml.client import Client
from forgeml.client.jobs import TERMINAL

POLL_S = 1.0
LOG_TAIL_LINES = 8


def _stamp() -> str:
    return datetime.now(UTC).strftime("%H:%M:%S")


def _latest_metrics(c: Client, job_id: str) -> str:
    latest: dict[str, float] = {}
    for m in c.jobs.metrics(job_id):  # oldest first: the last value of each name wins
        latest[m["name"]] = m["value"]
    return "  ".join(f"{k}={v:.4g}" for k, v in sorted(latest.items()))


def build_text(build: dict[str, Any]) -> str:
    """A job's view of the environment build it waits on (no names: the owner's secret)."""
    done = build["packages_installed"]
    return (
        f"environment being built: {build['phase']}, {build['elapsed_s']:.0f} s, "
        f"{done} package{'' if done == 1 else 's'} installed"
    )


def _job_line(c: Client, job: dict[str, Any]) -> str:
    what = job.get("phase") or job["secondary_status"]
    if build := job.get("environment_build"):
        return build_text(build)
    if job["secondary_status"] == "Pending" and job.get("pending_reason"):
        return f"{what}: {job['pending_reason']}"
    if job["secondary_status"] == "Training":
        metrics = _latest_metrics(c, job["id"])
        return f"{what}{'  ' + metrics if metrics else ''}"
    message = job.get("status_message")
    return f"{what}: {message}" if message and message != what else what


def watch_job(c: Client, job_id: str, *, quiet: bool) -> dict[str, Any]:
    """Poll until the job ended; show its phase (pending reason, environment build, staging,
    training with the latest metrics, uploading) unless `quiet`."""
    if quiet:
        return c.jobs.wait(job_id)
    last_phase = None
    spinner = Spinner("dots", text="submitted")
    with Live(spinner, console=err_console, transient=True, refresh_per_second=4) as live:
        while True:
            job = c.jobs.get(job_id)
            phase = job.get("phase") or job["secondary_status"]
            if build := job.get("environment_build"):
                phase = f"{phase} ({build['phase']})"  # a line for each build phase too
            if phase != last_phase:
                live.console.print(f"{_stamp()} {job['name']}: {_job_line(c, job)}", markup=False)
                last_phase = phase
            if job["status"] in TERMINAL:
                return job
            spinner.update(text=Text(f"{job['name']}: {_job_line(c, job)}"))
            time.sleep(POLL_S)


def watch_build(c: Client, version: dict[str, Any], *, show_log: bool) -> dict[str, Any]:
    """Poll an algorithm version until its environment is built or failed; with `show_log`,
    show the tail of the build log under the spinner."""
    label = f"{version['name']} {version['version']}"
    spinner = Spinner("dots", text=f"environment of {label}: {version['status']}")
    with Live(spinner, console=err_console, transient=True, refresh_per_second=4) as live:

        def poll(v: dict[str, Any]) -> None:
            spinner.update(text=f"environment of {label}: {v['status']}")
            if show_log:
                tail = c.algorithms.build_log(v["algorithm_id"], v["id"]).splitlines()
                lines = [line[:160] for line in tail[-LOG_TAIL_LINES:]]
                live.update(Group(spinner, Text("\n".join(lines), style="dim")))

        done = c.algorithms.wait(version["algorithm_id"], version["id"], poll=poll)
    err_console.print(f"{_stamp()} environment of {label}: {done['status']}", markup=False)
    return done
