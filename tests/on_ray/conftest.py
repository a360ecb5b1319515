"""Tests that need a Ray cluster. Ray binds every interface, so these run only inside a private
network namespace with loopback alone (`tests/integration/test_on_ray.py` starts them there)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

if os.environ.get("FORGEML_RAY_NETNS") != "1":  # collected only through the namespace runner
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def cluster() -> Iterator[Any]:
    """A head and one more node, each with 2 CPUs; tests may add and remove nodes."""
    import ray
    from ray.cluster_utils import Cluster

    c = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 2,
            "resources": {"head": 1},
            # a killed node is declared dead in seconds, not the default half minute
            "_system_config": {"health_check_period_ms": 500, "health_check_failure_threshold": 3},
        },
    )
    c.add_node(num_cpus=2, resources={"second": 1})
    c.wait_for_nodes(timeout=180)
    ray.init(address=c.address, namespace="forgeml-tests", log_to_driver=False)
    yield c
    ray.shutdown()
    c.shutdown()
