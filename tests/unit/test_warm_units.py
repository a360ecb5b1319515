"""Warm pool pieces without a jail: option grouping, what counts as job-specific, eligibility,
and which executor the settings give."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from forgeml.config import JobServiceSettings, Settings
from forgeml.executors.local import LocalExecutor
from forgeml.executors.registry import open_executor
from forgeml.training import sandbox as sb
from forgeml.training.contract import build_tree
from forgeml.training.program_env import build_env
from forgeml.training.spec import EntryPoint
from forgeml.training.warm_pool import WarmPool, fixed, warm_options
from forgeml.training.warm_slot import Slot, job_specific
from tests.integration.training_helpers import make_spec


def test_options_group_with_their_arguments() -> None:
    opts = [
        "--unshare-all",
        "--bind",
        "/a",
        "/b",
        "--dir",
        "/c",
        "--setenv",
        "K",
        "V",
        "--share-net",
    ]
    assert sb.option_groups(opts) == [
        ("--unshare-all",), ("--bind", "/a", "/b"), ("--dir", "/c"), ("--setenv", "K", "V"),
        ("--share-net",),
    ]  # fmt: skip


def test_job_specific_options_are_mounts_under_opt_ml_tmp_etc_env_and_cwd() -> None:
    assert job_specific(("--ro-bind", "/x", "/opt/ml/code"))
    assert job_specific(("--bind", "/x/.scratch", "/tmp"))
    assert job_specific(("--ro-bind", "/x/etc/hosts", "/etc/hosts"))
    assert job_specific(("--setenv", "SM_HOSTS", "[]"))
    assert job_specific(("--chdir", "/opt/ml/code"))
    assert not job_specific(("--ro-bind", "/usr", "/usr"))
    assert not job_specific(("--ro-bind", "/etc/ssl", "/etc/ssl"))  # network files: not warm
    assert not job_specific(("--hostname", "algo-1"))
    assert not job_specific(("--share-net",))


def test_a_plain_jobs_fixed_flags_equal_the_warm_jails(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "print(1)")
    layout = build_tree(spec)
    env = build_env(spec, "/opt/ml", home="/tmp", python_bin=str(spec.python.parent))
    job = sb.bwrap_options(spec, layout, env, shared_net=False, tmp=tmp_path / "scratch")
    warm = warm_options(spec.python, Slot(tmp_path / "slot"))
    assert fixed(job) == fixed(warm)
    online = sb.bwrap_options(
        replace(spec, network_allowed=True), layout, env, shared_net=False, tmp=tmp_path
    )
    assert fixed(online) != fixed(warm)


def test_eligible_only_for_offline_single_host_python_entries(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "print(1)")
    assert WarmPool.eligible(spec)
    assert WarmPool.eligible(replace(spec, entry_point=EntryPoint("module", "train")))
    assert not WarmPool.eligible(replace(spec, hosts=("algo-1", "algo-2")))
    assert not WarmPool.eligible(replace(spec, network_allowed=True))
    assert not WarmPool.eligible(replace(spec, gpu_indices=(0,)))
    shell = make_spec(tmp_path, "#!/bin/sh\necho hi\n", name="run.sh")
    assert not WarmPool.eligible(replace(shell, entry_point=EntryPoint("executable", "run.sh")))


def test_a_pool_that_never_ran_takes_nothing_and_closes(tmp_path: Path) -> None:
    pool = WarmPool(tmp_path / "warm", 0)
    assert pool.take(make_spec(tmp_path, "print(1)")) is None
    pool.close()
    pool.close()  # idempotent


def _settings(tmp_path: Path, sandbox: str, size: int) -> JobServiceSettings:
    base = Settings(home=tmp_path, sandbox=sandbox, jobs={"warm_pool_size": size})  # type: ignore[arg-type]
    return JobServiceSettings.of(base)


def test_the_executor_gets_a_pool_only_when_jobs_are_jailed_and_it_is_wanted(
    tmp_path: Path,
) -> None:
    with_pool = open_executor("local", _settings(tmp_path, "auto", 1))
    assert isinstance(with_pool, LocalExecutor) and with_pool.warm is not None
    assert with_pool.warm.root == tmp_path / "warm-work"
    with_pool.close()
    for sandbox, size in (("off", 1), ("required", 0)):
        executor = open_executor("local", _settings(tmp_path, sandbox, size))
        assert isinstance(executor, LocalExecutor) and executor.warm is None
    assert isinstance(open_executor("local"), LocalExecutor)
