"""Registry for the route-table cross-tenant test: how to get tenant B's id of each resource type.

Every API route with a path parameter declares its resource type (`api.deps.resources`); each
type needs a factory here returning an id that belongs to tenant B. Features register theirs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support.algorithms import hidden_version
from tests.support.checkpoints import B_FILE, b_location
from tests.support.datasets import tenant_b_setup
from tests.support.jobs import tenant_b_job
from tests.support.notify import b_webhook
from tests.support.world import World

Factory = Callable[[World], str]

FACTORIES: dict[str, Factory] = {
    "tenant": lambda w: w.b.id,
    "user": lambda w: str(w.b.users["member"]["id"]),
    "token": lambda w: w.b.token_ids["member"],
    # platform-owned: no tenant has one, so the unreachable id is an unpublished version
    "algorithm": lambda w: hidden_version(w)[0],
    "algorithm_version": lambda w: hidden_version(w)[1],
    "webhook": lambda w: b_webhook(w)[0],
    "webhook_delivery": lambda w: b_webhook(w)[1],
    "training_job": tenant_b_job,
}

# Minimal valid bodies per route name, so body validation (422) cannot mask a missing 404.
SAMPLE_BODIES: dict[str, Any] = {
    "tenant.update": {"display_name": "x"},
    "tenant.quota_update": {"max_concurrent_jobs": 1},
    "user.update": {"name": "x"},
    "webhook.update": {"description": "x"},
    "algorithm_version.validate_hyperparameters": {"hyperparameters": {"seed": 1}},
}


# Data lake: B's dataset (v1 holds data/a.csv), B's open upload, a platform dataset granted to B.
FACTORIES.update(
    {
        "dataset": lambda w: tenant_b_setup(w)["dataset"],
        "dataset_version": lambda w: "1",  # a number, meaningful with B's dataset id beside it
        "dataset_file": lambda w: "data/a.csv",
        "dataset_upload": lambda w: tenant_b_setup(w)["upload"],
        "platform_dataset": lambda w: tenant_b_setup(w)["platform"],
        "grant": lambda w: tenant_b_setup(w)["grant"],
    }
)
SAMPLE_BODIES.update(
    {
        "dataset.update": {"description": "x"},
        "dataset.presign": {"path": "data/a.csv"},
        "dataset_upload.presign_parts": {"path": "x.bin", "size": 1},
        "dataset_upload.complete_parts": {"path": "later.bin"},
    }
)


def register(kind: str, factory: Factory, **bodies: Any) -> None:
    FACTORIES[kind] = factory
    SAMPLE_BODIES.update(bodies)


# Checkpoint locations: B's location holding one file.
FACTORIES.update(
    {
        "checkpoint_location": b_location,
        "checkpoint_file": lambda w: B_FILE,
    }
)
