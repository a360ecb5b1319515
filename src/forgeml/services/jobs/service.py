"""Training-job use cases: create, describe, list, stop, logs, metrics, events, artifacts.

Each method loads through the caller's scope first (another tenant's job → 404), then checks the
permission (403), and owns its transaction and audit record.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from forgeml.config import JobServiceSettings
from forgeml.db import build_logs
from forgeml.db import events as db_events
from forgeml.db import job_queries as q
from forgeml.db.engine import Database
from forgeml.db.pagination import Page
from forgeml.db.scope import Scope
from forgeml.db.types import utcnow
from forgeml.domain.authz import Perm, require
from forgeml.domain.build_progress import EnvironmentBuild, waiting_view
from forgeml.domain.errors import Conflict, InvalidInput, NotFound
from forgeml.domain.events import Event
from forgeml.domain.filters import JobFilter
from forgeml.domain.ids import new_id
from forgeml.domain.job_model import LogEntry, MetricSample, TrainingJob, Transition
from forgeml.domain.jobs import JobSpec, Secondary, is_terminal
from forgeml.queue import transitions
from forgeml.services.datasets.downloads import presigned_download
from forgeml.services.identity.audit import Actor, record
from forgeml.services.jobs.submit import Submission, idempotent_replay, request_hash
from forgeml.storage.base import ObjectStore

ARTIFACTS = ("model.tar.gz", "output.tar.gz")
_BEFORE_RUN = {Secondary.PENDING, Secondary.STARTING}  # a job may wait on its environment


@dataclass(frozen=True)
class JobDetails:
    job: TrainingJob
    transitions: list[Transition]
    environment_build: EnvironmentBuild | None = None  # the build the job waits on, if any


@dataclass(frozen=True)
class Artifact:
    key: str
    size: int
    url: str | None  # presigned (S3); None: stream `open()` through the API
    open: Any  # () -> context manager of byte chunks


class JobService:
    def __init__(
        self,
        db: Database,
        store: ObjectStore,
        settings: JobServiceSettings,
        submission: Submission,
        on_submit: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.settings = settings
        self.submission = submission
        self.on_submit = on_submit  # wakes this process's runner (embedded shape)

    # --- create ----------------------------------------------------------------------------

    def create(self, actor: Actor, spec: JobSpec, *, idempotency_key: str | None) -> TrainingJob:
        require(actor.p, Perm.JOBS_WRITE)
        tenant_id = actor.p.tenant_id
        if tenant_id is None:
            raise InvalidInput.fields([{"loc": "tenant", "msg": "jobs belong to a tenant"}])
        digest = request_hash(spec)
        if idempotency_key:
            with self.db.read() as conn:
                seen = idempotent_replay(conn, tenant_id, idempotency_key, digest)
            if seen is not None:
                return seen  # type: ignore[no-any-return]
        with self.db.read() as conn:
            checked = self.submission.check(conn, actor, tenant_id, spec)
        now = utcnow()
        algo = checked.algorithm
        values = {
            "id": new_id("job"),
            "tenant_id": tenant_id,
            "name": spec.name,
            "algorithm_id": algo.algorithm_id,
            "algorithm_version_id": algo.version_id,
            "algorithm_name": algo.manifest.name,
            "algorithm_version": algo.manifest.version,
            "algorithm_digest": algo.digest,
            "hyperparameters": checked.hyperparameters,
            "inputs": checked.inputs,
            "resource_class": spec.resource_class,
            "instance_count": spec.instance_count,
            "volume_gb": spec.volume_gb,
            "max_runtime_s": spec.max_runtime_s,
            "max_wait_s": spec.max_wait_s,
            "max_attempts": spec.max_attempts,
            "checkpointing": spec.checkpointing,
            "checkpoint_config": checked.checkpoint_config,
            "preemptible": spec.preemptible,
            "network": algo.manifest.network and self.settings.jobs.allow_network,
            "environment": checked.environment,
            "tags": dict(spec.tags),
            "attempt": 0,
            "gpu_indices": [],
            "pending_reason": f"waiting for capacity in class {spec.resource_class}",
            "final_metrics": {},
            "artifacts": {},
            "created_by": actor.p.user_id,
            "idempotency_key": idempotency_key,
            "request_hash": digest,
            "created_at": now,
            "updated_at": now,
        }
        try:
            job = self._insert(actor, values)
        except Conflict as exc:
            # Two submits with one key raced past the replay check: the loser answers with the
            # winner's job, exactly like a later replay (or 409 if its body differs).
            if not (idempotency_key and exc.code == "already_exists"):
                raise
            with self.db.read() as conn:
                seen = idempotent_replay(conn, tenant_id, idempotency_key, digest)
            if seen is None:
                raise
            return seen  # type: ignore[no-any-return]
        if self.on_submit is not None:
            self.on_submit()
        return job

    def _insert(self, actor: Actor, values: dict[str, Any]) -> TrainingJob:
        with self.db.write() as conn:
            seen = values["idempotency_key"] and idempotent_replay(
                conn, values["tenant_id"], values["idempotency_key"], values["request_hash"]
            )
            if seen:
                return seen  # type: ignore[no-any-return]
            if self.submission.admit is not None:
                held = self.submission.admit(conn, values)
                if held is not None:
                    values = {**values, "pending_reason": held}
            job = transitions.create(conn, values)
            record(
                conn,
                actor,
                "training_job.create",
                "training_job",
                job.id,
                tenant_id=values["tenant_id"],
                details={
                    "name": job.name,
                    "algorithm": f"{job.algorithm_name} {job.algorithm_version}",
                },
            )
            return job

    # --- reads -----------------------------------------------------------------------------

    def _load(self, actor: Actor, job_id: str, perm: Perm = Perm.JOBS_READ) -> TrainingJob:
        with self.db.read() as conn:
            job = q.get_job(conn, Scope.of(actor.p), job_id)
        require(actor.p, perm)
        return job

    def describe(self, actor: Actor, job_id: str) -> JobDetails:
        job = self._load(actor, job_id)
        with self.db.read() as conn:
            steps = q.transitions(conn, Scope.of(actor.p), job_id)
            waiting = None
            if job.secondary_status in _BEFORE_RUN:
                progress = build_logs.progress(conn, job.algorithm_version_id)
                waiting = waiting_view(progress, utcnow())
            return JobDetails(job, steps, waiting)

    def get(self, actor: Actor, job_id: str) -> TrainingJob:
        return self._load(actor, job_id)

    def list(
        self, actor: Actor, flt: JobFilter, *, cursor: str | None, limit: int
    ) -> Page[TrainingJob]:
        require(actor.p, Perm.JOBS_READ)
        with self.db.read() as conn:
            return q.list_jobs(conn, Scope.of(actor.p), flt, cursor=cursor, limit=limit)

    def logs(self, actor: Actor, job_id: str, *, after: int, limit: int) -> builtins.list[LogEntry]:
        self._load(actor, job_id)
        with self.db.read() as conn:
            return q.logs(conn, Scope.of(actor.p), job_id, after=after, limit=limit)

    def metrics(
        self, actor: Actor, job_id: str, *, name: str | None, after: int, limit: int
    ) -> builtins.list[tuple[int, MetricSample]]:
        self._load(actor, job_id)
        with self.db.read() as conn:
            return q.metrics(conn, Scope.of(actor.p), job_id, name=name, after=after, limit=limit)

    def events(self, actor: Actor, job_id: str, *, after: int, limit: int) -> builtins.list[Event]:
        self._load(actor, job_id)
        subject = ("training_job", job_id)
        with self.db.read() as conn:
            return db_events.after(conn, Scope.of(actor.p), after, limit=limit, subject=subject)

    def is_finished(self, actor: Actor, job_id: str) -> bool:
        """For live streams: re-checks visibility each time (a revoked token ends the stream)."""
        return is_terminal(self._load(actor, job_id).secondary_status)

    # --- stop ------------------------------------------------------------------------------

    def stop(self, actor: Actor, job_id: str) -> TrainingJob:
        """Queued jobs stop at once; running ones go to Stopping and their runner stops them."""
        job = self._load(actor, job_id, Perm.JOBS_WRITE)
        if job.secondary_status == Secondary.STOPPING.value:
            return job
        if is_terminal(job.secondary_status):
            raise Conflict(
                f"job {job.name} already ended ({job.secondary_status})", code="job_finished"
            )
        with self.db.write() as conn:
            moved = transitions.request_stop(conn, job_id)
            if moved is None:
                moved = q.get_job(conn, Scope.everything(), job_id)
                if moved.secondary_status == Secondary.UPLOADING.value:
                    # Its program has ended: the outcome is fixed (the stop rule in
                    # queue/policies.StopRule); a late stop must not rewrite it.
                    raise Conflict(
                        f"job {job.name} is finishing: its program already ended",
                        code="job_finishing",
                    )
                if moved.secondary_status != Secondary.STOPPING.value:
                    raise Conflict(f"job {job.name} already ended", code="job_finished")
            record(
                conn, actor, "training_job.stop", "training_job", job_id, tenant_id=job.tenant_id
            )
        return moved

    # --- artifacts -------------------------------------------------------------------------

    def artifact(self, actor: Actor, job_id: str, name: str) -> Artifact:
        """A job's model.tar.gz / output.tar.gz, for its own tenant only; every download audited."""
        job = self._load(actor, job_id, Perm.JOBS_READ)
        if name not in ARTIFACTS:
            raise NotFound(f"artifact {name!r} not found")
        info = job.artifacts.get(name)
        if not info:
            raise NotFound(f"job {job.name} has no {name} (status {job.secondary_status})")
        key = str(info["key"])
        signed = presigned_download(self.store, self.settings.s3, key, f"{job.name}-{name}")
        url, ttl = signed if signed else (None, None)
        with self.db.write() as conn:
            record(
                conn,
                actor,
                "training_job.artifact_download",
                "training_job",
                job_id,
                tenant_id=job.tenant_id,
                details={"artifact": name, "presigned": url is not None, "expires_s": ttl},
            )

        def opener() -> AbstractContextManager[Iterator[bytes]]:
            return self.store.open(key)

        return Artifact(key, int(info.get("size", 0)), url, opener)


def build_job_services(
    settings: JobServiceSettings,
    db: Database,
    store: ObjectStore,
    datasets: Any,
    algorithms: Any,
    envs: Any,
    checkpoints: Any = None,
    admit: Any = None,
) -> tuple[JobService, Any, Any]:
    """Wire the jobs feature to its neighbours: (JobService, SchedulingService, JobRunService).

    Also tells the datasets service which versions queued or running jobs read, so those
    datasets cannot be deleted under a job.
    """
    from forgeml.services.jobs.runner import JobRunService
    from forgeml.services.jobs.scheduling import SchedulingService

    def in_use(conn: Any, version_ids: list[str]) -> bool:
        return q.count_active_with_versions(conn, version_ids) > 0

    datasets.in_use = in_use
    submission = Submission(
        settings.jobs,
        envs,
        lambda actor, version_id, given: algorithms.validate_hyperparameters(
            actor, version_id, given
        ),
        datasets.resolve_input,
        checkpoints.resolve if checkpoints is not None else None,
        admit,
    )
    runs = JobRunService(db, store, settings, envs, check_quota=datasets.check_quota)
    return (
        JobService(db, store, settings, submission, on_submit=runs.wake.set),
        SchedulingService(db),
        runs,
    )
