"""Training-job verbs through the SDK: `job submit/ls/describe/logs/stop/wait`, `model download`.

`job submit --wait` and `job wait` exit 0 only when the job Completed (1 on Failed, 2 on Stopped).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from forgeml.cli.output import JsonOpt, console, emit, handle_errors, verb
from forgeml.cli.progress import watch_job
from forgeml.client import Client

job_app = typer.Typer(help="Training jobs.", no_args_is_help=True)
model_app = typer.Typer(help="Trained models.", no_args_is_help=True)
COLS = [
    "id",
    "name",
    "status",
    "phase",
    "pending_reason",
    "algorithm_name",
    "resource_class",
    "created_at",
]
DETAIL = [
    "id", "name", "status", "secondary_status", "phase", "status_message", "pending_reason",
    "failure_reason", "algorithm_name", "algorithm_version", "attempt", "max_attempts",
    "resource_class", "instance_count", "final_metrics", "training_seconds", "billable_seconds",
    "checkpoint_config", "created_at", "started_at", "ended_at", "environment_build",
]  # fmt: skip
# describe only: seconds per phase (queued, building, staging, training, uploading)
PHASES = ["phase_seconds"]
EXIT = {"Completed": 0, "Failed": 1, "Stopped": 2}


def _kv(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"{what} must be KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def _inputs(c: Client, channels: dict[str, str]) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for ch, ref in channels.items():
        ds, _, ver = ref.partition(":")
        if ver and not ver.isdigit():
            raise typer.BadParameter(f"--input {ch}: version must be a number, got {ver!r}")
        inputs[ch] = {"dataset_id": c.datasets.resolve_input(ds)}
        if ver:
            inputs[ch]["version"] = int(ver)
    return inputs


def _finish(job: dict[str, Any], json_out: bool) -> None:
    emit(job, json_out, DETAIL)
    raise typer.Exit(EXIT.get(job["status"], 1))


@job_app.command("submit")
@handle_errors
def submit(
    name: Annotated[str, typer.Argument(help="Unique job name in your tenant.")],
    algorithm: Annotated[str, typer.Option("--algorithm", "-a", help="name:version or id")],
    channel: Annotated[
        list[str] | None,
        typer.Option("--input", "-i", help="CHANNEL=DATASET[:VERSION] (name or id)"),
    ] = None,
    hp: Annotated[list[str] | None, typer.Option("--hp", help="KEY=VALUE hyperparameter")] = None,
    resource_class: Annotated[str, typer.Option("--class")] = "cpu.small",
    instance_count: Annotated[int, typer.Option("--instances")] = 1,
    max_runtime_s: Annotated[int | None, typer.Option("--max-runtime")] = None,
    env: Annotated[
        list[str] | None, typer.Option("--env", help="NAME=VALUE (names the card declares)")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="KEY=VALUE")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait; exit code = outcome.")] = False,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Print logs while waiting.")
    ] = False,
    checkpoint: Annotated[
        str | None, typer.Option("--checkpoint", help="checkpoint location name or id")
    ] = None,
    checkpoint_path: Annotated[
        str, typer.Option("--checkpoint-path", help="where the program sees it")
    ] = "/opt/ml/checkpoints",
    json_out: JsonOpt = False,
) -> None:
    """Submit a training job (no --input at all is fine if the algorithm needs no channel)."""
    body: dict[str, Any] = {
        "name": name,
        "algorithm": algorithm,
        "hyperparameters": _kv(hp or [], "--hp"),
        "resources": {"resource_class": resource_class, "instance_count": instance_count},
        "environment": _kv(env or [], "--env"),
        "tags": _kv(tag or [], "--tag"),
    }
    if max_runtime_s is not None:
        body["stopping_condition"] = {"max_runtime_s": max_runtime_s}
    if checkpoint:
        body["checkpoint_config"] = {"location": checkpoint, "local_path": checkpoint_path}
    with Client.from_env() as c:
        body["input_data"] = _inputs(c, _kv(channel or [], "--input"))
        job = c.jobs.submit(body)
        if not (wait or follow):
            emit(job, json_out, DETAIL)
            return
        if follow:
            for line in c.jobs.logs(job["id"], follow=True):
                console.print(f"[{line['host']}] {line['text']}", markup=False, highlight=False)
        _finish(watch_job(c, job["id"], quiet=json_out or follow), json_out)


@verb(job_app, "ls", COLS)
def ls(
    status: Annotated[str | None, typer.Option()] = None,
    name_contains: Annotated[str | None, typer.Option("--name")] = None,
    json_out: JsonOpt = False,
) -> object:
    """List your jobs, newest first."""
    with Client.from_env() as c:
        return c.jobs.list(status=status, name_contains=name_contains)


@verb(job_app, "describe", [*DETAIL, *PHASES, "transitions", "inputs"])
def describe(job_id: str, json_out: JsonOpt = False) -> object:
    """Status, transitions, failure reason, metrics, billing, lineage."""
    with Client.from_env() as c:
        return c.jobs.get(job_id)


@job_app.command("logs")
@handle_errors
def logs(
    job_id: str,
    follow: Annotated[bool, typer.Option("--follow", "-f")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Print the job's log (with -f: until the job ends)."""
    with Client.from_env() as c:
        for line in c.jobs.logs(job_id, follow=follow):
            if json_out:
                typer.echo(json.dumps(line))
            else:
                typer.echo(f"{line['at']} [{line['host']}] {line['text']}")


@verb(job_app, "stop", DETAIL)
def stop(job_id: str, json_out: JsonOpt = False) -> object:
    """Stop a job (queued: at once; running: SIGTERM, grace period, SIGKILL)."""
    with Client.from_env() as c:
        return c.jobs.stop(job_id)


@job_app.command("wait")
@handle_errors
def wait_cmd(
    job_id: str,
    timeout_s: Annotated[float | None, typer.Option("--timeout")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Wait for the job to end; exit 0 Completed, 1 Failed, 2 Stopped."""
    with Client.from_env() as c:
        if timeout_s is not None:
            job = c.jobs.wait(job_id, timeout_s=timeout_s)
        else:
            job = watch_job(c, job_id, quiet=json_out)
    _finish(job, json_out)


@verb(model_app, "download")
def download(
    job_id: str,
    dest: Annotated[Path, typer.Option("--to", help="File or folder.")] = Path("."),
    output: Annotated[bool, typer.Option("--output", help="output.tar.gz instead")] = False,
    json_out: JsonOpt = False,
) -> object:
    """Download the job's model.tar.gz (or output.tar.gz)."""
    with Client.from_env() as c:
        path = c.jobs.download(job_id, dest, "output.tar.gz" if output else "model.tar.gz")
    return {"saved_to": str(path), "bytes": path.stat().st_size}
