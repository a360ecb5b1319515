"""The live log of an attempt: lines from every host, written in fenced batches with metrics.

A write that fails keeps its batch (it goes back in front), so a transient outage loses no line.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

from forgeml.db import job_queries as q
from forgeml.db.engine import Database
from forgeml.domain import retry
from forgeml.domain.job_model import Lease
from forgeml.domain.jobs import MAX_LOG_LINE
from forgeml.domain.metric_patterns import MetricPatterns
from forgeml.queue.transitions import LeaseLost, fence
from forgeml.training.spec import LogLine

log = structlog.get_logger("forgeml.runner")


def log_retry(what: str) -> Callable[[int, float, Exception], None]:
    def report(attempt: int, wait: float, exc: Exception) -> None:
        log.warning(
            f"{what} failed; retrying",
            attempt=attempt,
            retry_in_s=round(wait, 2),
            error=str(exc)[:200],
        )

    return report


class LogSink:
    """Collects log lines from every host and writes them in fenced batches with live metrics."""

    def __init__(self, db: Database, lease: Lease, metrics: list[tuple[str, str]]) -> None:
        self.db = db
        self.lease = lease
        self.patterns = MetricPatterns(metrics)  # checked at registration; compiled once here
        self.pending: list[LogLine] = []
        self.lock = threading.Lock()
        self.lost = False
        self.arrived = threading.Event()  # a line is waiting to be flushed

    def __call__(self, line: LogLine) -> None:
        with self.lock:
            self.pending.append(line)
        self.arrived.set()

    def flush(self) -> None:
        """Write what is pending; on an error the batch goes back in front, nothing is lost."""
        with self.lock:
            batch, self.pending = self.pending, []
        if not batch or self.lost:
            return
        try:
            self._write(batch)
        except LeaseLost:
            self.lost = True
        except Exception:
            with self.lock:
                self.pending[:0] = batch
            raise

    def flush_patiently(self, patience_s: float) -> None:
        """Flush, waiting out a database outage of up to `patience_s` (end of an attempt)."""
        retry.persist(self.flush, patience_s=patience_s, on_retry=log_retry("log flush"))

    def _write(self, batch: list[LogLine]) -> None:
        lease = self.lease
        logs, points = [], []
        for line in batch:
            logs.append(
                {
                    "job_id": lease.job_id,
                    "tenant_id": lease.tenant_id,
                    "attempt": lease.attempt,
                    "at": line.time,
                    "host": line.host,
                    "stream": line.stream,
                    "text": line.text[:MAX_LOG_LINE],
                }
            )
            if line.stream != "system":
                points += self._metrics(line)
        with self.db.write() as conn:
            fence(conn, lease)
            q.append_logs(conn, logs, points)

    def _metrics(self, line: LogLine) -> list[dict[str, object]]:
        lease = self.lease
        return [
            {
                "job_id": lease.job_id,
                "tenant_id": lease.tenant_id,
                "attempt": lease.attempt,
                "host": line.host,
                "name": name,
                "at": line.time,
                "value": value,
            }
            for name, value in self.patterns.scan(line.text)
        ]
