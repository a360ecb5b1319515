"""The scheduler's own figures (decision latency, time queued), kept by the process that claims.

A registry of their own: the API's `/metrics` adds it (api/metrics.py), so a process running
both the API and runners (`forgeml up`) shows them; a separate worker keeps them in its process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

REGISTRY = CollectorRegistry()

DECISION = Histogram(
    "forgeml_scheduler_decision_seconds",
    "Time to pick and claim the next job (one scheduling decision)",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
    registry=REGISTRY,
)
PENDING = Histogram(
    "forgeml_job_pending_seconds",
    "Time from a job's submission to the start of its attempt",
    buckets=(1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600),
    registry=REGISTRY,
)


def decided(seconds: float, pending_s: float) -> None:
    DECISION.observe(seconds)
    PENDING.observe(max(0.0, pending_s))
