"""The job cgroup's CPU weight is worth the class's CPUs on v1 and v2, clamped to the kernel's
range, with a CFS quota only on hard caps (the files land in a fake cgroup root)."""

from __future__ import annotations

from pathlib import Path

import pytest

from forgeml.training import limits
from forgeml.training.spec import EntryPoint, HostSpec


def _spec(tmp_path: Path, cpus: int, hard_cap: bool = False) -> HostSpec:
    return HostSpec(
        job_name="j", host="algo-1", hosts=("algo-1",), instance_type="cpu.small",
        entry_point=EntryPoint("script", "train.py"), code_dir=tmp_path, python=Path("/p"),
        work_root=tmp_path, cpu_count=cpus, cpu_hard_cap=hard_cap,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("cpus", "v1", "v2"), [(1, 1024, 100), (2, 2048, 200), (8, 8192, 800), (500, 262_144, 10_000)]
)
def test_weight_is_one_default_per_cpu_within_the_kernel_range(
    tmp_path: Path, cpus: int, v1: int, v2: int
) -> None:
    spec = _spec(tmp_path, cpus)
    assert (limits.cpu_weight(spec, 1), limits.cpu_weight(spec, 2)) == (v1, v2)


def test_v2_group_gets_weight_and_no_quota_by_default(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    group = limits.create_cgroup(_spec(tmp_path, 2), root=root)
    assert group is not None and group.version == 2
    (path,) = group.dirs
    assert (path / "cpu.weight").read_text() == "200"
    assert (path / "cpu.max").read_text() == "max 100000"
    assert "cpu=2:weight" in group.describe()


def test_v2_hard_cap_writes_a_quota_of_the_class_cpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits.os, "cpu_count", lambda: 16)
    root = tmp_path / "cg"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu\n")
    group = limits.create_cgroup(_spec(tmp_path, 2, hard_cap=True), root=root)
    assert group is not None
    assert (group.dirs[0] / "cpu.max").read_text() == "200000 100000"
    assert "cpu=2:cap" in group.describe()


def test_v1_group_gets_shares_and_a_quota_only_on_hard_caps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "_own_cgroup", lambda controller: "/")
    monkeypatch.setattr(limits.os, "cpu_count", lambda: 16)
    root = tmp_path / "cg"
    for controller in ("cpu", "memory", "pids"):
        (root / controller).mkdir(parents=True)
    for hard_cap, quota in ((False, "-1"), (True, "300000")):
        group = limits.create_cgroup(_spec(tmp_path, 3, hard_cap), root=root)
        assert group is not None and group.version == 1
        cpu = next(p for p in group.dirs if p.parent.name == "cpu")
        assert (cpu / "cpu.shares").read_text() == "3072"
        assert (cpu / "cpu.cfs_quota_us").read_text() == quota


def test_a_whole_host_class_never_gets_a_quota(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits.os, "cpu_count", lambda: 2)
    assert limits.cpu_quota_us(_spec(tmp_path, 2, hard_cap=True)) == -1
    assert limits.cpu_quota_us(_spec(tmp_path, 1, hard_cap=True)) == 100_000
