"""Response models mirror domain dataclasses: every field a model shows exists on its dataclass
(a field or a property) or is a declared derived one, with the dataclass's type, and every
dataclass field is shown or declared private. A field added to the domain is then a decision,
not a silent omission. Most models are generated (`api/mirror.py`); this guards the rest."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
from pydantic import BaseModel

from forgeml.api import algorithm_schemas as alg
from forgeml.api import checkpoint_schemas as ckpt
from forgeml.api import dataset_schemas as dset
from forgeml.api import job_schemas as job
from forgeml.api import notify_schemas as notify
from forgeml.api import schemas as ident
from forgeml.api.mirror import domain_types, mirrors
from forgeml.domain import audit, checkpoints, datasets, identity, job_model, registry, webhooks

# (model, dataclass, fields the route derives, dataclass fields the API does not show)
MIRRORS: list[tuple[type[BaseModel], type, set[str], set[str]]] = [
    (job.TransitionOut, job_model.Transition, set(), set()),
    (
        job.JobOut,
        job_model.TrainingJob,
        {"phase"},
        {"algorithm_id", "created_by", "lease_expires_at", "network", "runner_id", "updated_at"},
    ),
    (job.LogLineOut, job_model.LogEntry, set(), set()),
    (job.MetricOut, job_model.MetricSample, {"id"}, set()),
    (job.ResourceClassOut, job_model.ResourceClass, set(), set()),
    (job.RunnerOut, job_model.Runner, set(), set()),
    (ident.TenantOut, identity.Tenant, set(), set()),
    (ident.UserOut, identity.User, set(), set()),
    (ident.TokenOut, identity.ApiToken, set(), set()),
    (dset.VersionOut, datasets.DatasetVersion, set(), {"tenant_id"}),
    (dset.DatasetOut, datasets.Dataset, set(), set()),
    (
        dset.FileOut,
        datasets.DatasetFile,
        {"multipart", "parts"},
        {"object_key", "part_size", "tenant_id", "upload_id", "version_id"},
    ),
    (dset.GrantOut, datasets.Grant, set(), set()),
    (ckpt.LocationOut, checkpoints.CheckpointLocation, set(), set()),
    (ckpt.CheckpointFileOut, checkpoints.CheckpointFile, set(), {"location_id", "object_key"}),
    (
        ckpt.CheckpointConfigOut,
        checkpoints.CheckpointConfig,
        {"location_id", "location_name"},
        {"location"},
    ),
    (notify.WebhookOut, webhooks.Webhook, set(), set()),
    (notify.DeliveryOut, webhooks.Delivery, set(), set()),
    (notify.NotificationPrefsOut, webhooks.NotificationPrefs, set(), {"user_id"}),
    (alg.VersionAdminOut, registry.AlgorithmVersion, set(), {"manifest"}),
    (alg.AlgorithmAdminOut, registry.Algorithm, {"versions"}, set()),
    (
        alg.VersionCardOut,
        registry.AlgorithmVersion,
        set(),
        {"bundle_key", "created_by", "digest", "env_built_at", "failure_reason", "manifest"}
        | {"size_bytes", "status"},
    ),
    (alg.AlgorithmCardOut, registry.Algorithm, {"versions"}, {"created_at"}),
    (ident.AuditOut, audit.AuditEvent, set(), set()),
]
# Fields a model shows with another type than its dataclass's, on purpose: (model, field).
RETYPED = {("JobOut", "checkpoint_config")}  # the stored dict, rendered as CheckpointConfigOut
_IDS = [model.__name__ for model, *_ in MIRRORS]


def _attributes(cls: type) -> tuple[set[str], set[str]]:
    fields = {f.name for f in dataclasses.fields(cls)}
    props = {name for name, value in inspect.getmembers(cls) if isinstance(value, property)}
    return fields, props


@pytest.mark.parametrize(("model", "source", "derived", "private"), MIRRORS, ids=_IDS)
def test_model_fields_come_from_the_dataclass(
    model: type[BaseModel], source: type, derived: set[str], private: set[str]
) -> None:
    fields, props = _attributes(source)
    shown = set(model.model_fields)
    assert shown - fields - props == derived, f"{model.__name__}: fields not on {source.__name__}"
    assert not derived & (fields | props), f"{model.__name__}: a 'derived' field is on the source"


@pytest.mark.parametrize(("model", "source", "derived", "private"), MIRRORS, ids=_IDS)
def test_every_dataclass_field_is_shown_or_declared_private(
    model: type[BaseModel], source: type, derived: set[str], private: set[str]
) -> None:
    fields, _ = _attributes(source)
    assert fields - set(model.model_fields) == private, f"{source.__name__} vs {model.__name__}"


@pytest.mark.parametrize(("model", "source", "derived", "private"), MIRRORS, ids=_IDS)
def test_model_field_types_are_the_dataclass_types(
    model: type[BaseModel], source: type, derived: set[str], private: set[str]
) -> None:
    # domain_types: the dataclass's hints as the API shows them (a tuple[X, ...] as list[X])
    expected = domain_types(source)
    shown = {name: f.annotation for name, f in model.model_fields.items() if name in expected}
    retyped = {name for name in shown if (model.__name__, name) in RETYPED}
    assert {n: t for n, t in shown.items() if n not in retyped} == {
        n: expected[n] for n in shown if n not in retyped
    }, f"{model.__name__} vs {source.__name__}"
    assert retyped == {f for m, f in RETYPED if m == model.__name__}, "a RETYPED entry is stale"


def test_mirrors_refuses_a_field_the_dataclass_lacks() -> None:
    with pytest.raises(TypeError, match="no fields"):
        mirrors(job_model.Runner, exclude=("nme",))
