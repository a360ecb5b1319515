"""Prometheus metrics of the API process, on a registry of its own (one per app instance)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


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

    def render(self) -> bytes:
        for fn in self._collectors:
            fn(self)
        return generate_latest(self.registry)
