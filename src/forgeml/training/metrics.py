"""Metric scraping: each definition's regex on every log line (`domain/metric_patterns.py`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from forgeml.domain.errors import InvalidInput
from forgeml.domain.metric_patterns import MetricPatterns, MetricRegexError
from forgeml.training.spec import MetricDefinition, MetricPoint


class MetricScraper:
    """Keeps the time series and the last value of every metric seen in the log."""

    def __init__(self, definitions: Iterable[MetricDefinition]) -> None:
        try:
            self._patterns = MetricPatterns((d.name, d.regex) for d in definitions)
        except MetricRegexError as exc:
            raise InvalidInput(f"metric {exc.metric!r}: {exc}") from exc
        self._series: dict[str, list[MetricPoint]] = {n: [] for n in self._patterns.names}

    def feed(self, line: str, at: datetime) -> None:
        for name, value in self._patterns.scan(line):
            self._series[name].append(MetricPoint(at, value))

    def final(self) -> dict[str, float]:
        return {name: points[-1].value for name, points in self._series.items() if points}

    def series(self) -> dict[str, tuple[MetricPoint, ...]]:
        return {name: tuple(points) for name, points in self._series.items() if points}
