"""The demand loop: tells the cluster what the queue asks for, so an autoscaler can grow it
(Ray: `request_resources` with one bundle per queued host) and shrink it once the queue is empty.

Registered in `main.build_loops` only when the executor can take demand (`executor = "ray"`).
"""

from __future__ import annotations

import threading

from forgeml.domain.job_model import ClassDemand
from forgeml.executors.base import DemandSink
from forgeml.services.jobs.runner import JobRunService
from forgeml.workers.base import Loop

PERIOD_S = 10.0  # the autoscaler reacts in tens of seconds; more often only costs queries


class DemandLoop(Loop):
    name = "cluster-demand"
    interval_s = PERIOD_S

    def __init__(self, service: JobRunService, sink: DemandSink) -> None:
        self.service = service
        self.sink = sink
        self._last: list[ClassDemand] | None = None

    def tick(self) -> bool:
        demand = self.service.pending_demand()
        if demand != self._last:  # the same request again changes nothing for the autoscaler
            self.sink.request_demand(demand)
            self._last = demand
        return False

    def idle(self, stop: threading.Event) -> None:
        stop.wait(self.interval_s)
