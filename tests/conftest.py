"""Shared fixtures: real databases (SQLite and PostgreSQL), services, the API app, a test world."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from forgeml.config import Settings
from forgeml.db.engine import Database
from forgeml.main import build_app
from forgeml.services.container import Services
from forgeml.storage.memory import MemoryObjectStore
from tests.support.db import DatabaseFactory
from tests.support.world import World, build_world

pytest_plugins = [
    "tests.support.fixtures_s3",
    "tests.support.fixtures_net",
    "tests.faults.report",
]

DB_KINDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="session")
def db_factories(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DatabaseFactory]]:
    root = tmp_path_factory.mktemp("dbs")
    factories = {k: DatabaseFactory(k, root) for k in ("sqlite", "postgres")}
    yield factories
    for f in factories.values():
        f.close()


@pytest.fixture(params=DB_KINDS)
def database(
    request: pytest.FixtureRequest, db_factories: dict[str, DatabaseFactory]
) -> Iterator[Database]:
    """A migrated, empty metadata database; every test using it runs on SQLite and PostgreSQL."""
    with db_factories[request.param].new() as db:
        yield db


@pytest.fixture
def settings(tmp_path: Path, database: Database) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=database.url,
        storage_url="memory://test",
        log_format="console",
    )


@pytest.fixture
def services(settings: Settings, database: Database) -> Iterator[Services]:
    svc = Services.build(settings, database, MemoryObjectStore("test"))
    yield svc
    svc.store = MemoryObjectStore("closed")  # the database fixture disposes the engine


@pytest.fixture
def app(services: Services) -> FastAPI:
    return build_app(services)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def world(client: TestClient, services: Services) -> World:
    return build_world(client, services)
