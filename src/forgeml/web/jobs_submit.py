"""What the Train form needs from other areas: channel pickers, resource classes, job submission."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from forgeml.domain.errors import ForgeError, InvalidInput
from forgeml.domain.jobs import MAX_INSTANCES, NAME_RE
from forgeml.domain.registry import AlgorithmVersion, AlgorithmWithVersions
from forgeml.web.core import Ctx, service


def channel_options(
    ctx: Ctx, algorithm: str | None = None
) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """Option groups for channel pickers: (group label, ..., [(value, label)]).

    Values are `<dataset id>` (latest version) or `<dataset id>@<n>`. Platform datasets whose
    grants do not allow `algorithm` are left out: submitting them would only be refused.
    """
    datasets = service(ctx.svc, "datasets")
    if datasets is None:
        return []
    from forgeml.domain.datasets import DatasetKind

    own: list[tuple[str, str]] = []
    for ds in datasets.list(ctx.actor, kind=DatasetKind.TENANT, cursor=None, limit=200).items:
        versions = datasets.versions(ctx.actor, ds.id, cursor=None, limit=20).items
        if versions:
            own.append((ds.id, f"{ds.name} (latest, v{versions[0].number})"))
            own += [(f"{ds.id}@{v.number}", f"{ds.name} v{v.number}") for v in versions[1:]]
    granted: list[tuple[str, str]] = []
    now = datetime.now(UTC)
    for view in datasets.grants.list_platform(ctx.actor, cursor=None, limit=200).items:
        usable = algorithm is None or any(g.allows(algorithm, now) for g in view.grants)
        if view.versions and usable:
            granted.append((view.dataset.id, f"{view.dataset.name} (platform)"))
    groups = [("Your datasets", "own", own), ("Platform datasets granted to you", "grant", granted)]
    return [(label, kind, opts) for label, kind, opts in groups]


def resource_class_options(ctx: Ctx, card: dict[str, Any]) -> list[tuple[str, str]]:
    allowed = set(card.get("resource_classes") or [])
    scheduling = service(ctx.svc, "scheduling")
    if scheduling is None:
        return [(n, n) for n in sorted(allowed or {"cpu.small"})]
    servable = scheduling.servable_classes(ctx.actor)
    runnable, refused = [], []
    for rc in scheduling.list_classes(ctx.actor):
        if allowed and rc.name not in allowed:
            continue
        gpus = f", {rc.gpus} GPU" if rc.gpus else ""
        label = f"{rc.name} — {rc.cpus} CPU{gpus}, {rc.memory_bytes >> 30} GiB"
        if rc.name in servable:
            runnable.append((rc.name, label))
        else:
            refused.append((rc.name, f"{label} (no runner here can run it)"))
    return runnable + refused  # the form preselects the first: one that can run


def _int_field(ctx: Ctx, name: str, lo: int, hi: int, errors: dict[str, str]) -> int | None:
    raw = ctx.field(name)
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        errors[name] = f"a whole number from {lo} to {hi}"
        return None
    return int(raw)


def checkpoint_locations(ctx: Ctx) -> list[Any]:
    """The tenant's checkpoint locations for the picker (none on a server without them)."""
    found = service(ctx.svc, "checkpoints")
    if found is None or ctx.is_admin:
        return []
    return list(found.list(ctx.actor, cursor=None, limit=200).items)


def basic_errors(ctx: Ctx) -> dict[str, str]:
    """Checks of the job-level fields, also enforced by the jobs service (errors next to fields)."""
    errors: dict[str, str] = {}
    if not NAME_RE.match(ctx.field("name")):
        errors["name"] = "1-63 letters, digits and inner hyphens; unique in your organisation"
    _int_field(ctx, "instance_count", 1, MAX_INSTANCES, errors)
    _int_field(ctx, "max_runtime_min", 1, 7 * 24 * 60, errors)
    if not ctx.field("resource_class"):
        errors["resource_class"] = "choose a resource class"
    return errors


def submit(
    ctx: Ctx,
    item: AlgorithmWithVersions,
    version: AlgorithmVersion,
    hyperparameters: dict[str, str],
    channels: dict[str, tuple[str, int | None]],
) -> str:
    """Create the job through the jobs service; returns its id."""
    jobs = service(ctx.svc, "jobs")
    if jobs is None:
        raise InvalidInput.fields([{"loc": "name", "msg": "training jobs are coming soon"}])
    from forgeml.domain.checkpoints import CheckpointConfig
    from forgeml.domain.jobs import ChannelRef, JobSpec

    location = ctx.field("checkpoint_location")
    checkpoint = CheckpointConfig(location, ctx.field("checkpoint_path")) if location else None
    spec = JobSpec(
        name=ctx.field("name"),
        checkpoint=checkpoint,
        algorithm=version.id,
        hyperparameters=hyperparameters,
        channels={k: ChannelRef(dataset_id=d, version=v) for k, (d, v) in channels.items()},
        resource_class=ctx.field("resource_class"),
        instance_count=int(ctx.field("instance_count") or 1),
        max_runtime_s=int(ctx.field("max_runtime_min") or 60) * 60,
    )
    try:
        job = jobs.create(ctx.actor, spec, idempotency_key=None)
    except InvalidInput:
        raise
    except ForgeError as exc:  # e.g. a name already used: show it next to the name
        raise InvalidInput.fields([{"loc": "name", "msg": exc.message}]) from exc
    return str(job.id)
