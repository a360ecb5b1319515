"""Failure kinds and the orchestration policies: retry, billing and message derived from the kind."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from forgeml.domain.failures import RULES, FailureKind, display, rule, tenant_attempts_spent
from forgeml.domain.job_model import TrainingJob
from forgeml.domain.jobs import Secondary
from forgeml.domain.retry import Requeue
from forgeml.queue.policies import (
    AFTER,
    BEFORE,
    ArtifactSwitch,
    FailureReason,
    Proposal,
    RetryPolicy,
    StopRule,
)
from forgeml.training.volume import HostVolume

K = FailureKind
S = Secondary
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def job(**over: Any) -> TrainingJob:
    fields: dict[str, Any] = dict.fromkeys(TrainingJob.__dataclass_fields__)
    fields.update(
        id="job_1", tenant_id="tnt_1", name="j", status="InProgress",
        secondary_status="Training", resource_class="cpu.small", instance_count=1,
        max_attempts=3, attempt=1,
    )  # fmt: skip
    return replace(TrainingJob(**fields), **over)


def proposal(target: Secondary = S.FAILED, **over: Any) -> Proposal:
    return Proposal(None, "job_1", target, "m", NOW, **over)  # type: ignore[arg-type]


def test_every_kind_has_exactly_one_rule() -> None:
    assert set(RULES) == set(FailureKind)


@pytest.mark.parametrize(
    ("kind", "shown"),
    [
        (K.ALGORITHM_ERROR, "AlgorithmError: boom"),
        (K.LIMIT_EXCEEDED, "AlgorithmError: boom"),
        (K.PLATFORM_ERROR, "PlatformError: boom"),
        (K.PLATFORM_OUTAGE, "PlatformError: boom"),
        (K.STOPPED, "boom"),
    ],
)
def test_the_tenant_visible_reason_is_derived_from_the_kind(kind: FailureKind, shown: str) -> None:
    assert display(kind, "boom") == shown


def test_platform_failures_are_retried_and_never_billed_algorithm_ones_the_opposite() -> None:
    assert [k for k in K if rule(k).retried] == [K.PLATFORM_ERROR, K.PLATFORM_OUTAGE]
    assert [k for k in K if not rule(k).billable] == [K.PLATFORM_ERROR, K.PLATFORM_OUTAGE]


def test_only_outages_spare_the_tenants_attempts() -> None:
    assert [k for k in K if not rule(k).spends_attempt] == [K.PLATFORM_OUTAGE]
    kinds = [K.PLATFORM_OUTAGE, K.PLATFORM_ERROR, K.PLATFORM_OUTAGE, None]
    assert tenant_attempts_spent(kinds, 4) == 2


def test_a_platform_error_with_attempts_left_is_retried_after_a_back_off() -> None:
    d = RetryPolicy.decide(job(), [], K.PLATFORM_ERROR, "lost", Requeue(backoff_s=60), NOW)
    assert d.target == S.INTERRUPTED and d.reason is None
    assert d.message == "lost; retrying (attempt 1 interrupted, 1 of 3 used)"
    assert d.values["not_before"] == NOW + timedelta(seconds=60)
    assert d.values["pending_reason"] == "waiting for capacity in class cpu.small"


def test_the_last_tenant_attempt_lost_by_the_platform_fails_with_a_platform_reason() -> None:
    d = RetryPolicy.decide(job(attempt=3), [K.PLATFORM_ERROR] * 2, K.PLATFORM_ERROR, "lost",
                           Requeue(), NOW)  # fmt: skip
    assert (d.target, d.reason) == (S.FAILED, "lost")
    assert d.message == "lost; no retries left (3 attempts)"
    p = proposal(failure=K.PLATFORM_ERROR, reason=d.reason)
    FailureReason().apply(p)
    assert p.values["failure_reason"] == "PlatformError: lost"


def test_outages_do_not_spend_attempts_but_are_capped_by_the_operator() -> None:
    policy = Requeue(max_outage_retries=2)
    two = RetryPolicy.decide(job(attempt=3), [K.PLATFORM_OUTAGE], K.PLATFORM_OUTAGE, "db down",
                             policy, NOW)  # fmt: skip
    assert two.target == S.INTERRUPTED
    assert "1 of 3 used" in two.message  # attempt 3, two of them outages
    three = RetryPolicy.decide(job(attempt=3), [K.PLATFORM_OUTAGE] * 2, K.PLATFORM_OUTAGE,
                               "db down", policy, NOW)  # fmt: skip
    assert (three.target, three.message) == (
        S.FAILED,
        "db down; no retries left (3 platform outages)",
    )


def test_a_job_asked_to_stop_ends_stopped_whatever_its_attempt_did() -> None:
    d = RetryPolicy.decide(job(secondary_status="Stopping"), [], K.PLATFORM_ERROR, "lost",
                           Requeue(), NOW)  # fmt: skip
    assert (d.target, d.message, d.reason) == (S.STOPPED, "stopped; lost", None)
    assert StopRule.on_end(S.STOPPING, S.COMPLETED) == S.STOPPED
    assert StopRule.on_end(S.UPLOADING, S.COMPLETED) == S.COMPLETED


def test_a_stop_request_ends_queued_jobs_at_once_and_asks_running_ones() -> None:
    assert StopRule.on_request(S.PENDING) == S.STOPPED
    assert StopRule.on_request(S.INTERRUPTED) == S.STOPPED
    assert StopRule.on_request(S.TRAINING) == S.STOPPING


def test_the_failure_reason_is_left_alone_without_a_kind_or_a_reason() -> None:
    text = "ExecuteUserScriptError:\nExitCode 1"  # the program's own text, kept as it is
    p = proposal(values={"failure_reason": text}, failure=K.ALGORITHM_ERROR)
    FailureReason().apply(p)
    assert p.values["failure_reason"] == text


def test_artifacts_switch_only_in_a_fenced_terminal_move() -> None:
    ArtifactSwitch().apply(proposal(S.COMPLETED, values={"artifacts": {}}, fenced=True))
    with pytest.raises(ValueError, match="artifacts switch only"):
        ArtifactSwitch().apply(proposal(S.COMPLETED, values={"artifacts": {}}))
    with pytest.raises(ValueError, match="artifacts switch only"):
        ArtifactSwitch().apply(proposal(S.UPLOADING, values={"artifacts": {}}, fenced=True))


def test_the_policies_run_in_their_declared_order() -> None:
    assert [p.name for p in BEFORE] == ["artifact-switch", "failure-reason"]
    assert [p.name for p in AFTER] == [
        "attempt-training-start",
        "attempt-close",
        "billing",
        "budget-alert",
        "fair-share",
        "events",
        "wake-runners",
    ]


def test_the_volume_message_keeps_its_text(tmp_path: Path) -> None:
    # HostVolume reads only these three fields of its spec
    spec = SimpleNamespace(work_root=tmp_path / "w", volume_bytes=1, volume_gb=2)
    volume = HostVolume(spec)  # type: ignore[arg-type]
    assert volume.message == "AlgorithmError: the job exceeded its volume of 2 GB"
