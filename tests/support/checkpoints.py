"""Helpers for checkpoint-location tests: tenant B's location holding one file (cross-tenant)."""

from __future__ import annotations

from typing import Any

from forgeml.db import checkpoints as cq
from forgeml.db.types import utcnow
from forgeml.domain.object_keys import location_file_key
from tests.support.world import World

LOCATIONS = "/api/v1/checkpoint-locations"
B_FILE = "step-1/state.json"


def create_location(world: World, headers: dict[str, str], name: str) -> dict[str, Any]:
    resp = world.client.post(LOCATIONS, json={"name": name}, headers=headers)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def put_file(world: World, loc: dict[str, Any], path: str, data: bytes) -> None:
    """A file as a job's sync would have left it (object + row)."""
    key = location_file_key(
        loc["tenant_id"], loc["id"], f"ckf_{len(path):02d}{abs(hash(path)) % 10**20:020d}"
    )
    info = world.services.store.put(key, data)
    row = {"id": key.rsplit("/", 1)[1], "location_id": loc["id"], "tenant_id": loc["tenant_id"]}
    row |= {"path": path, "size": info.size, "object_key": key, "updated_at": utcnow()}
    with world.services.db.write() as conn:
        cq.put_file(conn, row)


def b_location(world: World) -> str:
    cached: str | None = getattr(world, "_b_location", None)
    if cached is None:
        loc = create_location(world, world.b.h(), "b-checkpoints")
        put_file(world, loc, B_FILE, b'{"step": 1}')
        cached = str(loc["id"])
        world._b_location = cached  # type: ignore[attr-defined]
    return cached
