"""Prometheus metrics of the API process, on a registry of its own (one per app instance)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from forgeml.domain.errors import Unavailable
from forgeml.services.jobs.scheduling import SchedulingService


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "forgeml_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "forgeml_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
        )
        self.gauges: dict[str, Gauge] = {}
        self._collectors: list[Callable[[Metrics], None]] = []
        self._registries: list[CollectorRegistry] = []

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def gauge(self, name: str, doc: str, labels: list[str]) -> Gauge:
        if name not in self.gauges:
            self.gauges[name] = Gauge(name, doc, labels, registry=self.registry)
        return self.gauges[name]

    def add_collector(self, fn: Callable[[Metrics], None]) -> None:
        """Register a callback refreshing gauges (queue depth, jobs by status) at scrape time."""
        self._collectors.append(fn)

    def add_registry(self, registry: CollectorRegistry) -> None:
        """Render another registry too (the scheduler's histograms, kept by `queue/stats.py`)."""
        self._registries.append(registry)

    def render(self) -> bytes:
        for fn in self._collectors:
            fn(self)
        return b"".join(generate_latest(r) for r in [self.registry, *self._registries])


def scheduler_metrics(scheduling: SchedulingService) -> Callable[[Metrics], None]:
    """Queue depth per class and tenant, and each tenant's share, refreshed at scrape time; an
    unreachable database leaves the last figures (the scrape itself still answers)."""

    def collect(m: Metrics) -> None:
        try:
            figures = scheduling.scheduler_figures()
        except Unavailable:
            return
        depth = m.gauge("forgeml_queue_depth", "Queued jobs", ["tenant", "resource_class"])
        depth.clear()  # a pair with no queued job any more disappears
        for tenant, cls, n in figures.depth:
            depth.labels(tenant, cls).set(n)
        share = m.gauge("forgeml_tenant_share", "Running share of the cluster", ["tenant"])
        usage = m.gauge("forgeml_tenant_usage", "Decayed usage, share-seconds", ["tenant"])
        weight = m.gauge("forgeml_tenant_weight", "Fair-share weight", ["tenant"])
        for t in figures.tenants:
            share.labels(t["tenant"]).set(t["running_share"])
            usage.labels(t["tenant"]).set(t["usage"])
            weight.labels(t["tenant"]).set(t["weight"])

    return collect
