"""The launcher ends a run as the training toolkit does, and starts container-mode programs as BYOC."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from forgeml.training import sandbox as sb
from forgeml.training.spec import EntryPoint, HostSpec, Outcome
from tests.integration.training_helpers import make_spec, run
from tests.support.services import service_missing

FAILING = """
import sys
print("loading data", flush=True)
print("warming up", file=sys.stderr, flush=True)
raise ValueError("column 'label' is missing from train.csv")
"""

# A bring-your-own-container `train`: names a python that this machine does not have, reads /opt/ml.
BYOC_TRAIN = """#!/usr/bin/env python3.{minor}
import json, os, sys
base = os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml")
hps = json.load(open(os.path.join(base, "input", "config", "hyperparameters.json")))
seen = {{"argv": sys.argv, "hps": hps, "python": sys.executable}}
with open(os.path.join(base, "model", "seen.json"), "w") as f:
    json.dump(seen, f)
"""


def byoc_spec(tmp_path: Path) -> HostSpec:
    # A minor version no interpreter on PATH has: only the resolution can make it start.
    spec = make_spec(tmp_path, BYOC_TRAIN.format(minor=99), name="train")
    (spec.code_dir / "train").chmod(0o755)
    return replace(spec, entry_point=EntryPoint("executable", "train"), mode="container")


def test_failure_reason_is_the_toolkit_error_with_the_message(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, FAILING)
    result, _ = run(spec)
    assert result.outcome == Outcome.FAILED
    reason = result.failure_reason or ""
    assert reason.startswith('ExecuteUserScriptError:\nExitCode 1\nErrorMessage "')
    assert "ValueError: column 'label' is missing from train.csv" in reason
    assert "loading data" not in reason  # stdout is not the error
    assert reason.rstrip('"').endswith("train.py --epochs 3 --lr 0.01 --optimizer adam")
    written = (spec.work_root / "output" / "failure").read_text()
    assert written == reason
    assert not (spec.work_root / "output" / "success").exists()


def test_long_stderr_keeps_its_end_and_the_command(tmp_path: Path) -> None:
    script = (
        "import sys\nfor i in range(500): print('noise', i, file=sys.stderr)\nsys.exit('the end')"
    )
    result, _ = run(make_spec(tmp_path, script))
    reason = result.failure_reason or ""
    assert len(reason) <= 1024
    assert "the end" in reason
    assert "noise 0\n" not in reason
    assert 'Command "' in reason


def test_failure_file_written_by_the_program_is_kept(tmp_path: Path) -> None:
    script = """
    import os, sys
    open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w").write("my own words")
    print("Traceback: noise", file=sys.stderr)
    sys.exit(2)
    """
    spec = make_spec(tmp_path, script)
    result, _ = run(spec)
    assert result.failure_reason == "my own words"
    assert (spec.work_root / "output" / "failure").read_text() == "my own words"


def test_failure_file_link_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    script = f"""
    import os
    os.symlink({str(victim)!r}, os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"))
    raise SystemExit(4)
    """
    result, _ = run(make_spec(tmp_path, script))
    assert victim.read_text() == "precious"
    assert (result.failure_reason or "").startswith("ExecuteUserScriptError:\nExitCode 4")


def test_success_file_after_a_script_mode_run(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "print('fine')")
    result, _ = run(spec)
    assert result.outcome == Outcome.COMPLETED
    assert (spec.work_root / "output" / "success").read_bytes() == b""
    assert not (spec.work_root / "output" / "failure").exists()


def test_container_mode_gets_no_arguments_and_the_env_python(tmp_path: Path) -> None:
    spec = byoc_spec(tmp_path)
    result, captured = run(spec)
    assert result.outcome == Outcome.COMPLETED, captured.text()
    seen = json.loads((spec.work_root / "model" / "seen.json").read_text())
    assert seen["argv"] == [f"{spec.work_root}/code/train"]
    assert seen["hps"] == {"epochs": "3", "lr": "0.01", "optimizer": "adam"}
    assert Path(seen["python"]).resolve() == Path(sys.executable).resolve()
    assert not (spec.work_root / "output" / "success").exists()  # BYOC programs write their own


def test_container_mode_in_the_jail_reads_only_opt_ml(tmp_path: Path) -> None:
    problem = sb.self_test()
    if problem is not None:
        service_missing(problem)
    spec = byoc_spec(tmp_path)
    result, captured = run(spec, mode="bwrap")
    assert result.outcome == Outcome.COMPLETED, captured.text()
    seen = json.loads((spec.work_root / "model" / "seen.json").read_text())
    assert seen["argv"] == ["/opt/ml/code/train"]


def test_explicit_interpreter_runs_a_file_without_shebang(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "import sys; print('args', sys.argv[1:])", name="train")
    spec = replace(spec, entry_point=EntryPoint("executable", "train"), interpreter="python3")
    result, captured = run(spec)
    assert result.outcome == Outcome.COMPLETED, captured.text()
    assert "args ['--epochs', '3'" in captured.text("stdout")


@pytest.mark.parametrize("shebang", ["#!/bin/sh", "#!/usr/bin/env sh"])
def test_other_shebangs_are_executed_as_they_are(tmp_path: Path, shebang: str) -> None:
    spec = make_spec(tmp_path, f'{shebang}\necho "sh $#"\n', name="train")
    os.chmod(spec.code_dir / "train", 0o755)
    spec = replace(spec, entry_point=EntryPoint("executable", "train"), mode="container")
    result, captured = run(spec)
    assert result.outcome == Outcome.COMPLETED, captured.text()
    assert "sh 0" in captured.text("stdout")
