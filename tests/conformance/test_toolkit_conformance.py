"""ForgeML's contract against the real sagemaker-training toolkit, over generated jobs.

For each job: ForgeML builds the host's tree; the toolkit's Environment() reads it; every variable
and argument must match, apart from the allowlist in differences.py.
"""

from __future__ import annotations

import json
import shlex
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forgeml.training.contract import SANDBOX_ROOT, build_tree
from forgeml.training.failure import StderrTail, exit_info, failure_text, script_error
from forgeml.training.program_env import build_env, program_argv
from forgeml.training.spec import ChannelSpec, EntryPoint, HostSpec
from tests.conformance.conftest import Toolkit
from tests.conformance.differences import DIFFERENT, EXTRA, TRAINING_ENV_DIFFERENT

JOBS = 250
_SETTINGS = settings(
    max_examples=JOBS,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
_TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\0"), max_size=40)
_NAME_CHARS = "abcXYZ019_.-"
_HP_KEY_CHARS = "abcLRxyz09_-.:/"
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats() | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=6,
)
_NUMBER_TEXT = st.sampled_from(["1e-3", "1E5", "10", "-0.5", "0.001", "3.0", "007", "NaN", "-0"])
_BOOL_TEXT = st.sampled_from(["true", "false", "True", "FALSE", "null", "[]", "{}"])
_VALUES = _TEXT | _NUMBER_TEXT | _BOOL_TEXT | _JSON.map(json.dumps)
# Framework keys a tenant may pass; job name and region only as text (the toolkit needs a str).
_FRAMEWORK = st.one_of(
    st.tuples(st.just("sagemaker_container_log_level"), st.sampled_from(["10", "20", "30"])),
    st.tuples(st.sampled_from(["sagemaker_job_name", "sagemaker_region"]), st.just("eu-west-1")),
    st.tuples(
        st.sampled_from(["sagemaker_mpi_enabled", "sagemaker_pytorch_ddp_enabled"]),
        st.sampled_from(["true", "false"]),
    ),
    st.tuples(st.just("sagemaker_custom_flag"), _VALUES),
    st.tuples(st.just("_tuning_objective_metric"), st.just("loss")),
)
_INSTANCE_TYPES = st.sampled_from(["ml.m5.large", "ml.g5.12xlarge", "ml.c5.9xlarge", "local"])


@st.composite
def jobs(draw: st.DrawFn) -> dict[str, Any]:
    hosts = [f"algo-{i + 1}" for i in range(draw(st.integers(1, 4)))]
    channel_names = st.text(_NAME_CHARS, min_size=1, max_size=12).filter(
        lambda n: n not in {".", ".."}
    )
    hp_keys = st.text(_HP_KEY_CHARS, min_size=1, max_size=16).filter(
        lambda k: k[0] not in "-.:/" and not k.startswith("sagemaker_")
    )
    hps = draw(st.dictionaries(hp_keys, _VALUES, max_size=8))
    hps.update(draw(st.lists(_FRAMEWORK, max_size=3)))
    return {
        "hosts": hosts,
        "host": draw(st.sampled_from(hosts)),
        "channels": draw(
            st.dictionaries(
                channel_names, _TEXT.map(lambda t: "text/" + "x" * len(t) or "a"), max_size=4
            )
        ),
        "hyperparameters": hps,
        "instance_type": draw(_INSTANCE_TYPES),
        "cpus": draw(st.integers(1, 96)),
        "gpus": draw(st.integers(0, 4)),
        "interface": draw(st.sampled_from(["lo", "eth0"])),
        "entry": draw(st.sampled_from(["train.py", "src/train.py", "-m pkg.train"])),
        "user_env": draw(st.dictionaries(st.sampled_from(["MY_FLAG", "DATA_ROOT"]), _TEXT)),
    }


def make_spec(job: dict[str, Any], tmp: Path) -> HostSpec:
    code = tmp / "code"
    (code / "src").mkdir(parents=True)
    for rel in ("train.py", "src/train.py"):
        (code / rel).write_text("")
    channels = {}
    for name, content_type in job["channels"].items():
        (tmp / "data" / name).mkdir(parents=True)
        channels[name] = ChannelSpec(tmp / "data" / name, content_type=content_type)
    entry = job["entry"]
    kind = "module" if entry.startswith("-m ") else "script"
    return HostSpec(
        job_name="conformance-job",
        host=job["host"],
        hosts=tuple(job["hosts"]),
        instance_type=job["instance_type"],
        entry_point=EntryPoint(kind, entry.removeprefix("-m ")),
        code_dir=code,
        python=Path("/venv/bin/python"),
        work_root=tmp / "ml",
        hyperparameters=job["hyperparameters"],
        channels=channels,
        cpu_count=job["cpus"],
        gpu_indices=tuple(range(job["gpus"])),
        network_interface=job["interface"],
        user_env=job["user_env"],
    )


def _mapped(value: str, base: Path) -> str:
    return value.replace(str(base), SANDBOX_ROOT)


def compare(spec: HostSpec, ours: dict[str, str], theirs: dict[str, Any]) -> list[str]:
    """Every unexplained difference, as readable lines (empty when the contract matches)."""
    base = spec.work_root
    expected = {k: _mapped(v, base) for k, v in theirs["env_vars"].items()}
    expected |= {k: v for k, v in theirs["inherited"].items() if v is not None}
    problems = []
    for name, value in sorted(expected.items()):
        if name == "SM_TRAINING_ENV":
            problems += _compare_training_env(spec, json.loads(ours[name]), json.loads(value))
        elif name in DIFFERENT:
            if ours.get(name) != DIFFERENT[name].forgeml_value(spec):
                problems.append(f"{name}: {ours.get(name)!r} is not the allowlisted value")
        elif ours.get(name) != value:
            problems.append(f"{name}: ForgeML {ours.get(name)!r} != toolkit {value!r}")
    extra = set(ours) - set(expected) - set(EXTRA) - set(spec.user_env)
    problems += [f"{name}: set by ForgeML, never by the toolkit" for name in sorted(extra)]
    args = [_mapped(a, base) for a in theirs["cmd_args"]]
    argv = program_argv(spec, SANDBOX_ROOT)
    if argv[len(argv) - len(args) :] != args or json.loads(ours["SM_USER_ARGS"]) != args:
        problems.append(f"argv: ForgeML {argv!r} does not end with toolkit {args!r}")
    return problems


def _compare_training_env(
    spec: HostSpec, ours: dict[str, Any], theirs: dict[str, Any]
) -> list[str]:
    problems = []
    for key in sorted(set(ours) | set(theirs)):
        if key in TRAINING_ENV_DIFFERENT:
            if ours.get(key) != TRAINING_ENV_DIFFERENT[key].forgeml_value(spec):
                problems.append(f"SM_TRAINING_ENV.{key}: {ours.get(key)!r} is not allowlisted")
        elif key not in ours or key not in theirs or ours[key] != theirs[key]:
            problems.append(f"SM_TRAINING_ENV.{key}: {ours.get(key)!r} != {theirs.get(key)!r}")
    return problems


def _run_one(toolkit: Toolkit, job: dict[str, Any]) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        spec = make_spec(job, Path(tmp))
        build_tree(spec)
        ours = build_env(spec, SANDBOX_ROOT, home="/tmp", python_bin="/venv/bin")
        # What SageMaker and the framework image give the toolkit: the job name and the program.
        environ = {"TRAINING_JOB_NAME": spec.job_name, "SAGEMAKER_PROGRAM": spec.entry_point.value}
        theirs = toolkit.environment(spec.work_root, environ)
        return compare(spec, ours, theirs)


@_SETTINGS
@given(job=jobs())
def test_environment_and_arguments_match_the_toolkit(toolkit: Toolkit, job: dict[str, Any]) -> None:
    assert _run_one(toolkit, job) == []


@settings(max_examples=60, deadline=None, database=None)
@given(
    code=st.integers(1, 255) | st.integers(-64, -1),
    stderr=st.lists(_TEXT, max_size=6),
    argv=st.lists(_TEXT, min_size=1, max_size=4),
)
def test_failure_text_is_the_toolkit_error(
    toolkit: Toolkit, code: int, stderr: list[str], argv: list[str]
) -> None:
    tail = StderrTail()
    for line in stderr:
        tail.add(line)
    ours = failure_text(code, tail, argv, sandboxed=False)
    # Same fields through the toolkit's own class: identical text (ours cut at 1024 characters).
    info = exit_info(code, sandboxed=False)
    message = ours.split('ErrorMessage "', 1)[1].rsplit('"\n', 2 if info else 1)[0]
    theirs = toolkit.error_text(shlex.join(argv), code, message, info)
    assert ours == theirs[:1024]
    assert script_error(code, message, shlex.join(argv), info) == theirs


def test_the_comparison_sees_a_difference(toolkit: Toolkit, tmp_path: Path) -> None:
    job = {
        "hosts": ["algo-1", "algo-2"], "host": "algo-2", "channels": {"train": "text/csv"},
        "hyperparameters": {"lr": "1e-3", "flag": "true", "d": '{"a": 1}', "x-y": "héllo"},
        "instance_type": "ml.m5.large", "cpus": 3, "gpus": 1, "interface": "eth0",
        "entry": "src/train.py", "user_env": {"MY_FLAG": "1"},
    }  # fmt: skip
    spec = make_spec(job, tmp_path)
    build_tree(spec)
    ours = build_env(spec, SANDBOX_ROOT, home="/tmp", python_bin="/venv/bin")
    environ = {"TRAINING_JOB_NAME": spec.job_name, "SAGEMAKER_PROGRAM": "src/train.py"}
    theirs = toolkit.environment(spec.work_root, environ)
    assert theirs["cmd_args"] == ["-d", "a=1", "--flag", "True", "--lr", "0.001", "--x-y", "héllo"]
    assert compare(spec, ours, theirs) == []
    ours |= {"SM_HP_LR": "1e-3", "SM_EXTRA": "1"}
    assert compare(spec, ours, theirs) == [
        "SM_HP_LR: ForgeML '1e-3' != toolkit '0.001'",
        "SM_EXTRA: set by ForgeML, never by the toolkit",
    ]
