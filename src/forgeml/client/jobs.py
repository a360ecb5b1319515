"""SDK for training jobs: submit, describe, list, stop, logs (paged and followed), wait, artifacts,
and an estimator-style helper `Estimator(...).fit({"train": dataset_id}, wait=True)`.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from forgeml.client.datasets import Datasets
from forgeml.client.transport import Transport, id_named, tail
from forgeml.domain.ids import looks_like_id

API = "/api/v1/training-jobs"
Json = dict[str, Any]
TERMINAL = {"Completed", "Failed", "Stopped"}


class Jobs:
    def __init__(self, client: Transport) -> None:
        self.c = client

    def submit(self, body: Json, *, idempotency_key: str | None = None) -> Json:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self.c.call("POST", API, json=body, headers=headers)

    def resolve(self, ref: str) -> str:
        """A job id, or the id of the job with exactly this name (names are unique per tenant)."""
        if looks_like_id(ref) and ref.startswith("job_"):
            return ref
        return id_named(self.c.pages(API, {"name_contains": ref}), ref, "training job")

    def get(self, job_id: str) -> Json:
        return self.c.call("GET", f"{API}/{self.resolve(job_id)}")

    def list(self, **filters: Any) -> list[Json]:
        return list(self.c.pages(API, filters))

    def stop(self, job_id: str) -> Json:
        return self.c.call("POST", f"{API}/{self.resolve(job_id)}/stop")

    def logs(self, job_id: str, *, after: int = 0, follow: bool = False) -> Iterator[Json]:
        """Every log line; with `follow`, keep polling until the job ended and all lines came."""
        yield from tail(self.c, f"{API}/{self.resolve(job_id)}/logs", after=after, follow=follow)

    def metrics(self, job_id: str, name: str | None = None) -> builtins.list[Json]:
        params = {"name": name} if name else {}
        data: Json = self.c.json("GET", f"{API}/{self.resolve(job_id)}/metrics", params=params)
        return list(data["items"])

    def wait(self, job_id: str, *, timeout_s: float | None = None, poll_s: float = 1.0) -> Json:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        job_id = self.resolve(job_id)
        while True:
            job = self.get(job_id)
            if job["status"] in TERMINAL:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['secondary_status']}")
            time.sleep(poll_s)

    def download(self, job_id: str, dest: Path, artifact: str = "model.tar.gz") -> Path:
        """Save an artifact (following a presigned redirect) and return the file's path."""
        path = dest / artifact if dest.is_dir() else dest
        job_id = self.resolve(job_id)
        return self.c.download(f"{API}/{job_id}/artifacts/{artifact}", path, follow_redirects=True)


class TrainingJob:
    """A submitted job as the estimator returns it."""

    def __init__(self, client: Transport, data: Json) -> None:
        self.client = client
        self.jobs = Jobs(client)
        self.data = data

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def status(self) -> str:
        return str(self.data["status"])

    def refresh(self) -> TrainingJob:
        self.data = self.jobs.get(self.id)
        return self

    def wait(self, timeout_s: float | None = None) -> TrainingJob:
        self.data = self.jobs.wait(self.id, timeout_s=timeout_s)
        return self

    def logs(self) -> list[str]:
        return [line["text"] for line in self.jobs.logs(self.id)]

    def model_data(self, dest: Path | str = ".") -> Path:
        """Download model.tar.gz into `dest` (a folder or a file name)."""
        return self.jobs.download(self.id, Path(dest))


class Estimator:
    """SageMaker-style: `Estimator(algorithm="digits-classifier:1.0.0", ...).fit({"train": ds})`."""

    def __init__(
        self,
        client: Transport,
        *,
        algorithm: str,
        resource_class: str = "cpu.small",
        instance_count: int = 1,
        hyperparameters: dict[str, Any] | None = None,
        max_runtime_s: int | None = None,
        name_prefix: str = "job",
        **extra: Any,
    ) -> None:
        self.client = client
        self.algorithm = algorithm
        self.resources = {"resource_class": resource_class, "instance_count": instance_count}
        self.hyperparameters = hyperparameters or {}
        self.max_runtime_s = max_runtime_s
        self.name_prefix = name_prefix
        self.extra = extra

    def fit(
        self,
        inputs: dict[str, str | dict[str, Any]] | None = None,
        *,
        wait: bool = True,
        job_name: str | None = None,
        timeout_s: float | None = None,
    ) -> TrainingJob:
        resolve = Datasets(self.client).resolve_input  # names work as in the CLI
        given = inputs or {}  # no channel at all is a valid job
        channels = {
            k: v if isinstance(v, dict) else {"dataset_id": resolve(v)} for k, v in given.items()
        }
        body: Json = {
            "name": job_name or f"{self.name_prefix}-{time.strftime('%Y%m%d-%H%M%S')}",
            "algorithm": self.algorithm,
            "hyperparameters": self.hyperparameters,
            "input_data": channels,
            "resources": self.resources,
            **self.extra,
        }
        if self.max_runtime_s is not None:
            body["stopping_condition"] = {"max_runtime_s": self.max_runtime_s}
        job = TrainingJob(self.client, Jobs(self.client).submit(body))
        return job.wait(timeout_s) if wait else job
