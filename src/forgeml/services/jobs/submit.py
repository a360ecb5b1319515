"""Job submission: check a create request against the algorithm card, the tenant's data, grants,
resource classes and limits, reporting every problem at once; nothing is queued on failure.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.engine import Connection

from forgeml.config import JobSettings
from forgeml.db import job_queries as q
from forgeml.domain.checkpoints import CheckpointLocation
from forgeml.domain.datasets import ResolvedInput
from forgeml.domain.errors import Conflict, Forbidden, ForgeError, InvalidInput, NotFound
from forgeml.domain.ids import looks_like_id
from forgeml.domain.jobs import JobSpec, Problems, spec_problems
from forgeml.domain.tenant_inputs import channel_name_problem, environment_values
from forgeml.queue import pending
from forgeml.services.algorithms.envs import AlgorithmEnvironments, ResolvedAlgorithm
from forgeml.services.identity.audit import Actor

#: `(conn, tenant, dataset, version, algorithm) -> ResolvedInput` (DatasetService.resolve_input)
InputResolver = Callable[[Connection, str, str, int | None, str | None], ResolvedInput]
#: `(conn, tenant, id or name) -> CheckpointLocation` (CheckpointService.resolve)
LocationResolver = Callable[[Connection, str, str], CheckpointLocation]
#: `(actor, version_id, given) -> dict[str, str]` (AlgorithmService.validate_hyperparameters)
HyperparameterCheck = Callable[[Actor, str, dict[str, Any]], dict[str, str]]


@dataclass(frozen=True)
class Checked:
    """A create request that passed every check, ready to insert."""

    algorithm: ResolvedAlgorithm
    hyperparameters: dict[str, str]
    environment: dict[str, str]  # the declared variables given, plus declared defaults
    inputs: dict[str, dict[str, Any]]  # channel -> lineage (dataset, version, digest, files)
    checkpoint_config: dict[str, Any] | None = None  # location_id, location_name, local_path


def request_hash(spec: JobSpec) -> str:
    doc = asdict(spec)
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def parse_algorithm_ref(ref: str) -> tuple[str | None, str | None, str | None]:
    """`alg_…` version id, or `name:version` / `name@version` → (version_id, name, version)."""
    if looks_like_id(ref):
        return ref, None, None
    for sep in (":", "@"):
        if sep in ref:
            name, version = ref.split(sep, 1)
            return None, name, version
    return None, ref, None


@dataclass(eq=False)
class Submission:
    """Runs every check of a create request; `check` raises one InvalidInput listing all."""

    settings: JobSettings
    envs: AlgorithmEnvironments
    check_hps: HyperparameterCheck
    resolve_input: InputResolver | None
    resolve_location: LocationResolver | None = None
    # The tenant-quota gate, in the inserting transaction (QuotaService.admit): raises
    # QuotaExceeded, or returns the capacity quota that will keep the job Pending.
    admit: Callable[[Connection, dict[str, Any]], str | None] | None = None

    def check(self, conn: Connection, actor: Actor, tenant_id: str, spec: JobSpec) -> Checked:
        limit = self.settings.max_runtime_limit_s
        problems = spec_problems(spec, max_runtime_limit_s=limit)
        algo = self._algorithm(actor, spec.algorithm, problems)
        hps: dict[str, str] = {}
        env: dict[str, str] = {}
        if algo is not None:
            hps = self._hyperparameters(actor, algo, spec, problems)
            env, env_problems = environment_values(algo.manifest.environment, spec.environment)
            problems += env_problems
            problems += card_problems(algo, spec, allow_network=self.settings.allow_network)
        problems += self._resources(conn, spec)
        inputs = self._inputs(conn, tenant_id, spec, algo, problems)
        checkpoint = self._checkpoint(conn, tenant_id, spec, problems)
        if problems:
            raise InvalidInput.fields(problems)
        assert algo is not None
        return Checked(algo, hps, env, inputs, checkpoint)

    def _checkpoint(
        self, conn: Connection, tenant_id: str, spec: JobSpec, problems: Problems
    ) -> dict[str, Any] | None:
        cfg = spec.checkpoint
        if cfg is None:
            return None
        loc = "checkpoint_config.location"
        if self.resolve_location is None:
            problems.append({"loc": loc, "msg": "checkpoint locations are not available here"})
            return None
        try:
            found = self.resolve_location(conn, tenant_id, cfg.location)
        except NotFound as exc:
            problems.append({"loc": loc, "msg": exc.message})
            return None
        return {"location_id": found.id, "location_name": found.name, "local_path": cfg.local_path}

    def _algorithm(self, actor: Actor, ref: str, problems: Problems) -> ResolvedAlgorithm | None:
        version_id, name, version = parse_algorithm_ref(ref)
        try:
            return self.envs.resolve_for_job(actor, version_id, name=name, version=version)
        except (NotFound, Conflict, InvalidInput) as exc:
            problems.append({"loc": "algorithm", "msg": exc.message})
            return None

    def _hyperparameters(
        self, actor: Actor, algo: ResolvedAlgorithm, spec: JobSpec, problems: Problems
    ) -> dict[str, str]:
        try:
            return self.check_hps(actor, algo.version_id, dict(spec.hyperparameters))
        except InvalidInput as exc:
            problems += exc.details.get("errors") or [
                {"loc": "hyperparameters", "msg": exc.message}
            ]
        except NotFound as exc:
            problems.append({"loc": "algorithm", "msg": exc.message})
        return {}

    def _resources(self, conn: Connection, spec: JobSpec) -> Problems:
        rc = q.get_resource_class(conn, spec.resource_class)
        if rc is None or not rc.enabled:
            known = ", ".join(c.name for c in q.list_resource_classes(conn, enabled_only=True))
            msg = f"unknown resource class {spec.resource_class!r} (available: {known})"
            return [{"loc": "resources.resource_class", "msg": msg}]
        if spec.volume_gb > rc.max_volume_gb:
            msg = f"at most {rc.max_volume_gb} GB for class {rc.name}"
            return [{"loc": "resources.volume_gb", "msg": msg}]
        never = pending.unservable(conn, rc, spec.instance_count)  # else it would queue forever
        return [{"loc": "resources.resource_class", "msg": never}] if never else []

    def _inputs(
        self,
        conn: Connection,
        tenant_id: str,
        spec: JobSpec,
        algo: ResolvedAlgorithm | None,
        problems: Problems,
    ) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for channel, ref in spec.channels.items():
            if channel_name_problem(channel):
                continue  # reported by spec_problems; never echoed into lineage
            loc = f"input_data.{channel}"
            if self.resolve_input is None:
                problems.append({"loc": loc, "msg": "datasets are not available on this server"})
                continue
            try:
                resolved = self._resolve(conn, tenant_id, ref.dataset_id, ref.version, algo)
            except (NotFound, Forbidden, Conflict) as exc:
                problems.append({"loc": loc, "msg": exc.message})
                continue
            out[channel] = lineage(resolved)
        return out

    def _resolve(
        self,
        conn: Connection,
        tenant_id: str,
        dataset_id: str,
        version: int | None,
        algo: ResolvedAlgorithm | None,
    ) -> ResolvedInput:
        assert self.resolve_input is not None
        name = algo.manifest.name if algo else None
        try:
            return self.resolve_input(conn, tenant_id, dataset_id, version, name)
        except Forbidden:
            if algo is None:
                raise
            # A grant may name the algorithm by id rather than by name.
            return self.resolve_input(conn, tenant_id, dataset_id, version, algo.algorithm_id)


def card_problems(algo: ResolvedAlgorithm, spec: JobSpec, *, allow_network: bool) -> Problems:
    """The algorithm card's rules: channels, classes, distribution, network."""
    m = algo.manifest
    p: Problems = []
    for name, ch in m.channels.items():
        if ch.required and name not in spec.channels:
            p.append({"loc": f"input_data.{name}", "msg": "this channel is required"})
    for name in spec.channels:
        if m.channels and name not in m.channels and not channel_name_problem(name):
            known = ", ".join(sorted(m.channels))
            p.append({"loc": f"input_data.{name}", "msg": f"unknown channel (known: {known})"})
    if m.resource_classes and spec.resource_class not in m.resource_classes:
        allowed = ", ".join(m.resource_classes)
        msg = f"this algorithm runs on {allowed}, not {spec.resource_class}"
        p.append({"loc": "resources.resource_class", "msg": msg})
    if spec.instance_count > 1 and not m.distributed:
        msg = "this algorithm is not distributed: instance_count must be 1"
        p.append({"loc": "resources.instance_count", "msg": msg})
    if m.network and not allow_network:
        msg = "this algorithm needs network access, which this platform does not allow"
        p.append({"loc": "algorithm", "msg": msg})
    return p


def lineage(r: ResolvedInput) -> dict[str, Any]:
    """What a job records about one input: enough to stage it and to trace the model's data."""
    return {
        "dataset_id": r.dataset_id,
        "version_id": r.version_id,
        "version": r.version,
        "kind": str(r.kind.value if hasattr(r.kind, "value") else r.kind),
        "digest": r.digest,
        "size_bytes": sum(e.size for e in r.entries),
        "files": [
            {
                "path": e.path,
                "size": e.size,
                "sha256": e.sha256,
                "key": e.object_key,
                "content_type": e.content_type,
            }
            for e in r.entries
        ],
    }


def shown_lineage(info: dict[str, Any]) -> dict[str, Any]:
    """One input as job readers see it. A platform dataset is the owner's asset: its id, version
    number and total size only (its digest and files stay server-side). A tenant's own input
    keeps its digest and file list, never object keys."""
    size = info.get("size_bytes", sum(int(f.get("size", 0)) for f in info.get("files", [])))
    if info.get("kind") != "tenant":
        return {k: info.get(k) for k in ("dataset_id", "kind", "version")} | {"size_bytes": size}
    files = [{k: f[k] for k in ("path", "size", "sha256")} for f in info.get("files", [])]
    keep = ("dataset_id", "version_id", "version", "kind", "digest")
    return {k: info.get(k) for k in keep} | {"size_bytes": size, "files": files}


def idempotent_replay(conn: Connection, tenant_id: str, key: str, digest: str) -> Any:
    """The job an earlier create with this key made, or None; a different body is a conflict."""
    try:
        job, seen = q.find_by_idempotency_key(conn, tenant_id, key)
    except NotFound:
        return None
    if seen != digest:
        raise Conflict(
            "this Idempotency-Key was used for a different request", code="idempotency_key_reused"
        )
    return job


__all__ = ["Checked", "ForgeError", "Submission", "idempotent_replay", "request_hash"]
