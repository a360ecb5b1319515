"""Metric scraping: each definition's regex on every log line, first group parsed as float."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import datetime

from forgeml.domain.errors import InvalidInput
from forgeml.training.spec import MetricDefinition, MetricPoint


class MetricScraper:
    """Keeps the time series and the last value of every metric seen in the log."""

    def __init__(self, definitions: Iterable[MetricDefinition]) -> None:
        self._patterns: list[tuple[str, re.Pattern[str]]] = []
        for definition in definitions:
            try:
                pattern = re.compile(definition.regex)
            except re.error as exc:
                raise InvalidInput(f"metric {definition.name!r}: bad regex: {exc}") from exc
            if pattern.groups < 1:
                raise InvalidInput(f"metric {definition.name!r}: the regex needs a group")
            self._patterns.append((definition.name, pattern))
        self._series: dict[str, list[MetricPoint]] = {name: [] for name, _ in self._patterns}

    def feed(self, line: str, at: datetime) -> None:
        for name, pattern in self._patterns:
            match = pattern.search(line)
            if match is None or match.group(1) is None:
                continue
            try:
                value = float(match.group(1))
            except ValueError:
                continue
            # NaN/inf are not storable metric values; SageMaker drops them too.
            if math.isfinite(value):
                self._series[name].append(MetricPoint(at, value))

    def final(self) -> dict[str, float]:
        return {name: points[-1].value for name, points in self._series.items() if points}

    def series(self) -> dict[str, tuple[MetricPoint, ...]]:
        return {name: tuple(points) for name, points in self._series.items() if points}
