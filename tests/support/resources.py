"""Registry for the route-table cross-tenant test: how to get tenant B's id of each resource type.

Every API route with a path parameter declares its resource type (`api.deps.resources`); each
type needs a factory here returning an id that belongs to tenant B. Features register theirs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support.world import World

Factory = Callable[[World], str]

FACTORIES: dict[str, Factory] = {
    "tenant": lambda w: w.b.id,
    "user": lambda w: str(w.b.users["member"]["id"]),
    "token": lambda w: w.b.token_ids["member"],
}

# Minimal valid bodies per route name, so body validation (422) cannot mask a missing 404.
SAMPLE_BODIES: dict[str, Any] = {
    "tenant.update": {"display_name": "x"},
    "user.update": {"name": "x"},
}


def register(kind: str, factory: Factory, **bodies: Any) -> None:
    FACTORIES[kind] = factory
    SAMPLE_BODIES.update(bodies)
