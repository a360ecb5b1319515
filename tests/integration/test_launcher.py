"""The launcher runs real scripts as plain processes (sandbox=off): contract, outcomes, cleanup."""

from __future__ import annotations

import json
import tarfile
import threading
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from forgeml.domain.errors import InvalidInput
from forgeml.training.launcher import run_host
from forgeml.training.spec import EntryPoint, HostSpec, MetricDefinition, Outcome
from tests.integration.training_helpers import (
    Captured,
    make_spec,
    processes_with_marker,
    run,
    stop_when,
)

DUMP_SCRIPT = """
import json, os, sys
root = os.environ["SAGEMAKER_BASE_DIR"]
config = os.path.join(root, "input", "config")
seen = {
    "argv": sys.argv[1:],
    "env": {k: v for k, v in os.environ.items()},
    "config": {n: json.load(open(os.path.join(config, n))) for n in sorted(os.listdir(config))},
    "train": open(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "data.csv")).read(),
    "cwd": os.getcwd(),
}
with open(os.path.join(os.environ["SM_MODEL_DIR"], "seen.json"), "w") as f:
    json.dump(seen, f)
"""

# Forks a grandchild that sleeps with a unique marker in its argv, then waits or exits.
FORKING_SCRIPT = """
import subprocess, sys, time
marker = sys.argv[sys.argv.index("--marker") + 1]
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1000)", marker])
subprocess.Popen([sys.executable, "-c",
    "import os, subprocess, sys; os.setsid(); "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(1000)', sys.argv[1]])",
    marker + "-escapee"])
print("forked", flush=True)
time.sleep(float(sys.argv[sys.argv.index("--sleep") + 1]))
"""


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def seen_by_program(result_model: Path) -> dict[str, object]:
    return json.loads(members(result_model)["seen.json"])  # type: ignore[no-any-return]


def test_program_sees_the_contract(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, DUMP_SCRIPT, user_env={"MY_FLAG": "on"})
    result, _ = run(spec)
    assert result.outcome == Outcome.COMPLETED, result.failure_reason
    seen = seen_by_program(result.model_artifact)
    root = str(spec.work_root)
    assert seen["argv"] == ["--epochs", "3", "--lr", "0.01", "--optimizer", "adam"]
    env = seen["env"]
    assert isinstance(env, dict)
    assert env["SM_MODEL_DIR"] == f"{root}/model"
    assert env["SM_CHANNEL_TRAIN"] == f"{root}/input/data/train"
    assert json.loads(env["SM_HPS"]) == {"epochs": 3, "lr": 0.01, "optimizer": "adam"}
    assert env["MY_FLAG"] == "on"
    assert env["PYTHONUNBUFFERED"] == "1"
    config = seen["config"]
    assert isinstance(config, dict)
    assert config["hyperparameters.json"] == dict(spec.hyperparameters)
    assert config["resourceconfig.json"]["current_host"] == "algo-1"
    assert config["inputdataconfig.json"]["train"]["ContentType"] == "text/csv"
    assert seen["train"] == "1,2\n3,4\n"


def test_server_environment_does_not_leak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORGEML_DATABASE_URL", "postgresql://secret@db/x")
    result, _ = run(make_spec(tmp_path, DUMP_SCRIPT))
    env = seen_by_program(result.model_artifact)["env"]
    assert isinstance(env, dict)
    assert not [k for k in env if k.startswith("FORGEML_")]


def test_failure_file_is_the_reason_and_artifacts_are_packed(tmp_path: Path) -> None:
    script = """
    import os
    open(os.path.join(os.environ["SM_MODEL_DIR"], "partial.bin"), "w").write("half")
    open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "report.txt"), "w").write("r")
    open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w").write("bad data: " + "x" * 2000)
    raise SystemExit(3)
    """
    result, _ = run(make_spec(tmp_path, script))
    assert result.outcome == Outcome.FAILED
    assert result.exit_code == 3
    assert result.failure_reason is not None
    assert result.failure_reason.startswith("bad data: ")
    assert len(result.failure_reason) == 1024
    assert members(result.model_artifact) == {"partial.bin": b"half"}
    assert members(result.output_artifact) == {"report.txt": b"r"}


def test_exit_status_described_without_failure_file(tmp_path: Path) -> None:
    result, _ = run(make_spec(tmp_path, "import os, signal; os.kill(os.getpid(), signal.SIGABRT)"))
    assert result.outcome == Outcome.FAILED
    assert result.failure_reason is not None
    assert "SIGABRT" in result.failure_reason


def test_metrics_and_log_lines(tmp_path: Path) -> None:
    script = """
    import sys
    for i, loss in enumerate([0.9, 0.5, 0.25]):
        print(f"epoch={i} loss={loss}")
    print("val_acc=0.75", file=sys.stderr)
    """
    defs = (
        MetricDefinition("train:loss", r"loss=([0-9.eE+-]+)"),
        MetricDefinition("validation:accuracy", r"val_acc=([0-9.eE+-]+)"),
    )
    result, captured = run(make_spec(tmp_path, script, metric_definitions=defs))
    assert result.metrics_final == {"train:loss": 0.25, "validation:accuracy": 0.75}
    assert [p.value for p in result.metric_series["train:loss"]] == [0.9, 0.5, 0.25]
    assert "epoch=2 loss=0.25" in captured.text("stdout")
    assert "val_acc=0.75" in captured.text("stderr")
    first = captured.lines[0]
    assert first.stream == "system"
    assert "rlimits" in first.text
    assert all(line.host == "algo-1" for line in captured.lines)


def _forking_spec(tmp_path: Path, sleep: float, **overrides: Any) -> tuple[HostSpec, str]:
    marker = f"forgeml-test-{uuid.uuid4().hex}"
    hps = {"marker": marker, "sleep": str(sleep)}
    return make_spec(tmp_path, FORKING_SCRIPT, hyperparameters=hps, **overrides), marker


def _leftovers(marker: str, captured: Captured) -> list[int]:
    """Processes of the run still alive. Without a cgroup only the process group is guaranteed,
    so a grandchild that left the session (the "escapee") is tolerated then."""
    left = processes_with_marker(marker)
    if "cgroup v" in captured.lines[0].text:
        return left
    return [p for p in left if "escapee" not in Path(f"/proc/{p}/cmdline").read_text()]


def test_max_runtime_kills_every_process(tmp_path: Path) -> None:
    spec, marker = _forking_spec(tmp_path, 1000, max_runtime_s=2.0, stop_grace_s=1.0)
    result, captured = run(spec)  # the program sleeps 1000 s: only the runtime limit ends it
    assert result.outcome == Outcome.MAX_RUNTIME_EXCEEDED
    assert "MaxRuntimeExceeded" in (result.failure_reason or "")
    assert _leftovers(marker, captured) == []


def test_stop_kills_every_process(tmp_path: Path) -> None:
    spec, marker = _forking_spec(tmp_path, 1000)
    stop = threading.Event()
    captured = Captured()
    on_log = stop_when(captured, "forked", stop)
    result = run_host(spec, on_log=on_log, stop=stop, sandbox="off")
    assert result.outcome == Outcome.STOPPED
    assert _leftovers(marker, captured) == []


def test_grandchild_of_a_finished_program_is_killed(tmp_path: Path) -> None:
    spec, marker = _forking_spec(tmp_path, 0)
    result, captured = run(spec)
    assert result.outcome == Outcome.COMPLETED
    assert _leftovers(marker, captured) == []


def test_sigterm_lets_the_program_save_its_work(tmp_path: Path) -> None:
    script = """
    import os, signal, sys, time
    def save(*_):
        open(os.path.join(os.environ["SM_MODEL_DIR"], "saved.txt"), "w").write("ok")
        sys.exit(0)
    signal.signal(signal.SIGTERM, save)
    print("ready", flush=True)
    time.sleep(1000)
    """
    stop = threading.Event()
    captured = Captured()
    spec = make_spec(tmp_path, script)
    result = run_host(spec, on_log=stop_when(captured, "ready", stop), stop=stop, sandbox="off")
    assert result.outcome == Outcome.STOPPED
    assert members(result.model_artifact) == {"saved.txt": b"ok"}


def test_checkpoints_restored_and_synced(tmp_path: Path) -> None:
    previous = tmp_path / "previous-checkpoints"
    (previous / "sub").mkdir(parents=True)
    (previous / "sub" / "step-1.pt").write_text("one")
    script = """
    import os, time
    d = "/".join([os.environ["SAGEMAKER_BASE_DIR"], "checkpoints"])
    assert open(d + "/sub/step-1.pt").read() == "one"
    open(d + "/step-2.pt", "w").write("two")
    time.sleep(0.5)
    """
    synced: list[set[str]] = []

    def sync(folder: Path) -> None:
        synced.append({str(p.relative_to(folder)) for p in folder.rglob("*.pt")})

    spec = make_spec(tmp_path, script)
    result, _ = run(
        spec, checkpoints_from=previous, checkpoint_sync=sync, checkpoint_interval_s=0.1
    )
    assert result.outcome == Outcome.COMPLETED, result.failure_reason
    assert len(synced) >= 2
    assert synced[-1] == {"sub/step-1.pt", "step-2.pt"}


def test_failing_checkpoint_hook_does_not_fail_the_job(tmp_path: Path) -> None:
    def sync(folder: Path) -> None:
        raise RuntimeError("store down")

    result, captured = run(make_spec(tmp_path, "pass"), checkpoint_sync=sync)
    assert result.outcome == Outcome.COMPLETED
    assert "checkpoint sync failed" in captured.text("system")


def test_module_and_executable_entry_points(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "import sys; print('module', sys.argv[1:])", name="mod_train.py")
    result, captured = run(replace(spec, entry_point=EntryPoint("module", "mod_train")))
    assert result.outcome == Outcome.COMPLETED, captured.text()
    assert "module ['--epochs', '3'" in captured.text("stdout")
    exe = spec.code_dir / "run.sh"
    exe.write_text('#!/bin/sh\necho "exe $1 $2"\n')
    exe.chmod(0o755)
    result, captured = run(replace(spec, entry_point=EntryPoint("executable", "run.sh")))
    assert result.outcome == Outcome.COMPLETED
    assert "exe --epochs 3" in captured.text("stdout")


def test_file_size_limit(tmp_path: Path) -> None:
    script = """
    import os
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "big"), "wb") as f:
        f.write(b"x" * 2_000_000)
    """
    result, _ = run(make_spec(tmp_path, script, max_file_size_bytes=1_000_000))
    assert result.outcome == Outcome.FAILED


def test_memory_limit(tmp_path: Path) -> None:
    script = "x = bytearray(600 * 1024 * 1024)"
    result, captured = run(make_spec(tmp_path, script, memory_limit_bytes=400 * 1024 * 1024))
    assert result.outcome == Outcome.FAILED
    assert "MemoryError" in captured.text("stderr")


def test_reserved_environment_refused_before_start(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    spec = make_spec(tmp_path, f"open({str(marker)!r}, 'w')", user_env={"PYTHONSTARTUP": "/x"})
    with pytest.raises(InvalidInput):
        run(spec)
    assert not marker.exists()


def test_auto_mode_runs(tmp_path: Path) -> None:
    result, captured = run(make_spec(tmp_path, "print('hello')"), mode="auto")
    assert result.outcome == Outcome.COMPLETED
    assert "hello" in captured.text("stdout")
    assert "sandbox=" in captured.lines[0].text
