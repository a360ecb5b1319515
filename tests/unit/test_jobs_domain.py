"""The job status machine (one table), spec validation and the billing rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from forgeml.domain.checkpoints import CheckpointConfig, local_path_problem
from forgeml.domain.jobs import (
    TRANSITIONS,
    AttemptTimes,
    ChannelRef,
    JobSpec,
    Secondary,
    Status,
    allowed_from,
    billable_seconds,
    event_types,
    is_terminal,
    primary,
    spec_problems,
    training_seconds,
)

S = Secondary


def test_table_shape() -> None:
    assert {s for s in S if is_terminal(s)} == {
        S.COMPLETED, S.FAILED, S.STOPPED, S.MAX_RUNTIME_EXCEEDED, S.MAX_WAIT_TIME_EXCEEDED
    }  # fmt: skip
    assert primary(S.MAX_RUNTIME_EXCEEDED) == Status.STOPPED
    assert primary(S.INTERRUPTED) == Status.IN_PROGRESS
    assert allowed_from(S.STARTING) == {S.PENDING, S.INTERRUPTED}
    assert allowed_from(S.STOPPED) == {S.PENDING, S.INTERRUPTED, S.STOPPING}
    assert S.COMPLETED not in TRANSITIONS[S.TRAINING][1]  # completion always goes via Uploading
    assert S.STOPPING not in TRANSITIONS[S.UPLOADING][1]  # the stop rule: the outcome is fixed
    assert event_types(S.FAILED) == ["training_job.state_changed", "training_job.failed"]
    assert event_types(S.TRAINING) == ["training_job.state_changed"]


def test_spec_problems_are_all_reported() -> None:
    spec = JobSpec(
        name="-bad", algorithm="x:1", channels={}, instance_count=0, max_runtime_s=0,
        max_attempts=0, environment={"PATH": "/evil", "OK_NAME": "1"}, tags={"forgeml:x": "y"},
    )  # fmt: skip
    locs = {p["loc"] for p in spec_problems(spec, max_runtime_limit_s=100)}
    assert locs == {
        "name",
        "resources.instance_count",
        "stopping_condition.max_runtime_s",
        "retry.max_attempts",
        "tags.forgeml:x",
    }  # fmt: skip  (the environment is checked against the algorithm: tenant_inputs)
    # no channel at all is fine (the algorithm card decides whether one is required)
    good = JobSpec(name="a-b--c1", algorithm="x:1", channels={"train": ChannelRef("dst_x")})
    assert spec_problems(good, max_runtime_limit_s=86400) == []
    too_long = JobSpec(name="a" * 64, algorithm="x", channels={"t": ChannelRef("d")})
    assert [p["loc"] for p in spec_problems(too_long, max_runtime_limit_s=86400)] == ["name"]


def test_checkpoint_local_path_allowlist() -> None:
    ok = ("/opt/ml/checkpoints", "/opt/ml/ckpt/run-1", "/opt/ml/a.b_c")
    bad = (
        "/opt/ml", "/opt/ml/", "/opt/ml/../etc", "/opt/ml/ck/../../x", "/opt/ml//x", "/tmp/x",
        "opt/ml/x", "/opt/ml/x/", "/opt/ml/model/x", "/opt/ml/input", "/opt/ml/code/x",
        "/opt/ml/output/ck", "/opt/ml/a b", "/opt/ml/\x00", "/opt/ml/" + "a" * 600,
    )  # fmt: skip
    assert [p for p in ok if local_path_problem(p)] == []
    assert [p for p in bad if not local_path_problem(p)] == []
    spec = JobSpec(
        name="a", algorithm="x", checkpointing=False,
        checkpoint=CheckpointConfig("loc", "/opt/ml/../x"),
    )  # fmt: skip
    locs = [p["loc"] for p in spec_problems(spec, max_runtime_limit_s=86400)]
    assert locs == ["checkpoint_config.local_path", "checkpoint_config"]


def test_billing_skips_platform_failures_and_scales_by_instances() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    lost = AttemptTimes(t0, t0 + timedelta(seconds=5), t0 + timedelta(seconds=50), billable=False)
    ok = AttemptTimes(
        t0 + timedelta(seconds=60), t0 + timedelta(seconds=70), t0 + timedelta(seconds=160), True
    )
    # billed from the program's start (t0+70), not the attempt's (t0+60): 90 s x 2 instances
    assert billable_seconds([lost, ok], instance_count=2) == 180
    assert training_seconds([lost, ok]) == 90
    assert billable_seconds([AttemptTimes(t0, None, None, True)], 1) == 0
