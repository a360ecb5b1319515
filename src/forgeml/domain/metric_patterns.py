"""Metric regexes of an algorithm's `metric_definitions`, in one place: the check a manifest gets
at registration and the scraping of log lines (the launcher's and the job's live log sink).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

NAME_MAX = 255
REGEX_MAX = 500


class MetricRegexError(ValueError):
    """A metric regex that does not compile or has no group; `metric` names it when known."""

    def __init__(self, message: str, metric: str | None = None) -> None:
        super().__init__(message)
        self.metric = metric


def compile_metric(regex: str) -> re.Pattern[str]:
    """The compiled regex; its first group is the value."""
    try:
        pattern = re.compile(regex)
    except re.error as exc:
        raise MetricRegexError(f"not a valid regular expression: {exc}") from None
    if pattern.groups < 1:
        raise MetricRegexError("needs at least one group, e.g. loss=([0-9.eE+-]+)")
    return pattern


def value_in(pattern: re.Pattern[str], line: str) -> float | None:
    """The metric's value in a log line, or None. NaN and inf are not storable metric values
    (SageMaker drops them too), nor is a group that does not parse as a float."""
    match = pattern.search(line)
    if match is None or match.group(1) is None:
        return None
    try:
        value = float(match.group(1))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class MetricPatterns:
    """Every definition of a job, compiled once: `scan` gives the metrics one line carries."""

    def __init__(self, definitions: Iterable[tuple[str, str]]) -> None:
        self.patterns: list[tuple[str, re.Pattern[str]]] = []
        for name, regex in definitions:
            try:
                self.patterns.append((name, compile_metric(regex)))
            except MetricRegexError as exc:
                raise MetricRegexError(str(exc), metric=name) from None

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.patterns]

    def scan(self, line: str) -> list[tuple[str, float]]:
        found = ((name, value_in(pattern, line)) for name, pattern in self.patterns)
        return [(name, value) for name, value in found if value is not None]
