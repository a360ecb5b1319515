"""This node's job runner: registers its capacity, claims jobs that fit, runs each attempt in a
thread, and reconciles the queue (expired leases → retry or fail, max wait, a previous
incarnation's jobs → retry at once).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time

import structlog

from forgeml.config import JobServiceSettings
from forgeml.db import algorithms as algo_q
from forgeml.db import job_queries as q
from forgeml.db.engine import Database
from forgeml.db.types import utcnow
from forgeml.domain.job_model import ClassDemand, Runner
from forgeml.domain.jobs import Secondary
from forgeml.executors.base import Executor
from forgeml.executors.registry import open_executor
from forgeml.queue import claims, pending
from forgeml.queue.transitions import move
from forgeml.services.algorithms.envs import AlgorithmEnvironments, ResolvedAlgorithm
from forgeml.services.checkpoints.sync import QuotaCheck
from forgeml.services.jobs.attempt import Attempt, AttemptDeps, requeue_of
from forgeml.storage.base import ObjectStore
from forgeml.training.volume import release_stale

log = structlog.get_logger("forgeml.runner")


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 8 * 1024**3


class JobRunService:
    def __init__(
        self,
        db: Database,
        store: ObjectStore,
        settings: JobServiceSettings,
        envs: AlgorithmEnvironments,
        executor: Executor | None = None,
        *,
        check_quota: QuotaCheck | None = None,
    ) -> None:
        self.db, self.settings, self.envs = db, settings, envs
        self.work_root = settings.work_root
        self.executor = executor or open_executor(settings.executor, settings)
        # load_algorithm bound late: what `self.load_algorithm` is when an attempt asks
        self.deps = AttemptDeps(
            db, store, settings, self.executor, lambda v: self.load_algorithm(v), check_quota
        )
        self.runner: Runner | None = None
        self.attempts: dict[str, tuple[Attempt, threading.Thread]] = {}
        self._last_reconcile = 0.0
        # Set by a submit in this process (embedded shape): the runner loop wakes at once
        # instead of at its next idle poll.
        self.wake = threading.Event()

    # --- registration and reconciliation --------------------------------------------------

    def register(self) -> Runner:
        """(Re)register this runner; jobs its previous incarnation held are retried at once."""
        cfg = self.settings.jobs
        with self.db.write() as conn:
            self.runner = claims.register_runner(
                conn,
                name=cfg.runner_name or socket.gethostname(),
                executor=self.executor.name,
                cpus=cfg.runner_cpus or max(4, os.cpu_count() or 1),
                memory_bytes=cfg.runner_memory_bytes or 4 * _physical_memory(),
                gpu_indices=list(cfg.runner_gpus),
            )
            held = claims.held_by(conn, self.runner.id)
            for job_id, token in held:
                claims.give_up_attempt(
                    conn,
                    job_id,
                    token,
                    "the runner restarted",
                    requeue=requeue_of(self.settings.jobs),
                )
        # Recovery at start: the previous incarnation died mid-run, so nothing of these jobs
        # runs here; their volumes (loop mounts) and work folders would otherwise leak.
        for job_id, _token in held:
            release_stale(self.work_root / job_id)
            shutil.rmtree(self.work_root / job_id, ignore_errors=True)  # best effort: a leak only
        log.info("runner registered", runner=self.runner.name, cpus=self.runner.cpus)
        return self.runner

    def reconcile(self) -> int:
        """Give up attempts whose lease expired; end queued jobs past their max wait."""
        changed = 0
        with self.db.write() as conn:
            for job_id, token in claims.expired(conn):
                lost = "the runner was lost (lease expired)"
                if claims.give_up_attempt(
                    conn, job_id, token, lost, requeue=requeue_of(self.settings.jobs)
                ):
                    changed += 1
            for job_id in claims.waited_too_long(conn, utcnow()):
                msg = "the job waited longer than its max wait time"
                if move(conn, job_id, Secondary.MAX_WAIT_TIME_EXCEEDED, msg):
                    changed += 1
            if self.runner is not None:
                claims.runner_heartbeat(conn, self.runner.id)
            # Runners heartbeat once per reconcile pass; allow a few missed ones.
            ttl = max(60.0, 3 * self.settings.jobs.reconcile_s)
            pending.refresh(conn, utcnow(), ttl)
        return changed

    # --- claiming and running -------------------------------------------------------------

    def pending_demand(self) -> list[ClassDemand]:
        """Queued jobs and their hosts per class (what an autoscaler should provide)."""
        with self.db.read() as conn:
            return q.pending_demand(conn)

    def load_algorithm(self, version_id: str) -> ResolvedAlgorithm:
        with self.db.read() as conn:
            version = algo_q.get_version(conn, version_id)
        return self.envs.materialize(version)

    def tick(self) -> bool:
        """Reconcile when due, reap finished attempts, claim and start at most one job."""
        if self.runner is None:
            self.register()
        assert self.runner is not None
        now = time.monotonic()
        if now - self._last_reconcile >= self.settings.jobs.reconcile_s:
            self._last_reconcile = now
            self.reconcile()
        self.wake.clear()
        for job_id, (_, thread) in list(self.attempts.items()):
            if not thread.is_alive():
                del self.attempts[job_id]
        with self.db.read() as conn:  # idle: a read, never a write transaction
            if not claims.claimable(conn, self.runner):
                return False
        with self.db.write() as conn:
            lease = claims.claim(conn, self.runner, self.settings.jobs.lease_s)
        if lease is None:
            return False
        attempt = Attempt(lease, self.deps)
        thread = threading.Thread(target=attempt.run, name=f"job-{lease.job_id}", daemon=True)
        self.attempts[lease.job_id] = (attempt, thread)
        thread.start()
        log.info("job claimed", job=lease.job_id, attempt=lease.attempt)
        return True

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait for every running attempt to end (tests, shutdown)."""
        deadline = time.monotonic() + timeout_s
        for _, thread in list(self.attempts.values()):
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for _, t in self.attempts.values())

    def shutdown(self, timeout_s: float = 60.0) -> None:
        """Stop running attempts; each gives itself up for a retry elsewhere."""
        for attempt, _ in self.attempts.values():
            attempt.shutdown.set()
            attempt.stop.set()
        self.wait_idle(timeout_s)
        close = getattr(self.executor, "close", None)  # test doubles may have none
        if close is not None:
            close()
