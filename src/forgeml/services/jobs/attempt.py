"""One attempt of a training job on this node, from claim to terminal state.

Every write carries the attempt's lease (fenced): once the reconciler has given the attempt up,
nothing more of it reaches the job (status, logs, metrics, artifacts). Algorithm errors fail the
job; platform errors give the attempt up for a retry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import structlog

from forgeml.config import JobServiceSettings, JobSettings
from forgeml.db import job_queries as q
from forgeml.db.engine import Database
from forgeml.db.scope import Scope
from forgeml.db.types import utcnow
from forgeml.domain import retry
from forgeml.domain.errors import InvalidInput, Unavailable
from forgeml.domain.failures import FailureKind, display, rule
from forgeml.domain.job_model import Lease, TrainingJob
from forgeml.domain.jobs import ENV_MESSAGE, Secondary
from forgeml.domain.object_keys import job_prefix
from forgeml.executors.base import Executor, RunRequest
from forgeml.queue import claims
from forgeml.queue.policies import StopRule
from forgeml.queue.transitions import LeaseLost, current_secondary, fence, move_or_raise, note
from forgeml.services.algorithms.envs import ResolvedAlgorithm
from forgeml.services.checkpoints.sync import QuotaCheck
from forgeml.services.jobs import checkpoints as attempt_checkpoints
from forgeml.services.jobs import staging
from forgeml.services.jobs.log_sink import LogSink, log_retry
from forgeml.storage.base import ObjectStore
from forgeml.training.artifacts import remove_tree
from forgeml.training.environments import EnvironmentBuildFailed
from forgeml.training.spec import HostResult, Outcome, overall
from forgeml.training.volume import release_stale

log = structlog.get_logger("forgeml.runner")
# How long the end of an attempt (last log flush) waits out a database outage before giving up.
OUTAGE_PATIENCE_S = 120.0
_BURST = 4  # log transactions per log_flush_s window before lines are batched
AlgorithmLoader = Callable[[str], ResolvedAlgorithm]
T = TypeVar("T")


class AlgorithmError(Exception):
    """The job's own code or configuration failed: no retry (the kind's rule says so)."""

    def __init__(self, reason: str, kind: FailureKind = FailureKind.ALGORITHM_ERROR) -> None:
        super().__init__(display(kind, reason))
        self.reason = reason
        self.kind = kind


@dataclass(frozen=True)
class AttemptDeps:
    """What every attempt of one runner works with."""

    db: Database
    store: ObjectStore
    settings: JobServiceSettings
    executor: Executor
    load_algorithm: AlgorithmLoader
    check_quota: QuotaCheck | None = None  # None: no storage quota applies


class Attempt:
    """Runs one claimed attempt; `run()` returns once the job left this runner's hands."""

    def __init__(self, lease: Lease, deps: AttemptDeps) -> None:
        self.lease = lease
        self.db, self.store, self.settings = deps.db, deps.store, deps.settings
        self.executor, self.load_algorithm = deps.executor, deps.load_algorithm
        self.check_quota: QuotaCheck = deps.check_quota or (lambda _conn, _tenant, _extra: None)
        self.stop = threading.Event()  # the user's stop, a lost lease, or shutdown
        self.shutdown = threading.Event()
        self.lost = threading.Event()
        self.done = threading.Event()
        self.work = deps.settings.work_root / lease.job_id / f"attempt-{lease.attempt}"

    # --- heartbeat -------------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        cfg = self.settings.jobs
        while not self.done.wait(cfg.heartbeat_s):
            try:
                with self.db.write() as conn:
                    status = claims.heartbeat(conn, self.lease, cfg.lease_s)
            except Exception:
                log.exception("heartbeat failed", job=self.lease.job_id)
                continue
            if status is None:
                log.warning("lease lost; stopping the attempt", job=self.lease.job_id)
                self.lost.set()
                self.stop.set()
            elif status == Secondary.STOPPING:
                self.stop.set()

    def _flush_loop(self, sink: LogSink) -> None:
        # Lines are written as soon as they arrive, at most _BURST transactions per log_flush_s
        # window; beyond that they batch until the window ends. A quiet program's lines show up
        # at once (dispatch latency), a chatty one costs a bounded number of transactions.
        interval = self.settings.jobs.log_flush_s
        window, used, failures = time.monotonic(), 0, 0
        while not self.done.is_set():
            if not sink.arrived.wait(1.0):
                continue
            now = time.monotonic()
            if now - window >= interval:
                window, used = now, 0
            elif used >= _BURST:
                self.done.wait(window + interval - now)
                window, used = time.monotonic(), 0
            sink.arrived.clear()
            try:
                sink.flush()
                failures = 0
            except Exception as exc:  # the batch is kept; a dead flush thread would lose the rest
                failures += 1
                wait = retry.delay(failures)
                log.warning("log flush failed; retrying", error=str(exc)[:200], retry_in_s=wait)
                sink.arrived.set()
                self.done.wait(wait)
            used += 1

    # --- the attempt -----------------------------------------------------------------------

    def run(self) -> None:
        with self.db.read() as conn:
            job = q.get_job(conn, Scope.everything(), self.lease.job_id)
        # Heartbeats first: building the algorithm's environment may take longer than a lease.
        threading.Thread(target=self._heartbeat_loop, daemon=True).start()
        sink: LogSink | None = None
        try:
            algo = self._algorithm(job)
            sink = LogSink(self.db, self.lease, [(d.name, d.regex) for d in algo.manifest.metrics])
            threading.Thread(target=self._flush_loop, args=(sink,), daemon=True).start()
            self._execute(job, algo, sink)
        except StoppedEarly:
            log.info("stopped before its program started", job=job.id)
        except LeaseLost as exc:
            log.warning("attempt fenced out", job=job.id, reason=exc.message)
        except AlgorithmError as exc:
            self._fail(job, exc)
        except Exception as exc:
            if self.shutdown.is_set():  # the worker stops: its fault, not the tenant's
                log.warning("attempt interrupted by shutdown", job=job.id, error=str(exc)[:200])
                self._give_up("interrupted: the worker shut down", outage=True)
                return
            log.exception("platform error in attempt", job=job.id)
            # The tenant reads this reason: the exception's text may hold host paths or object
            # keys of platform data, so it stays in the server log (with the job id).
            reason = f"platform error ({type(exc).__name__}); the operator has the details"
            self._give_up(reason, outage=isinstance(exc, Unavailable))
        finally:
            self.done.set()
            if sink is not None:
                self._last_flush(sink)
            remove_tree(self.work)

    def _last_flush(self, sink: LogSink) -> None:
        try:
            sink.flush_patiently(OUTAGE_PATIENCE_S)
        except Exception:
            log.exception("final log flush failed", job=self.lease.job_id)

    def _algorithm(self, job: TrainingJob) -> ResolvedAlgorithm:
        # a first use builds the environment (minutes for torch): say so instead of "Starting"
        with self.db.write() as conn:
            note(conn, self.lease, ENV_MESSAGE)
        # Loaded beside this thread so a stop acts in seconds (an abandoned build still ends).
        box: dict[str, Any] = {}

        def load() -> None:
            try:
                box["algo"] = self.load_algorithm(job.algorithm_version_id)
            except BaseException as exc:
                box["error"] = exc

        loader = threading.Thread(target=load, name=f"env-{job.id}", daemon=True)
        loader.start()
        while loader.is_alive():
            loader.join(0.5)
            self._stop_point()
        try:
            if "error" in box:
                raise box["error"]
            return cast(ResolvedAlgorithm, box["algo"])
        except EnvironmentBuildFailed as exc:
            raise AlgorithmError(f"the environment did not build: {exc.message}") from exc

    def _before_staging_try(self) -> None:
        if self.shutdown.is_set():
            raise RunnerShutdown("shutdown while staging")
        if self.lost.is_set():
            raise LeaseLost("lease lost while staging")
        self._stop_point()

    def _stop_point(self) -> None:
        """Between stages: a requested stop ends the job now (Stopped), not stages later."""
        if not self.stop.is_set() or self.lost.is_set() or self.shutdown.is_set():
            return
        with self.db.write() as conn:
            if current_secondary(conn, self.lease.job_id) != Secondary.STOPPING:
                return
            move_or_raise(
                conn,
                self.lease.job_id,
                Secondary.STOPPED,
                "Stopped: the job was stopped on request",
                lease=self.lease,
                attempt_outcome=(Outcome.STOPPED.value, rule(FailureKind.STOPPED).billable),
                failure=FailureKind.STOPPED,
            )
        raise StoppedEarly

    def _move(self, target: Secondary, message: str, **kw: Any) -> TrainingJob:
        with self.db.write() as conn:
            return move_or_raise(conn, self.lease.job_id, target, message, lease=self.lease, **kw)

    def _execute(self, job: TrainingJob, algo: ResolvedAlgorithm, sink: LogSink) -> None:
        prefix = job_prefix(job.tenant_id, job.id)
        # An earlier attempt's runner may have died with its volumes mounted here: release them.
        for point in release_stale(self.work.parent):
            log.warning("released a stale job volume", job=job.id, mount=str(point))
        self._stop_point()
        self._move(Secondary.DOWNLOADING, "staging input data")
        channels = staging.stage_patiently(
            self.store,
            job,
            self.work / "channels",
            patience_s=self.settings.jobs.staging_patience_s,
            before_try=self._before_staging_try,
            sleep=self.stop.wait,  # a stop or shutdown cuts the back-off short
        )
        self._stop_point()
        with self.db.read() as conn:
            rc = q.get_resource_class(conn, job.resource_class)
        if rc is None:
            raise RuntimeError(f"resource class {job.resource_class} vanished")
        cfg = self.settings.jobs
        specs = staging.host_specs(
            job, algo, rc, channels, self.work,
            stop_grace_s=cfg.stop_grace_s, cpu_hard_cap=cfg.cpu_hard_cap,
            volume_unit_bytes=cfg.volume_unit_bytes, volume_mode=cfg.volume_enforcement,
        )  # fmt: skip
        restore = attempt_checkpoints.restore(
            self.db,
            self.store,
            job,
            self.lease.attempt,
            self.work,
            [s.host for s in specs],
            prefix,
            sink,
        )
        # The attempt's training_started_at is stamped by the move (policy attempt-training-start).
        self._move(Secondary.TRAINING, "training", values={"training_started_at": utcnow()})
        request = RunRequest(
            hosts=specs,
            sandbox=self.settings.sandbox,
            on_log=sink,
            stop=self.stop,
            checkpoints_from=restore,
            checkpoint_sync=attempt_checkpoints.syncs(
                self.db, self.store, job, self.lease, specs, prefix, self.check_quota
            ),
            checkpoint_interval_s=self.settings.jobs.checkpoint_interval_s,
        )
        try:
            results = self.executor.run(request)
        except InvalidInput as exc:
            raise AlgorithmError(exc.message) from exc
        sink.flush_patiently(OUTAGE_PATIENCE_S)
        self._finish(job, results, prefix)

    def _finish(self, job: TrainingJob, results: dict[str, HostResult], prefix: str) -> None:
        if self.lost.is_set():
            raise LeaseLost("lease lost during the run")
        if self.shutdown.is_set():
            raise RunnerShutdown("the runner is shutting down")
        master = results["algo-1"]
        end = overall(results)
        outcome, reason = end.outcome, end.reason
        target, kind = _TARGETS[outcome]
        if end.over_limit:
            kind = FailureKind.LIMIT_EXCEEDED  # the platform's limit, not the algorithm's error
        # The stop rule (queue/policies.StopRule): the program's end is recorded by Training →
        # Uploading; a stop that committed first wins, one that comes later is refused.
        recorded = self._patiently("record the end", self._recorded_end)
        if recorded == Secondary.STOPPING:
            target, kind = StopRule.on_end(recorded, target), FailureKind.STOPPED
            reason = reason or "Stopped: the job was stopped on request"
        # Attempt-scoped keys: a runner fenced out after its last lease check can only write
        # under its own attempt's keys, never over what the job exposes; the job's pointer to
        # them switches in the same fenced UPDATE as the terminal status.
        artifacts = self._patiently(  # same keys each try: a retried upload overwrites
            "upload artifacts",
            lambda: staging.upload_artifacts(
                self.store, f"{prefix}attempts/{self.lease.attempt}/", master
            ),
        )
        metrics: dict[str, float] = {}
        for host in sorted(results):  # the master's values win
            metrics = {**dict(results[host].metrics_final), **metrics}
        message = reason or "training job completed"
        values = {"failure_reason": reason, "final_metrics": metrics, "artifacts": artifacts}
        self._patiently(
            "record the outcome",
            lambda: self._move(
                target, message, values=values, attempt_outcome=(outcome.value, True), failure=kind
            ),
        )

    def _patiently(self, what: str, fn: Callable[[], T]) -> T:
        """The end of a finished program waits out a database or store outage (bounded), so
        the same attempt completes instead of training again after its lease expires."""
        return retry.persist(fn, patience_s=OUTAGE_PATIENCE_S, on_retry=log_retry(what))

    def _recorded_end(self) -> Secondary:
        """Move Training → Uploading (fenced); the status now, Stopping if a stop came first."""
        with self.db.write() as conn:
            fence(conn, self.lease)
            if current_secondary(conn, self.lease.job_id) == Secondary.STOPPING:
                return Secondary.STOPPING
            move_or_raise(
                conn,
                self.lease.job_id,
                Secondary.UPLOADING,
                "uploading artifacts",
                lease=self.lease,
            )
        return Secondary.UPLOADING

    def _fail(self, job: TrainingJob, exc: AlgorithmError) -> None:
        try:
            with self.db.write() as conn:
                current = current_secondary(conn, job.id)
                move_or_raise(
                    conn,
                    job.id,
                    StopRule.on_end(current, Secondary.FAILED),
                    str(exc),
                    lease=self.lease,
                    attempt_outcome=("Failed", rule(exc.kind).billable),
                    failure=exc.kind,
                    reason=exc.reason,
                )
        except LeaseLost:
            log.warning("could not record failure: lease lost", job=job.id)

    def _give_up(self, reason: str, *, outage: bool = False) -> None:
        policy = requeue_of(self.settings.jobs)

        def give_up() -> None:
            with self.db.write() as conn:
                lease = self.lease
                claims.give_up_attempt(
                    conn, lease.job_id, lease.token, reason, outage=outage, requeue=policy
                )

        self._patiently("give the attempt up", give_up)


def requeue_of(cfg: JobSettings) -> retry.Requeue:
    return retry.Requeue(cfg.retry_backoff_s, cfg.retry_backoff_cap_s, cfg.max_outage_retries)


class RunnerShutdown(Exception):
    """The worker stops: the attempt gives itself up (an outage, retried elsewhere)."""


class StoppedEarly(Exception):
    """A stop request ended the attempt before its program started (the job is Stopped)."""


# How the program's run ended -> the job's status and the attempt's failure kind.
_TARGETS: dict[Outcome, tuple[Secondary, FailureKind | None]] = {
    Outcome.COMPLETED: (Secondary.COMPLETED, None),
    Outcome.FAILED: (Secondary.FAILED, FailureKind.ALGORITHM_ERROR),
    Outcome.STOPPED: (Secondary.STOPPED, FailureKind.STOPPED),
    Outcome.MAX_RUNTIME_EXCEEDED: (Secondary.MAX_RUNTIME_EXCEEDED, FailureKind.LIMIT_EXCEEDED),
}
