"""The services of one process, built once from Settings in `main` and shared by transports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from forgeml.config import AlgorithmSettings, JobServiceSettings, Settings
from forgeml.db.engine import Database
from forgeml.services.algorithms.envs import AlgorithmEnvironments
from forgeml.services.algorithms.service import AlgorithmService
from forgeml.services.checkpoints.service import CheckpointService
from forgeml.services.datasets.service import DatasetService
from forgeml.services.identity.audit import AuditService
from forgeml.services.identity.auth import AuthService
from forgeml.services.identity.service import TenantService, TokenService, UserService
from forgeml.services.jobs.runner import JobRunService
from forgeml.services.jobs.scheduling import SchedulingService
from forgeml.services.jobs.service import JobService, build_job_services
from forgeml.services.notify.events import EventService
from forgeml.services.notify.service import NotificationService
from forgeml.services.notify.webhooks import WebhookService
from forgeml.services.quotas.service import QuotaService
from forgeml.services.quotas.usage import UsageService
from forgeml.storage.base import ObjectStore


@dataclass
class Services:
    settings: Settings
    db: Database
    store: ObjectStore
    auth: AuthService
    tenants: TenantService
    users: UserService
    tokens: TokenService
    audit: AuditService
    datasets: DatasetService
    algorithm_envs: AlgorithmEnvironments
    algorithms: AlgorithmService
    webhooks: WebhookService
    checkpoints: CheckpointService
    events: EventService
    notifications: NotificationService
    jobs: JobService
    scheduling: SchedulingService
    job_runs: JobRunService
    quotas: QuotaService
    usage: UsageService
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, db: Database, store: ObjectStore) -> Services:
        # Each service gets only its slice of the settings (tests/unit/test_settings_slices.py).
        datasets = DatasetService(db, store, settings.s3)
        algorithm_settings = AlgorithmSettings.of(settings)
        envs = AlgorithmEnvironments(db, store, algorithm_settings)
        algorithms = AlgorithmService(db, store, algorithm_settings, envs)
        checkpoints = CheckpointService(db, store)
        quotas = QuotaService(db, settings.jobs.currency)
        return cls(
            settings=settings,
            db=db,
            store=store,
            auth=AuthService(db, settings.auth),
            tenants=TenantService(db),
            users=UserService(db),
            tokens=TokenService(db, settings.auth),
            audit=AuditService(db),
            datasets=datasets,
            algorithm_envs=envs,
            algorithms=algorithms,
            webhooks=WebhookService(db, settings.webhooks),
            checkpoints=checkpoints,
            events=EventService(db),
            notifications=NotificationService(db),
            quotas=quotas,
            usage=UsageService(db, settings.jobs.currency),
            **_jobs(settings, db, store, datasets, algorithms, envs, checkpoints, quotas),
        )

    def close(self) -> None:
        self.db.dispose()


def _jobs(
    settings: Settings,
    db: Database,
    store: ObjectStore,
    datasets: DatasetService,
    algorithms: AlgorithmService,
    envs: AlgorithmEnvironments,
    checkpoints: CheckpointService,
    quotas: QuotaService,
) -> dict[str, Any]:
    jobs, scheduling, runs = build_job_services(
        JobServiceSettings.of(settings), db, store, datasets, algorithms, envs, checkpoints,
        admit=quotas.admit,
    )  # fmt: skip
    return {"jobs": jobs, "scheduling": scheduling, "job_runs": runs}
