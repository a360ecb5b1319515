"""Each job limit is defined once in `domain/`: the OpenAPI schema of the job-create body
advertises the very numbers and patterns the domain checks enforce."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from forgeml.api.app import API_PREFIX, api_router
from forgeml.domain import jobs
from forgeml.domain.hyperparameters import MAX_HYPERPARAMETERS
from forgeml.domain.jobs import JobSpec, spec_problems
from forgeml.domain.tenant_inputs import MAX_ENV, MAX_ENV_VALUE


@pytest.fixture(scope="module")
def components() -> dict[str, Any]:
    app = FastAPI()
    app.include_router(api_router())
    spec = app.openapi()
    body = spec["paths"][f"{API_PREFIX}/training-jobs"]["post"]["requestBody"]["content"][
        "application/json"
    ]
    assert body["schema"] == {"$ref": "#/components/schemas/JobCreate"}
    schemas: dict[str, Any] = spec["components"]["schemas"]
    return schemas


def test_job_create_advertises_the_domain_limits(components: dict[str, Any]) -> None:
    props = components["JobCreate"]["properties"]
    assert props["name"]["maxLength"] == jobs.NAME_MAX
    assert props["name"]["pattern"] == jobs.NAME_PATTERN
    assert props["hyperparameters"]["maxProperties"] == MAX_HYPERPARAMETERS
    assert props["environment"]["maxProperties"] == MAX_ENV
    assert props["environment"]["additionalProperties"]["maxLength"] == MAX_ENV_VALUE
    assert props["tags"]["maxProperties"] == jobs.MAX_TAGS
    assert props["tags"]["additionalProperties"]["maxLength"] == jobs.MAX_TAG_VALUE


def test_resources_and_retry_advertise_the_domain_limits(components: dict[str, Any]) -> None:
    count = components["ResourcesIn"]["properties"]["instance_count"]
    assert (count["minimum"], count["maximum"]) == (1, jobs.MAX_INSTANCES)
    attempts = components["RetryIn"]["properties"]["max_attempts"]
    assert (attempts["minimum"], attempts["maximum"]) == (1, jobs.MAX_ATTEMPTS)


def test_the_domain_enforces_exactly_the_advertised_bounds() -> None:
    def locs(**kw: Any) -> set[str]:
        spec = JobSpec(**{"name": "ok", "algorithm": "a:1", **kw})
        return {p["loc"] for p in spec_problems(spec, max_runtime_limit_s=86400)}

    assert locs(name="a" * jobs.NAME_MAX) == set()
    assert "name" in locs(name="a" * (jobs.NAME_MAX + 1))
    assert locs(instance_count=jobs.MAX_INSTANCES, max_attempts=jobs.MAX_ATTEMPTS) == set()
    assert "resources.instance_count" in locs(instance_count=jobs.MAX_INSTANCES + 1)
    assert "retry.max_attempts" in locs(max_attempts=jobs.MAX_ATTEMPTS + 1)
    assert locs(tags={f"k{i}": "v" * jobs.MAX_TAG_VALUE for i in range(jobs.MAX_TAGS)}) == set()
    assert "tags" in locs(tags={f"k{i}": "v" for i in range(jobs.MAX_TAGS + 1)})
    assert "tags.k" in locs(tags={"k": "v" * (jobs.MAX_TAG_VALUE + 1)})
