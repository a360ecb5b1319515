"""The quota and metering rules (pure): capacity blocks, the budget refusal, thresholds, phases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from forgeml.domain.quotas import (
    Quota,
    budget_refusal,
    capacity_block,
    crossed,
    never_fits,
    phase_seconds,
)

T0 = datetime(2026, 12, 4, 12, tzinfo=UTC)


def test_capacity_block_names_the_quota_and_the_numbers() -> None:
    q = Quota("t", max_concurrent_jobs=2, class_instances={"cpu.small": 4})
    assert capacity_block(q, 1, 0, "cpu.small", 4) is None
    assert capacity_block(q, 2, 0, "cpu.small", 1) == "tenant quota: 2 of 2 concurrent jobs running"
    assert capacity_block(q, 1, 3, "cpu.small", 2) == (
        "tenant quota: 3 of 4 cpu.small instances in use (this job needs 2)"
    )
    assert capacity_block(q, 1, 99, "cpu.large", 9) is None  # no limit on that class
    assert capacity_block(Quota("t"), 100, 100, "cpu.small", 100) is None


def test_never_fits_refuses_what_could_never_start() -> None:
    q = Quota("t", class_instances={"cpu.small": 2})
    assert never_fits(q, "cpu.small", 2) is None
    err = never_fits(q, "cpu.small", 3)
    assert err is not None and err.details["quota"] == "class_instances"
    zero = never_fits(Quota("t", max_concurrent_jobs=0), "cpu.small", 1)
    assert zero is not None and zero.details["quota"] == "concurrent_jobs"


def test_budget_refusal_only_with_the_hard_stop() -> None:
    soft = Quota("t", monthly_budget=100.0)
    assert budget_refusal(soft, 150.0, 10.0, "EUR") is None
    hard = Quota("t", monthly_budget=100.0, budget_hard_stop=True)
    assert budget_refusal(hard, 90.0, 10.0, "EUR") is None  # exactly the budget still fits
    err = budget_refusal(hard, 98.5, 4.0, "EUR")
    assert err is not None
    assert str(err) == "monthly budget 100.00 EUR: 98.50 used, this job may cost up to 4.00"
    full = budget_refusal(hard, 100.0, 0.0, "EUR")
    assert full is not None and "(100 % reached)" in str(full)


def test_thresholds_reached() -> None:
    assert crossed(100.0, 79.99) == []
    assert crossed(100.0, 80.0) == [80]
    assert crossed(100.0, 120.0) == [80, 100]
    assert crossed(None, 1e9) == [] and crossed(0.0, 1.0) == []


@dataclass
class T:
    secondary_status: str
    start_time: datetime
    end_time: datetime | None


def test_phase_seconds_sums_each_phase_and_counts_an_open_one_until_now() -> None:
    at = [T0 + timedelta(seconds=s) for s in (0, 10, 40, 45, 100, 103, 110)]
    history = [
        T("Pending", at[0], at[1]), T("Starting", at[1], at[2]), T("Downloading", at[2], at[3]),
        T("Training", at[3], at[4]), T("Interrupted", at[4], at[5]), T("Starting", at[5], None),
    ]  # fmt: skip
    assert phase_seconds(history, at[6]) == {
        "queued": 13, "building": 37, "staging": 5, "training": 55, "uploading": 0,
    }  # fmt: skip
