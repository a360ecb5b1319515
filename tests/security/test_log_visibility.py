"""What tenants read of a failing program's output: never a host path, in any sandbox mode; with
`logs: redacted` no frame of the algorithm's own code beyond `File "<algorithm>", line N`."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from forgeml.training import sandbox as sb
from forgeml.training.spec import Outcome
from tests.integration.training_helpers import PYTHON, make_spec, run
from tests.support.services import service_missing

# The owner's code: a helper module and a traceback through it, a library frame (json), and
# the failure file written the SageMaker way (the formatted traceback).
SAUCE = """
def blend(rows):
    secret_sauce_weight = 0.1337  # the owner's secret
    return json.loads("{not json" + str(secret_sauce_weight * len(rows)))
"""
TRAIN = """
import json, os, sys, traceback
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sauce
sauce.json = json
print("starting from", os.path.abspath(__file__), os.getcwd(), sys.executable, flush=True)
try:
    sauce.blend([1, 2, 3])
except Exception:
    open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w").write(traceback.format_exc())
    raise
"""

MODES = ["off", "required"]


def _run(tmp_path: Path, mode: str, visibility: str) -> tuple[str, str]:
    if mode == "required" and (problem := sb.self_test()) is not None:
        service_missing(f"bubblewrap is not usable here: {problem}")
    spec = make_spec(tmp_path, TRAIN, log_visibility=visibility)
    (spec.code_dir / "sauce.py").write_text(SAUCE)
    result, captured = run(replace(spec), mode=mode)
    assert result.outcome == Outcome.FAILED
    return captured.text(), result.failure_reason or ""


def _host_paths(tmp_path: Path) -> list[str]:
    venv = PYTHON.parent.parent
    base = Path(sys.base_prefix)
    return [str(tmp_path), str(tmp_path.resolve()), str(venv), str(venv.resolve()), str(base)]


@pytest.mark.parametrize("mode", MODES)
def test_full_logs_show_the_traceback_but_no_host_path(tmp_path: Path, mode: str) -> None:
    logs, reason = _run(tmp_path, mode, "full")
    for shown in (logs, reason):
        assert 'File "/opt/ml/code/sauce.py"' in shown and "secret_sauce_weight" in shown
        assert "json.decoder.JSONDecodeError" in shown
        for path in _host_paths(tmp_path):
            assert path not in shown, (path, shown)
    assert "starting from /opt/ml/code/train.py" in logs
    assert "/opt/venv/bin/python" in logs or "/opt/python/" in logs


@pytest.mark.parametrize("mode", MODES)
def test_redacted_logs_hide_the_algorithm_code(tmp_path: Path, mode: str) -> None:
    logs, reason = _run(tmp_path, mode, "redacted")
    for shown in (logs, reason):
        assert 'File "<algorithm>", line 4' in shown  # sauce.py's raising line, file-less
        assert "json.decoder.JSONDecodeError: Expecting property name" in shown  # the exception
        assert "/json/decoder.py" in shown  # library frames stay readable
        for secret in ("secret_sauce", "sauce.py", "in blend", 'File "/opt/ml/code'):
            assert secret not in shown, (secret, shown)
        for path in _host_paths(tmp_path):
            assert path not in shown, (path, shown)
